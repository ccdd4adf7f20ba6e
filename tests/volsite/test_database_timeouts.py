"""PostgreSQL connections carry connect, statement and lock timeouts and TCP keepalives, so no
call waits forever on a hung server, a lock queue or a runaway query."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.helpers import need, postgres_in_use

pytestmark = pytest.mark.django_db


def show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_every_connection_has_statement_and_lock_timeouts_and_keepalives(settings):
    need("PostgreSQL", postgres_in_use(), "the timeouts are PostgreSQL settings")
    assert show("statement_timeout") == "1min"  # 60000 ms, the default
    assert show("lock_timeout") == "10s"
    options = connection.settings_dict["OPTIONS"]
    assert options["connect_timeout"] == settings.DATABASE_CONNECT_TIMEOUT
    assert options["keepalives"] == 1 and options["keepalives_idle"] > 0

