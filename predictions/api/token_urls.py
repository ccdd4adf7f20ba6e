"""The URLconf of the token API handler (volsite/token_api.py): only the paths it serves, under
the names the full URLconf gives them (metrics and SLI counts are labelled by name)."""

from __future__ import annotations

from django.urls import path

from predictions.api import token_predict

urlpatterns = [
    path("api/v1/predict", token_predict.predict, name="predict"),
]
