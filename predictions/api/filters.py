"""The history endpoint's filters (django-filter): validated, answered 400 with the field when
malformed (an impossible date, a NUL byte, an unknown variant), and listed in the schema."""

from __future__ import annotations

import django_filters

from predictions.models import VARIANT_CHOICES, Prediction


class PredictionFilter(django_filters.FilterSet):
    product = django_filters.CharFilter(field_name="product_id", max_length=32,
                                        help_text="product id, e.g. BTC-USD")
    variant = django_filters.ChoiceFilter(choices=VARIANT_CHOICES, help_text="served variant")
    since = django_filters.IsoDateTimeFilter(field_name="event_ts", lookup_expr="gte",
                                             help_text="event time ≥ (ISO-8601; naive is UTC)")
    until = django_filters.IsoDateTimeFilter(field_name="event_ts", lookup_expr="lt",
                                             help_text="event time < (ISO-8601; naive is UTC)")

    class Meta:
        model = Prediction
        fields = ["product", "variant", "since", "until"]
