from __future__ import annotations

from django.urls import path

from predictions.api import views

urlpatterns = [
    path("predict", views.PredictView.as_view(), name="predict"),
    path("health", views.HealthView.as_view(), name="health"),
    path("ready", views.ReadyView.as_view(), name="ready"),
    path("version", views.VersionView.as_view(), name="version"),
    path("predictions", views.PredictionListView.as_view(), name="predictions"),
    path("served-at", views.ServedAtView.as_view(), name="served-at"),
    path("products/<str:product_id>/latest", views.LatestPredictionView.as_view(),
         name="latest"),
]
