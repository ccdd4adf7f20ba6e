"""WSGI entry point of the web server (the production command is in README.md, "Processes").

Django's application, with plain token-authenticated predict requests answered by a lean
handler (volsite/token_api.py)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volsite.settings")
_django = get_wsgi_application()  # sets Django up; the token API handler needs the settings

from volsite.token_api import TokenApiRouter  # noqa: E402

application = TokenApiRouter(_django)
