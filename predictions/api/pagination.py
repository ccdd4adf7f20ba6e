"""Keyset ("cursor") pagination of the prediction history on (event_ts, id), newest first.

Page numbers made every page run COUNT(*) and an OFFSET scan over a table that grows by
millions of rows a day. A cursor names the last row of the page instead, and the next page is
`(event_ts, id) < (cursor's)`, an index range scan however deep the history. The cursor is
opaque to clients; a cursor that does not decode is a 400, never a 404 or a 500.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from predictions.client_datetimes import client_datetime_parse


def encode_cursor(event_ts: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{event_ts.isoformat()}|{pk}".encode()).decode()


def decode_cursor(raw: str) -> tuple[datetime, int]:
    """(event_ts, id) of a cursor, or a 400 naming the parameter."""
    try:
        text = base64.urlsafe_b64decode(raw.encode("ascii")).decode()
        when, pk = text.split("|")
        moment = client_datetime_parse(when, field="cursor")  # a crafted cursor is a client's
        if not 0 < int(pk) < 2**63:
            raise ValueError
        return moment, int(pk)
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError({"cursor": ["not a cursor from a previous page's 'next'"]}) from None


class KeysetPagination(BasePagination):
    """`next` (a URL, null on the last page) and `results`; page size from PAGE_SIZE."""

    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: QuerySet, request: Request,
                          view: Any = None) -> list[Any]:
        self.request = request
        size = settings.REST_FRAMEWORK["PAGE_SIZE"]
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            when, pk = decode_cursor(raw)
            queryset = queryset.filter(Q(event_ts__lt=when) | Q(event_ts=when, id__lt=pk))
        rows = list(queryset.order_by("-event_ts", "-id")[: size + 1])
        self.next_cursor = (encode_cursor(rows[size - 1].event_ts, rows[size - 1].id)
                            if len(rows) > size else None)
        return rows[:size]

    def get_paginated_response(self, data: Any) -> Response:
        url = None
        if self.next_cursor is not None:
            url = replace_query_param(self.request.build_absolute_uri(),
                                      self.cursor_query_param, self.next_cursor)
        return Response({"next": url, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": ["next", "results"], "properties": {
            "next": {"type": "string", "format": "uri", "nullable": True,
                     "description": "the next (older) page; null on the last one"},
            "results": schema}}

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [{"name": self.cursor_query_param, "in": "query", "required": False,
                 "description": "opaque cursor from the previous page's `next`",
                 "schema": {"type": "string"}}]
