"""`make run`'s process control (predictions/management/stack.py): the broker binary stays out
of the home folder, a process the stream watchdog ended starts again, and a stop reaches the
Kafka broker only after every client exited."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from predictions.management.stack import BROKER, RESTART_CODE, RESTARTS_PER_HOUR, Stack, tansu_binary


def test_the_broker_binary_is_run_from_the_wheel_or_the_runtime_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CALF_TANSU_BIN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    binary = Path(tansu_binary(tmp_path / "var"))
    assert binary.is_file()
    assert "site-packages" in binary.parts or binary.parent == tmp_path / "var" / "bin"
    assert not (tmp_path / "home").exists()


def test_an_explicit_broker_binary_wins(tmp_path, monkeypatch):
    own = tmp_path / "tansu"
    own.write_text("#!/bin/sh\n")
    own.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(own))
    assert tansu_binary(tmp_path / "var") == str(own)


def test_a_stop_ends_the_broker_only_after_every_other_process(tmp_path, capsys):
    """Each process notes when it got SIGTERM; the worker takes a second to finish."""
    def argv(name: str, linger: float) -> list[str]:
        code = (f"import signal, sys, time\n"
                f"def bye(*_):\n"
                f"    time.sleep({linger}); open({str(tmp_path / name)!r}, 'w').write("
                f"repr(time.time())); sys.exit(0)\n"
                f"signal.signal(signal.SIGTERM, bye)\n"
                f"time.sleep(60)\n")
        return [sys.executable, "-c", code]

    stack = Stack(tmp_path, env={})
    stack.start(BROKER, argv(BROKER, 0))
    stack.start("stream-worker", argv("stream-worker", 1.0))
    stack.start("ingest", argv("ingest", 0))
    time.sleep(1.0)  # the children install their handlers
    stack.stop()
    ended = {name: float((tmp_path / name).read_text())
             for name in (BROKER, "stream-worker", "ingest")}
    assert ended[BROKER] > ended["stream-worker"] > ended["ingest"] - 1
    out = capsys.readouterr().out
    assert out.index("stopped stream-worker") < out.index(f"stopped {BROKER}")


def _watch_in_thread(stack: Stack) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(stack.watch()), daemon=True)
    thread.start()
    return thread, result


def test_a_process_the_watchdog_ended_is_started_again(tmp_path, capsys):
    """The first run exits with the watchdog's code; the second one stays up."""
    marker = tmp_path / "ran-once"
    code = (f"import os, sys, time\n"
            f"if not os.path.exists({str(marker)!r}):\n"
            f"    open({str(marker)!r}, 'w').close(); sys.exit({RESTART_CODE})\n"
            f"time.sleep(60)\n")
    stack = Stack(tmp_path, env={})
    first = stack.start("stream-worker", [sys.executable, "-c", code])
    first_pid = first.popen.pid
    thread, result = _watch_in_thread(stack)
    deadline = time.monotonic() + 30
    while first.popen.pid == first_pid and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.popen.pid != first_pid, "the stuck process was not started again"
    assert first.popen.poll() is None and not result
    stack.stopping = True
    thread.join(5)
    stack.stop()
    assert result == [0]
    assert "stream-worker was stuck (exit 70" in capsys.readouterr().out


def test_a_process_that_keeps_getting_stuck_stops_the_stack(tmp_path, capsys):
    stack = Stack(tmp_path, env={})
    stack.start("stream-worker", [sys.executable, "-c", f"raise SystemExit({RESTART_CODE})"])
    thread, result = _watch_in_thread(stack)
    thread.join(60)
    assert result == [1]
    out = capsys.readouterr().out
    assert out.count("was stuck") == RESTARTS_PER_HOUR
    assert f"stream-worker exited with {RESTART_CODE}" in out


def test_any_other_exit_stops_the_stack(tmp_path, capsys):
    stack = Stack(tmp_path, env={})
    stack.start("web", [sys.executable, "-c", "raise SystemExit(3)"])
    thread, result = _watch_in_thread(stack)
    thread.join(30)
    assert result == [1]
    assert "web exited with 3" in capsys.readouterr().out
