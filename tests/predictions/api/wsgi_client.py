"""Requests sent to the production WSGI application itself (`volsite.wsgi.application`), in
process, with the raw status line, headers and body it answers.

Django's test client builds its own handler from settings.MIDDLEWARE, so it would not see
anything wsgi.py puts in front of Django. This calls what the web server calls, on the test's
database connection (the request signals that would close it are held off, as the test
client does).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    content: bytes = b""

    def json(self) -> Any:
        return orjson.loads(self.content)


def wsgi_call(method: str, path: str, body: bytes = b"", *, headers: dict[str, str] | None = None,
              content_length: str | None = None, secure: bool = False,
              application: Any = None) -> Answer:
    """One request; `headers` by their HTTP names (Content-Type among them). Content-Length is
    the body's unless `content_length` says otherwise ("" leaves it out). `secure`: over
    HTTPS. `application`: another WSGI application than the web server's (the full chain)."""
    if application is None:
        from volsite.wsgi import application

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "https" if secure else "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    length = str(len(body)) if content_length is None else content_length
    if length:
        environ["CONTENT_LENGTH"] = length
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = {k.lower(): v for k, v in response_headers}

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return Answer(started["status"], started["headers"], content)
