"""Serializers for responses and for the OpenAPI schema. Predict rows are validated in
`predictions.api.validation` (fast, strict); the request serializer here documents that contract."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from predictions.models import VARIANT_CHOICES, Prediction


# Named "Predict": with COMPONENT_SPLIT_REQUEST drf-spectacular appends "Request" to a request
# component, and the class name alone gave "PredictRequestRequest".
@extend_schema_serializer(component_name="Predict")
class PredictRequestSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(child=serializers.FloatField()),
        min_length=1,
        help_text="Feature rows: each an object with exactly the model's features "
                  "(GET /api/v1/version lists them), finite numbers.",
    )
    variant = serializers.ChoiceField(
        choices=VARIANT_CHOICES, required=False,
        help_text="Staff only: score with this variant instead of the configured one.",
    )


class PredictResponseSerializer(serializers.Serializer):
    scores = serializers.ListField(child=serializers.FloatField())
    labels = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=1))
    threshold = serializers.FloatField()
    model_variant = serializers.ChoiceField(choices=VARIANT_CHOICES)
    model_version = serializers.CharField()
    ts = serializers.DateTimeField()
    fallback_reason = serializers.CharField(
        required=False, help_text="Present when the ML variant was asked for but refused."
    )


class ErrorItemSerializer(serializers.Serializer):
    row = serializers.IntegerField(required=False, allow_null=True)
    field = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    detail = serializers.CharField()
    errors = ErrorItemSerializer(many=True, required=False)


class PredictionSerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(source="model_version.name")
    age_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = ["product_id", "event_ts", "created_at", "age_seconds", "variant", "score",
                  "label", "threshold", "shadow_variant", "shadow_score", "model_version",
                  "features"]

    def get_age_seconds(self, obj: Prediction) -> float:
        return (timezone.now() - obj.event_ts).total_seconds()


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField()
    detail = serializers.CharField()


class ReadySerializer(serializers.Serializer):
    ready = serializers.BooleanField()
    checks = serializers.DictField(
        child=CheckSerializer(), required=False,
        help_text="Only for staff sessions or `Authorization: Bearer <METRICS_TOKEN>`.")


class VersionSerializer(serializers.Serializer):
    model_variant = serializers.ChoiceField(choices=VARIANT_CHOICES)
    model_version = serializers.CharField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    feature_names = serializers.ListField(child=serializers.CharField())
    threshold = serializers.FloatField(allow_null=True)
    trained_start = serializers.DateTimeField(allow_null=True)
    trained_end = serializers.DateTimeField(allow_null=True)
    config_version = serializers.IntegerField()


class ServedAtSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    model_variant = serializers.ChoiceField(
        choices=VARIANT_CHOICES, source="variant", allow_null=True,
        help_text="null when no model version existed at that time (nothing could serve).")
    model_version = serializers.CharField(allow_null=True, source="model_version.name",
                                          default=None,
                                          help_text="null before the first model version.")
    config_version = serializers.IntegerField()
    since = serializers.DateTimeField(allow_null=True,
                                      help_text="When this became live; null before the first "
                                                "recorded change.")
    actor = serializers.CharField(source="actor_name")
    source = serializers.CharField()
    reason = serializers.CharField()
