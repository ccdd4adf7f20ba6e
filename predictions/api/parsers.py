"""The API's JSON parser: orjson on the hot path, as strict as the JSON standard.

NaN and Infinity literals are not JSON and are refused (400 parse_error). A number too large
for a double (`1e400`) is valid JSON that orjson refuses; only such a body is re-read with the
standard library so the answer can name the row and field ("not a finite number") instead of
a bare parse error. Any other invalid body is parsed once.

A body is read at most API_MAX_BODY_BYTES (+1) bytes: a declared or actual size above it is a
413 before anything is parsed. An unknown, non-text or failing charset is a 400, never a 500.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import orjson
from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "request body too large"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_limited(stream: Any, declared: str | None) -> bytes:
    """The body, or BodyTooLarge when its declared or actual length passes the limit."""
    limit = settings.API_MAX_BODY_BYTES
    too_large = BodyTooLarge(f"request body over API_MAX_BODY_BYTES ({limit} bytes)")
    try:
        if declared and int(declared) > limit:
            raise too_large
    except ValueError:
        raise ParseError("Content-Length is not a number") from None
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise too_large
    return data


def _charset(media_type: str | None, parser_context: dict[str, Any]) -> str:
    charset = parser_context.get("encoding") or "utf-8"
    if media_type and "charset=" in media_type:
        charset = media_type.split("charset=", 1)[1].split(";")[0].strip().strip('"')
    return charset


class OrjsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        context = parser_context or {}
        request = context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        data: bytes | str = read_limited(stream, declared)
        charset = _charset(media_type, context)
        try:
            if codecs.lookup(charset).name != "utf-8":
                data = data.decode(charset)
        except Exception as exc:  # unknown, non-text (base64) or failing (punycode) codecs
            raise ParseError(f"JSON parse error - body is not valid {charset[:40]}: "
                             f"{type(exc).__name__}") from None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if "infinity" not in str(exc):
                raise ParseError(f"JSON parse error - {exc}") from None
            return _stdlib_reread(data, exc)


def _stdlib_reread(data: bytes | str, orjson_error: Exception) -> Any:
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ParseError(f"JSON parse error - {orjson_error}") from None
