"""Operator screens, one module per area; importing them registers them with the admin."""

from __future__ import annotations

from predictions.admin import config, model_versions, predictions  # noqa: F401
