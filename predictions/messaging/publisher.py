"""The publisher: tick messages → Kafka `ticks.raw`, keyed by product id.

`publish` sends what a source (predictions/messaging/sources.py) yields, paced to the
requested speed, and re-creates the producer if the broker restarts (an idempotent producer
does not survive that; see docs/architecture.md). The live Coinbase source is not paced (the
exchange paces it) and lives in predictions/messaging/coinbase.py.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError

from monitoring import metrics
from predictions.messaging.kafka import make_producer

log = logging.getLogger(__name__)

# Producer options for a max-speed backfill: bigger, later batches mean fewer sender wake-ups
# (kafka-python's per-message cost dominates a replay otherwise).
BULK_PRODUCER_OPTIONS: dict[str, Any] = {"linger_ms": 50, "batch_size": 256 * 1024}


# A patient publisher (keep_trying) bounds each attempt to reach an unreachable broker, which
# kafka-python would otherwise wait on for 30 s (bootstrap) or 60 s (a send's metadata).
PATIENT_PRODUCER_OPTIONS: dict[str, Any] = {"bootstrap_timeout_ms": 5000, "max_block_ms": 5000}


class PublishError(RuntimeError):
    """Messages could not be delivered even after re-creating the producer."""


class Publisher:
    """A producer that delivers every message it accepts, across broker restarts.

    kafka-python's `send` only queues a message; the broker's answer arrives later on its
    future. After a broker restart an idempotent producer fails for good and aborts what it had
    queued, so a publisher that only called `send` would lose those messages without a word.
    This one keeps every message until its future succeeds: when one fails it re-creates the
    producer and sends the failed ones again, in their original order (per key, a failed batch
    fails every later batch of its partition too, so the order on the topic is kept).
    Delivery is at least once: a message whose answer was lost may appear twice.
    """

    MAX_ATTEMPTS = 5
    BACKOFF_CAP_S = 5.0  # longest wait between two attempts to reach an unreachable broker
    # A patient publisher asked to stop gives up once the broker has confirmed nothing for this
    # long. It cannot wait for kafka-python to fail the messages: a batch is failed only after
    # delivery_timeout_ms (120 s by default), and never while an idempotent producer is still
    # waiting for its producer id (kafka-python 3 skips batch expiry until it has one, so a
    # broker lost right after the producer was created leaves every send pending for good).
    STALL_S = 5.0

    def __init__(self, topic: str, *, keep_trying: Callable[[], bool] | None = None,
                 **producer_options: Any) -> None:
        """`keep_trying`: wait out an unreachable broker for as long as it returns True (a
        long-running feed passes "not asked to stop"); without it, give up (PublishError)
        after MAX_ATTEMPTS failed sends or one failed reconnection."""
        self.topic = topic
        self.keep_trying = keep_trying
        if keep_trying is not None:  # each attempt returns within seconds, so a stop is seen
            producer_options = {**PATIENT_PRODUCER_OPTIONS, **producer_options}
        self.producer_options = producer_options
        self.producer = make_producer(**producer_options)
        # (key, value, headers, future) of every message not yet confirmed, in send order
        self.pending: deque[tuple[bytes | None, bytes, list | None, Any]] = deque()
        # when the head of `pending` became the head (the one before it was confirmed, or it
        # was sent into an empty `pending`): how long the broker has confirmed nothing
        self.confirmed_at = time.monotonic()

    def send(self, key: str | bytes | None, value: bytes,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue one message. Raises PublishError only if the producer cannot be rebuilt, or
        if a patient publisher asked to stop sees the broker confirm nothing for STALL_S."""
        if isinstance(key, str):
            key = key.encode()
        self._submit(key, value, headers)
        self._settle()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every message sent so far is confirmed by the broker; re-send failures.

        A patient publisher looks at keep_trying every second meanwhile (see _settle)."""
        for attempt in range(self.MAX_ATTEMPTS):
            deadline = time.monotonic() + timeout
            while True:
                self._settle()  # a stopping patient publisher gives up here
                wait = deadline - time.monotonic()
                if self.keep_trying is not None:
                    wait = min(wait, 1.0)
                try:
                    self.producer.flush(timeout=max(wait, 0.0))
                    break
                except KafkaError as exc:  # a timeout: what failed is re-sent, the rest waited for
                    if time.monotonic() >= deadline:
                        log.warning("flush to %s failed (%s; attempt %d)", self.topic, exc,
                                    attempt + 1)
                        break
            self._settle()
            if not self.pending:
                return
        raise PublishError(f"{len(self.pending)} messages to {self.topic} are still not "
                           f"confirmed after {self.MAX_ATTEMPTS} attempts")

    def close(self) -> None:
        flushed = False
        try:
            self.flush()
            flushed = True
        finally:  # after a failed flush, waiting longer for confirmations is no use
            self._close_producer(timeout=5 if flushed else 0)

    def _submit(self, key: bytes | None, value: bytes, headers: list | None) -> None:
        for attempt in itertools.count():
            try:
                future = self.producer.send(self.topic, key=key, value=value, headers=headers)
                if not self.pending:
                    self.confirmed_at = time.monotonic()
                self.pending.append((key, value, headers, future))
                return
            except KafkaError as exc:
                self._before_retry(attempt, self.MAX_ATTEMPTS, f"could not publish to "
                                                               f"{self.topic}", exc)
                self._recreate()

    def _settle(self) -> None:
        """Drop confirmed messages from the head of `pending`; on a failure, re-send. A patient
        publisher asked to stop raises PublishError once the broker has confirmed nothing for
        STALL_S."""
        pending = self.pending
        while pending and pending[0][3].is_done:
            if pending[0][3].failed():
                self._resend_failed()
                return
            pending.popleft()
            self.confirmed_at = time.monotonic()
        if (pending and self.keep_trying is not None
                and time.monotonic() - self.confirmed_at > self.STALL_S
                and not self.keep_trying()):
            raise PublishError(f"{len(pending)} messages to {self.topic} unconfirmed for "
                               f"{self.STALL_S:g} s: stopped while the broker was unreachable")

    def _resend_failed(self) -> None:
        error = next(f.exception for _, _, _, f in self.pending if f.is_done and f.failed())
        log.warning("the producer lost messages (%s); re-creating it and sending them again",
                    error)
        self._recreate()  # closing the old producer settles the futures it could not deliver
        old, self.pending = self.pending, deque()
        again = [(k, v, h) for k, v, h, f in old if not f.is_done or f.failed()]
        metrics.PUBLISH_RETRIED.labels(topic=self.topic).inc(len(again))
        for key, value, headers in again:
            self._submit(key, value, headers)

    def _recreate(self) -> None:
        self._close_producer(timeout=1)
        for attempt in itertools.count():
            try:
                self.producer = make_producer(**self.producer_options)
                return
            except KafkaError as exc:  # the broker is unreachable (a restart, an outage)
                if self.keep_trying is None:
                    raise  # as it is: the consumer's error metrics count it by its kind
                self._before_retry(attempt, 1, f"could not reconnect to the broker for "
                                               f"{self.topic}", exc)

    def _close_producer(self, timeout: float) -> None:
        """Close the producer; what it could not deliver within `timeout` fails (the caller
        re-sends or reports it).

        kafka-python 3.0's close() flushes first and raises KafkaTimeoutError if messages are
        still unconfirmed, before reaching its own force close: the producer would stay open,
        its I/O thread retrying for good, and its __del__ would block 1 s and raise in whatever
        thread collects it. So that force close is done here, as close() itself would."""
        producer = self.producer
        try:
            producer.close(timeout=timeout)
            return
        except KafkaTimeoutError:
            pass
        except Exception:  # a broken producer may fail to close; it is dropped anyway
            return
        sender = getattr(producer, "_sender", None)  # not public API: absent, nothing to do
        if sender is not None:
            sender.force_close()  # fails the unconfirmed messages and ends the I/O thread
            sender.join(1.0)
        try:
            producer.close(timeout=0)  # nothing left to flush: marks it closed
        except Exception:
            pass

    def _before_retry(self, attempt: int, limit: int, what: str, exc: Exception) -> None:
        """After failed attempt number `attempt` (from 0): wait before the next one, or raise
        PublishError when this publisher gives up (`limit` attempts without keep_trying)."""
        if self.keep_trying is None and attempt + 1 >= limit:
            raise PublishError(f"{what} after {limit} attempt(s): {exc}") from exc
        if self.keep_trying is not None and not self.keep_trying():
            raise PublishError(f"{what}: stopped while the broker was unreachable") from exc
        wait = min(0.2 * 2**attempt, self.BACKOFF_CAP_S)
        log.warning("%s (%s; attempt %d); trying again in %.1f s", what, exc, attempt + 1, wait)
        time.sleep(wait)


def publish(messages: Iterator[tuple[float, str, bytes]], publisher: Publisher, *,
            origin: float, speed: float | None, max_messages: int | None,
            duration_s: float | None, on_sent: Callable[[int], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False, origin_is_now: bool = False) -> int:
    """Send messages in order; `speed` None means as fast as possible. Returns the count.

    Pacing is measured from `origin`. For generated streams (`origin_is_now` False) origin is
    placed on the wall clock: at speed 1 a message stamped T is never sent before wall-clock
    T. A replay of captured history (`origin_is_now` True) maps origin to the moment
    publishing starts, so the first tick goes out at once and the rest keep their spacing.
    """
    sent = 0
    behind = 0.0 if origin_is_now else max(time.time() - origin, 0.0)
    wall0 = time.monotonic() - behind
    for event_ts, key, value in messages:
        if should_stop() or (max_messages is not None and sent >= max_messages):
            break
        elapsed_event = event_ts - origin
        if duration_s is not None and elapsed_event > duration_s:
            break
        if speed is not None:
            delay = wall0 + elapsed_event / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        publisher.send(key, value)
        sent += 1
        if on_sent is not None:
            on_sent(sent)
    publisher.flush()
    return sent
