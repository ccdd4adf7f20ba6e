"""ASGI entry point; the production server is granian on WSGI (`python -m volsite.web`)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volsite.settings")
application = get_asgi_application()
