"""Datetimes a client sends (query parameters, cursors, bodies), parsed one way everywhere.

A client's datetime is ISO-8601, naive meaning UTC. It is answered with a reason naming the
field — never a 500 — when it is malformed, impossible (month 13), or outside what every layer
can hold once converted to UTC: `datetime` covers years 1–9999, and 9999-12-31T23:00-05:00 is
past that edge in UTC (SQLite, the serializers and any arithmetic convert to UTC and overflowed
there). Values are returned in UTC, so nothing later converts them again.

An unencoded "+" in a query string arrives as a space ("…T10:00:00 02:00"), and clients often
send it so. A space right after a whole time and before two or four digits can only be that
"+" (ISO-8601's date/time separator sits between the date and the time), so it is read back as
"+". A value that still cannot be read gets a 400 whose hint names the encoded form, %2B.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

# A time followed by a space and an offset: what "+HH:MM" becomes when "+" is not encoded.
_SPACE_OFFSET = re.compile(r"([T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?) (\d{2}(:?\d{2})?)$")


class ClientDatetimeInvalid(ValueError):
    """A client's datetime that cannot be used; `reason` is what the client is told."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def client_datetime_parse(raw: str, *, field: str) -> datetime:
    """`raw` as an aware UTC datetime, or ClientDatetimeInvalid naming `field`."""
    if not isinstance(raw, str):
        raise ClientDatetimeInvalid(field, "expected an ISO-8601 date-time string")
    text = raw.strip()
    text = _SPACE_OFFSET.sub(r"\1+\4", text)
    try:
        when = parse_datetime(text) if len(text) <= 64 else None
    except ValueError:  # well-formed but impossible: month 13, hour 25, offset ≥ 24 h
        when = None
    if when is None:
        raise ClientDatetimeInvalid(field, "not an ISO-8601 date-time, e.g. "
                                    "2026-12-07T12:00:00Z (in a query string, send a '+' "
                                    "offset as %2B)")
    try:
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:
        raise ClientDatetimeInvalid(
            field, "out of range: must lie between years 1 and 9999 in UTC") from None
