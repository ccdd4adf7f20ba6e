"""The API's JSON parser: orjson on the hot path, as strict as the JSON standard.

NaN and Infinity literals are not JSON and are refused (400 parse_error). A number too large
for a double (`1e400`) is valid JSON that orjson refuses; such a body is re-read with the
standard library so the answer can name the row and field ("not a finite number") instead of
a bare parse error. That second read happens only for bodies orjson has already refused.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class OrjsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        data = stream.read() if stream is not None else b""
        charset = (parser_context or {}).get("encoding") or "utf-8"
        if media_type and "charset=" in media_type:
            charset = media_type.split("charset=", 1)[1].split(";")[0].strip().strip('"')
        try:
            if codecs.lookup(charset).name != "utf-8":
                data = data.decode(charset)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - body is not valid {charset}: {exc}") from None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return _stdlib_reread(data, exc)


def _stdlib_reread(data: bytes | str, orjson_error: Exception) -> Any:
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ParseError(f"JSON parse error - {orjson_error}") from None
