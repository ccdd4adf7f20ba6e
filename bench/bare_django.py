"""The bare-Django ceiling for bench/api.py (never served): one view that parses the JSON body
and answers JSON, with no middleware, no authentication and no database, run under the same
server command as ours (volsite.web). What Django itself costs per request on this machine;
our predict path is measured against it."""

from __future__ import annotations

import json

from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY="bench-only-bare-django", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    MIDDLEWARE=[], INSTALLED_APPS=[], DATABASES={}, USE_TZ=True,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def predict(request: HttpRequest) -> JsonResponse:
    rows = json.loads(request.body)["rows"]
    return JsonResponse({"rows": len(rows)})


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("api/v1/predict", predict), path("api/v1/health", health)]
application = get_wsgi_application()
