"""Each process names itself to PostgreSQL (`application_name`), so during an incident
`pg_stat_activity` shows who holds what: volsite-web, volsite-worker, volsite-stream (and
volsite-stream-slot-N while it runs a slot's consumer), volsite-beat, volsite-ingest,
volsite-consume-slot-N, volsite-<command> for the other management commands.

The name is read from the command line at startup (settings.py puts it in the database
OPTIONS); DATABASE_APPLICATION_NAME overrides it. A stream run renames its connections to its
slot (`predictions.stream.database_name`). Pure: no Django here, settings.py imports it.
"""

from __future__ import annotations

import os

MAX_LENGTH = 63  # PostgreSQL keeps NAMEDATALEN - 1 bytes


def process_name(argv: list[str]) -> str:
    """The name of the process started with `argv` (sys.argv)."""
    if not argv:
        return "volsite"
    program = os.path.basename(argv[0])
    args = argv[1:]
    if program == "celery" or program == "__main__.py" and "celery" in argv[0] or (
            "-A" in args and "volsite" in args):
        return _celery_name(args)
    if program == "manage.py" or program == "django-admin":
        command = args[0] if args else "help"  # as Django reads it: argv[1]
        return _short(f"volsite-{command}")
    if argv[0].endswith(os.path.join("volsite", "web.py")) or program == "granian":
        return "volsite-web"
    if "pytest" in program or program == "__main__.py" and "pytest" in argv[0]:
        return "volsite-tests"
    return "volsite"


def _celery_name(args: list[str]) -> str:
    if "beat" in args:
        return "volsite-beat"
    if "worker" not in args:
        return "volsite-celery"
    return "volsite-stream" if "stream" in _queues(args) else "volsite-worker"


def _queues(args: list[str]) -> set[str]:
    """The queues of a `celery worker` command line (-Q a,b / -Qa / --queues=a / --queues a)."""
    found: set[str] = set()
    for i, arg in enumerate(args):
        value = None
        if arg in ("-Q", "--queues") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--queues="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-Q") and len(arg) > 2:
            value = arg[2:]
        if value:
            found.update(q.strip() for q in value.split(","))
    return found


def _short(name: str) -> str:
    return name[:MAX_LENGTH]


def slot_name(base: str, slot: int) -> str:
    """The name of a stream run of `slot` in a process named `base`."""
    return _short(f"{base}-slot-{slot}")
