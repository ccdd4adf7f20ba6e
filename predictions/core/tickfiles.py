"""Captured market-data files → canonical ticks, with every bad line accounted for.

Training and the replay source read files here. The format is recognised from the content,
never the file name, because captures get renamed, re-compressed and concatenated:
gzip by its magic bytes (for any format), Parquet by `PAR1`, NDJSON by a first line that is a
JSON object (then Advanced Trade envelopes, Exchange tickers or flattened rows by their
fields), CSV by a header naming the canonical columns.

A malformed line never stops a run: it becomes a `LineError` (file, line, reason). Only what
makes the whole file unusable — missing, empty, truncated or corrupt gzip, unknown format,
no valid tick at all — raises `MarketFileError`, with a one-line message naming the file.

Pure Python + pyarrow, no Django.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from predictions.core.features import order_ticks
from predictions.core.ticks import NON_TICK_CHANNELS, BadTick, Tick, parse_message, parse_row, time_zone

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
TIME_COLUMNS = ("ts", "timestamp", "time")
# How much of a file's (decompressed) start is looked at to recognise its format.
_HEAD_BYTES = 256 * 1024
_HEAD_LINES = 200
# Progress bars are advanced every this many lines (tqdm per line would cost ~10 %).
_PROGRESS_EVERY = 2000

Progress = Callable[[int], None]


class MarketFileError(Exception):
    """A file that cannot be read at all; str() is one line naming the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the cause said
        super().__init__(f"{self.path}: {self.reason}")


@dataclass
class LineError:
    """One malformed line (NDJSON/CSV: 1-based line; Parquet: row index + 1)."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class ReadReport:
    ticks: list[Tick]  # time-ordered, duplicates dropped
    errors: list[LineError] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    duplicates: int = 0

    def summary(self) -> str:
        return (f"{len(self.ticks)} ticks from {len(self.files)} file(s), "
                f"{self.duplicates} duplicates dropped, {len(self.errors)} malformed lines")


# --- opening and recognising a file -----------------------------------------------------------

@dataclass
class _Source:
    path: str
    format: str
    gzipped: bool
    size: int


def _open_raw(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise MarketFileError(path, "no such file") from None
    except IsADirectoryError:
        raise MarketFileError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise MarketFileError(path, f"cannot open: {exc.strerror or exc}") from None


@contextmanager
def _opened(source: _Source) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """(decompressed stream, raw file) — the raw file's position drives byte progress."""
    raw = _open_raw(source.path)
    try:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if source.gzipped else raw
        with _gzip_errors(source):
            yield stream, raw
    finally:
        raw.close()


