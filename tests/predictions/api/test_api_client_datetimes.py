"""Every datetime a client sends — the history filters, the history cursor, served-at's `at` —
is answered 200 or a 400 naming the field, never a 500: at the edges of the representable range
with offsets that push it past the edge in UTC, and with an unencoded "+" (issue #19). The same
requests give the same answers on SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from predictions.client_datetimes import ClientDatetimeInvalid, client_datetime_parse
from tests.helpers import ROOT, child_env, need, postgres_in_use

pytestmark = pytest.mark.django_db

# (value, accepted?) — an offset that crosses year 1 or 9999 in UTC is out of range.
EDGES = [
    ("9999-12-31T23:59:59.999999Z", True),
    ("9999-12-31T23:59:59.999999+00:00", True),
    ("9999-12-31T10:00:00+05:00", True),
    ("9999-12-31T23:00:00-05:00", False),
    ("9999-12-31T23:59:59-00:01", False),
    ("0001-01-01T00:00:00Z", True),
    ("0001-01-01T00:00:00-05:00", True),
    ("0001-01-01T00:00:00+05:00", False),
    ("0001-01-01T03:00:00+23:59", False),
    ("0001-01-01T00:00:00", True),
    ("9999-12-31T23:59:59", True),
    ("2024-01-01 10:00", True),
    ("2024-01-01T10:00:00 02:00", True),  # "+02:00" sent without %2B
    ("2024-01-01 10:00 0530", True),
    ("2024-01-01 10 0530", False),
    ("2024-01-01T10:00:00+24:00", False),
    ("2024-13-01T00:00:00", False),
    ("10000-01-01T00:00:00Z", False),
]
# Fixed offsets a client may send: up to ±23:59.
OFFSETS = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
CLIENT_DATETIMES = st.datetimes(min_value=datetime.min, max_value=datetime.max,
                                timezones=st.none() | OFFSETS)
EXTREMES = st.one_of(
    CLIENT_DATETIMES,
    st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime.max, timezones=OFFSETS),
    st.datetimes(min_value=datetime.min, max_value=datetime(1, 1, 2), timezones=OFFSETS))


def cursor(when: str) -> str:
    return base64.urlsafe_b64encode(f"{when}|7".encode()).decode()


def requests_for(value: str) -> list[tuple[str, dict[str, str], str]]:
    """(path, query, field) of each place a client sends a datetime."""
    return [("/api/v1/predictions", {"since": value}, "since"),
            ("/api/v1/predictions", {"until": value}, "until"),
            ("/api/v1/predictions", {"cursor": cursor(value)}, "cursor"),
            ("/api/v1/served-at", {"at": value}, "at")]


def in_utc(value: datetime) -> datetime | None:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        return None


def answer(client, path: str, query: dict[str, str]) -> tuple[int, list]:
    response = client.get(path + "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()))
    body = response.json()
    return response.status_code, [e["field"] for e in body.get("errors", [])]


@pytest.mark.parametrize(("value", "accepted"), EDGES)
def test_an_edge_datetime_is_a_200_or_a_400_naming_the_field(api_client, model_version, value,
                                                             accepted):
    for path, query, field in requests_for(value):
        status, fields = answer(api_client, path, query)
        assert (status, fields) == ((200, []) if accepted else (400, [field])), (path, query)


def test_a_space_for_an_unencoded_plus_is_read_as_the_plus_it_was(api_client):
    response = api_client.get("/api/v1/served-at?at=2024-01-01T10:00:00+02:00")  # + unencoded
    assert response.status_code == 200
    assert response.json()["at"] == "2024-01-01T08:00:00Z"
    unreadable = api_client.get("/api/v1/served-at?at=2024-01-01T10:00:00 bogus")
    assert unreadable.status_code == 400
    assert "%2B" in unreadable.json()["errors"][0]["reason"]
    encoded = api_client.get("/api/v1/served-at?at=2024-01-01T10:00:00%2B02:00")
    assert encoded.status_code == 200
    assert encoded.json()["at"] == "2024-01-01T08:00:00Z"


def test_a_datetime_with_an_offset_is_read_in_utc():
    assert client_datetime_parse("9999-12-31T10:00:00+05:00", field="at") == datetime(
        9999, 12, 31, 5, tzinfo=UTC)
    with pytest.raises(ClientDatetimeInvalid, match="until: out of range"):
        client_datetime_parse("9999-12-31T23:00:00-05:00", field="until")


def test_any_datetime_with_any_offset_is_answered_by_whether_it_fits_in_utc(api_client,
                                                                            model_version):
    @hypothesis_settings(max_examples=150, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
    @given(EXTREMES, st.sampled_from(range(4)))
    def check(value: datetime, which: int) -> None:
        path, query, field = requests_for(value.isoformat())[which]
        status, fields = answer(api_client, path, query)
        fits = in_utc(value) is not None
        assert (status, fields) == ((200, []) if fits else (400, [field])), (value, path)

    check()


# The edge requests on another database: prints {value: [[status, fields], ...]}.
SCRIPT = """
import json
from urllib.parse import quote
from django.test import Client
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
user = User.objects.create_user("dates", "d@example.com", "pw-dates-12345")
client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION="Token " + Token.objects.create(user=user).key)
out = {}
for value, query_list in json.loads(%r).items():
    out[value] = []
    for path, query in query_list:
        response = client.get(path + "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()))
        out[value].append([response.status_code,
                           [e["field"] for e in response.json().get("errors", [])]])
print(json.dumps(out))
"""


def test_sqlite_answers_the_edge_datetimes_as_postgresql_does(api_client, model_version,
                                                              settings, tmp_path):
    plan = {v: [[p, q] for p, q, _ in requests_for(v)] for v, _ in EDGES}
    env = child_env(settings, DATABASE_URL=f"sqlite:///{tmp_path / 'volsite.sqlite3'}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True, timeout=300)
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", SCRIPT % json.dumps(plan)],
                          cwd=ROOT, env=env, check=True, timeout=300, capture_output=True,
                          text=True)
    on_sqlite = json.loads(done.stdout.strip().splitlines()[-1])
    for value, accepted in EDGES:
        expected = [[200, []] if accepted else [400, [f]] for _, _, f in requests_for(value)]
        assert on_sqlite[value] == expected, value
    need("PostgreSQL", postgres_in_use(), "the suite runs on SQLite; make test sets it")
    for value, _ in EDGES:  # the suite's own database is PostgreSQL here
        assert [list(answer(api_client, p, q)) for p, q, _ in requests_for(value)] == \
            on_sqlite[value], value
