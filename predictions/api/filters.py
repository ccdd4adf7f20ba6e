"""The history endpoint's filters (django-filter): validated, answered 400 with the field when
malformed (an impossible date, a date past the representable range once in UTC, a NUL byte, an
unknown variant), and listed in the schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters
from django import forms

from predictions.client_datetimes import ClientDatetimeInvalid, client_datetime_parse
from predictions.models import VARIANT_CHOICES, Prediction


class ClientDateTimeField(forms.CharField):
    """A form field reading a client's datetime the one way (predictions.client_datetimes)."""

    def to_python(self, value: Any) -> datetime | None:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return client_datetime_parse(text, field=self.label or "datetime")
        except ClientDatetimeInvalid as exc:
            # django-filter %-formats messages: "%2B" in a reason must be escaped
            raise forms.ValidationError(exc.reason.replace("%", "%%"), code="invalid") from None


class ClientDateTimeFilter(django_filters.Filter):
    field_class = ClientDateTimeField


class PredictionFilter(django_filters.FilterSet):
    product = django_filters.CharFilter(field_name="product_id", max_length=32,
                                        help_text="product id, e.g. BTC-USD")
    variant = django_filters.ChoiceFilter(choices=VARIANT_CHOICES, help_text="served variant")
    since = ClientDateTimeFilter(field_name="event_ts", lookup_expr="gte",
                                 help_text="event time ≥ (ISO-8601; naive is UTC; encode + as %2B)")
    until = ClientDateTimeFilter(field_name="event_ts", lookup_expr="lt",
                                 help_text="event time < (ISO-8601; naive is UTC; encode + as %2B)")

    class Meta:
        model = Prediction
        fields = ["product", "variant", "since", "until"]