@contextmanager
def _gzip_errors(source: _Source) -> Iterator[None]:
    """Decompression failures anywhere in a file are a file-level error, not a crash."""
    try:
        yield
    except EOFError:
        raise MarketFileError(source.path, "truncated gzip (the compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise MarketFileError(source.path, f"corrupt gzip: {exc}") from None
    except OSError as exc:
        raise MarketFileError(source.path, f"read error: {exc}") from None


def _head(path: str) -> tuple[bytes, bool, int]:
    """The first bytes of the decompressed content, whether it is gzip, and the file size."""
    raw = _open_raw(path)
    with raw:
        size = os.fstat(raw.fileno()).st_size
        magic = raw.read(2)
        if not magic:
            raise MarketFileError(path, "empty file")
        raw.seek(0)
        gzipped = magic == GZIP_MAGIC
        if not gzipped:
            return raw.read(_HEAD_BYTES), False, size
        probe = _Source(path, "?", True, size)
        with _gzip_errors(probe):
            return gzip.GzipFile(fileobj=raw, mode="rb").read(_HEAD_BYTES), True, size


def detect(path: str) -> _Source:
    """Recognise a file's format from its content; MarketFileError when it cannot be read."""
    path = str(path)
    head, gzipped, size = _head(path)
    if head.startswith(PARQUET_MAGIC):
        return _Source(path, "parquet", gzipped, size)
    lines = [line for line in head.splitlines() if line.strip()]
    if not lines:
        raise MarketFileError(path, "empty file" + (" (after gunzip)" if gzipped else ""))
    if lines[0].lstrip().startswith(b"{"):
        return _Source(path, _ndjson_kind(path, lines[:_HEAD_LINES]), gzipped, size)
    if _csv_columns_ok(_csv_header(lines[0])):
        return _Source(path, "csv", gzipped, size)
    shown = lines[0][:40].decode("utf-8", "replace")
    raise MarketFileError(path, f"unknown format: not NDJSON, CSV with the canonical columns "
                                f"or Parquet (starts with {shown!r})")


def _ndjson_kind(path: str, lines: list[bytes]) -> str:
    """The first recognisable message decides; control messages only hint."""
    hint = None
    for line in lines:
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(msg, dict):
            continue
        if "channel" in msg:
            if msg["channel"] == "ticker":
                return "advanced_trade"
            hint = hint or ("advanced_trade" if msg["channel"] in NON_TICK_CHANNELS else None)
        elif msg.get("type") == "ticker":
            return "exchange"
        elif msg.get("type") in {"subscriptions", "heartbeat"}:
            hint = hint or "exchange"
        elif "product_id" in msg and "price" in msg:
            return "ndjson_rows"
    if hint:
        return hint
    raise MarketFileError(path, f"unknown format: none of the first {len(lines)} JSON lines is "
                                f"an Advanced Trade, Exchange ticker or canonical row")


def _csv_header(first_line: bytes) -> list[str]:
    text = first_line.decode("utf-8", "replace").lstrip("\ufeff")
    return [c.strip().lower() for c in next(csv.reader([text]), [])]


def _csv_columns_ok(columns: list[str]) -> bool:
    names = set(columns)
    return {"product_id", "price"} <= names and any(c in names for c in TIME_COLUMNS)


# --- reading one file line by line -----------------------------------------------------------

Item = tuple[int, "list[Tick] | LineError"]


def iter_file_messages(path: str, *, tz: str | None = None) -> Iterator[tuple[int, list[Tick] | LineError]]:
    """Stream one file: (line, its ticks) per line — [] for control messages — or
    (line, LineError). File-level problems raise MarketFileError, possibly mid-stream (a gzip
    truncated near its end is only noticed there). A file without any valid tick is not an
    error here; `read_ticks` judges whole files.
    """
    time_zone(tz)  # an unknown zone fails once, up front, not on every line
    yield from _read_source(detect(path), tz, None)


def _read_source(source: _Source, tz: str | None, progress: Progress | None) -> Iterator[Item]:
    if source.format == "parquet":
        return _parquet_items(source, tz, progress)
    if source.format == "csv":
        return _csv_items(source, tz, progress)
    return _ndjson_items(source, tz, progress)


def _ndjson_items(source: _Source, tz: str | None, progress: Progress | None) -> Iterator[Item]:
    path = source.path
    with _opened(source) as (stream, raw):
        for n, line in enumerate(stream, 1):
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(raw.tell())
            if not line.strip():
                continue
            try:
                msg = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield n, LineError(path, n, f"invalid JSON: {exc}")
                continue
            if not isinstance(msg, dict):
                yield n, LineError(path, n, "message is not a JSON object")
                continue
            try:
                yield n, parse_message(msg, tz=tz)
            except BadTick as exc:
                yield n, LineError(path, n, str(exc))
        if progress is not None:
            progress(raw.tell())


def _csv_items(source: _Source, tz: str | None, progress: Progress | None) -> Iterator[Item]:
    path = source.path
    with _opened(source) as (stream, raw):
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        header: list[str] = []
        while not any(header):  # detection saw a header, after any blank lines
            header = [c.strip().lower() for c in next(reader)]
        width = len(header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield reader.line_num, LineError(path, reader.line_num, f"bad CSV: {exc}")
                continue
            n = reader.line_num
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(raw.tell())
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                yield n, LineError(path, n, f"{len(row)} fields, the header has {width}")
                continue
            try:
                yield n, [parse_row(dict(zip(header, row)), tz)]
            except BadTick as exc:
                yield n, LineError(path, n, str(exc))
        if progress is not None:
            progress(raw.tell())


def _parquet_items(source: _Source, tz: str | None, progress: Progress | None) -> Iterator[Item]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = source.path
    with _opened(source) as (stream, _raw):
        # Parquet needs random access: a gzipped one is inflated into memory first.
        data = pa.BufferReader(stream.read()) if source.gzipped else path
        try:
            pfile = pq.ParquetFile(data)
        except (pa.ArrowException, OSError) as exc:
            raise MarketFileError(path, f"corrupt Parquet: {exc}") from None
        columns = [name.strip().lower() for name in pfile.schema_arrow.names]
        if not _csv_columns_ok(columns):
            raise MarketFileError(path, "unknown format: Parquet without the canonical columns "
                                        f"product_id, price and ts/timestamp/time (has {columns})")
        row = 0
        try:
            for batch in pfile.iter_batches(batch_size=65_536):
                batch = _epoch_time_columns(batch.rename_columns(columns), tz)
                for record in batch.to_pylist():
                    row += 1
                    yield row, _parquet_row(path, row, record, tz)
                if progress is not None:
                    progress(row)
        except pa.ArrowException as exc:
            raise MarketFileError(path, f"corrupt Parquet: {exc}") from None


def _parquet_row(path: str, row: int, record: dict[str, Any], tz: str | None) -> list[Tick] | LineError:
    # pandas writes missing floats as NaN; in a file they mean "no value", as null does.
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
    try:
        return [parse_row(clean, tz)]
    except BadTick as exc:
        return LineError(path, row, str(exc))


def _epoch_time_columns(batch: Any, tz: str | None) -> Any:
    """Arrow timestamp columns → float epoch seconds, exactly (nanoseconds kept), in Arrow.

    A naive Arrow timestamp is wall-clock time in `tz` (UTC when None), like naive text.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, name in enumerate(batch.schema.names):
        column = batch.column(i)
        if name not in TIME_COLUMNS or not pa.types.is_timestamp(column.type):
            continue
        if column.type.tz is None and tz is not None and time_zone(tz) is not time_zone(None):
            column = pc.assume_timezone(column, timezone=tz, ambiguous="earliest",
                                        nonexistent="earliest")
        per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[column.type.unit]
        # float64 keeps ~0.2 µs at today's epoch: what a float `Tick.ts` can hold anyway.
        counts = column.cast(pa.int64()).cast(pa.float64(), safe=False)
        seconds = pc.divide(counts, per_second)
        batch = batch.set_column(i, name, seconds)
    return batch


# --- reading many files ----------------------------------------------------------------------

def read_ticks(paths: list[str], *, tz: str | None = None, progress: bool = False) -> ReadReport:
    """Read every file into one time-ordered, de-duplicated stream of ticks.

    Raises MarketFileError on the first file that cannot be used (including one with no valid
    tick), ValueError for an unknown `tz`.
    """
    time_zone(tz)
    ticks: list[Tick] = []
    report = ReadReport(ticks=[])
    for path in paths:
        source = detect(str(path))
        stats = {"format": source.format, "lines": 0, "ticks": 0, "skipped": 0, "errors": 0}
        with _progress_bar(source, enabled=progress) as advance:
            for _n, item in _read_source(source, tz, advance):
                stats["lines"] += 1
                if isinstance(item, LineError):
                    stats["errors"] += 1
                    report.errors.append(item)
                elif item:
                    stats["ticks"] += len(item)
                    ticks.extend(item)
                else:
                    stats["skipped"] += 1
        if stats["ticks"] == 0:
            first = report.errors[len(report.errors) - stats["errors"]] if stats["errors"] else None
            raise MarketFileError(source.path, _no_ticks_reason(stats, first))
        report.files[source.path] = stats
    report.ticks = order_ticks(ticks)
    report.duplicates = len(ticks) - len(report.ticks)
    return report


def _no_ticks_reason(stats: dict, first: LineError | None) -> str:
    reason = (f"no valid ticks: {stats['errors']} of {stats['lines']} lines malformed, "
              f"{stats['skipped']} control messages")
    if first is not None:
        reason += f" (first: line {first.line}: {first.reason})"
    return reason


@contextmanager
def _progress_bar(source: _Source, *, enabled: bool) -> Iterator[Progress | None]:
    """A tqdm bar per file: bytes of the file as stored, or rows for Parquet."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    name = os.path.basename(source.path)
    if source.format == "parquet":
        bar = tqdm(total=None, unit="row", desc=name, unit_scale=True, leave=False)
    else:
        bar = tqdm(total=source.size, unit="B", desc=name, unit_scale=True, leave=False)
    try:
        yield lambda position: bar.update(position - bar.n)
    finally:
        bar.close()
