"""The DRF API: views, schema examples, serializers, validation, parsing, auth, throttling, urls."""
