from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from monitoring.overview_views import overview_json
from monitoring.views import metrics_view, slo_page

admin.site.site_header = "Volsite operations"
admin.site.site_title = "Volsite"
admin.site.index_title = "Model, stream and drift operations"
# The side menu repeats the index and takes ~300 px of a 1400 px window from every list.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/overview.json", overview_json, name="overview-json"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("predictions.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("slo/", slo_page, name="slo"),
    path("metrics", metrics_view, name="prometheus-metrics"),
]
