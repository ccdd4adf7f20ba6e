"""Rename this process's PostgreSQL connections (`application_name`) while it serves a stream
slot, so pg_stat_activity tells the slots apart (names: predictions.core.process_names)."""

from __future__ import annotations

from django.db import DatabaseError, connection


def database_application_name_set(name: str) -> None:
    """Name this process's PostgreSQL connections `name` from now on: new connections (every
    thread's: they share the settings) and the current thread's open one. Nothing on SQLite;
    a failure to rename an open connection is left to its next reconnect."""
    if connection.vendor != "postgresql":
        return
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if options.get("application_name") == name:
        return
    options["application_name"] = name
    if connection.connection is not None and not connection.in_atomic_block:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('application_name', %s, false)", [name])
        except DatabaseError:
            connection.close_if_unusable_or_obsolete()
