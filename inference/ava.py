"""AVA CSV, excluded-timestamp and label map I/O, columnar and validated (no torch, no Django).

Public API
----------
Rows (one CSV file, columnar, in file order):
    ``AvaRows``: ``videos`` (distinct video ids, sorted), ``video`` (N,) int32 index into
    ``videos``, ``timestamp`` (N,) int64 seconds, ``box`` (N, 4) float64 x1 y1 x2 y2 (NaN on
    2-column rows), ``action`` (N,) int64 (``NO_ACTION`` where the column is empty or absent),
    ``value`` (N,) float64 column 8 (person id, score or detector score; NaN where absent),
    ``columns`` (N,) int8 (2, 7 or 8: the row's width), ``line`` (N,) int64 (1-based line in the
    file, 0 for rows not read from a file). Properties ``video_ids``, ``person_id``,
    ``keyframe_only``; ``len(rows)``.
    ``rows_from_records(records)`` builds rows from tuples
    ``(video_id, timestamp, x1, y1, x2, y2, action_id, value)``; ``(video_id, timestamp)`` or a
    box of ``None`` makes a 2-column row; ``action_id``/``value`` may be ``None``.

Kinds (what column 8 means and which fields are required): ``"gt"`` (person id),
``"predictions"`` (score), ``"person-boxes"`` (detector score; empty action column).

Reading:
    ``read_ava_csv(path, kind, *, action_ids=None, videos=None, validate=True) -> AvaRows``:
    parses with pyarrow (multi-threaded); 2-, 7- and 8-column rows may be mixed; blank lines are
    skipped. Structural errors (column count, non-numbers, empty required fields) always raise
    ``AvaFormatError``; with ``validate`` it also checks timestamps >= 0, coordinates in [0, 1],
    x1 < x2 and y1 < y2, action ids in ``action_ids`` (when given), video ids in ``videos`` (when
    given), column 8 (whole person ids, finite scores) and duplicate rows (same keyframe, box and
    action). The whole file is checked before anything is returned.
    ``iter_ava_batches(path, kind, block_size=1 << 20)`` streams a large file as ``AvaRows``
    batches (structural checks only, ``line`` 0; rows of an uncommon width come last), so that
    a 10-million-row file is never held twice in memory.
    ``read_excluded(path) -> list[tuple[str, int]]``: ``video_id,timestamp`` rows.
    ``read_labelmap(path)`` / ``parse_labelmap(text, source)`` -> ``LabelMap`` (both pbtxt forms:
    ``label { name label_id label_type }`` and ``item { name id }``).

Writing (AVA formatting: ``%04d`` timestamps, 3-decimal coordinates, person ids ``%d``, scores
``%.6f``):
    ``iter_csv_chunks(rows, kind, chunk_rows=10_000)`` yields CSV text chunks (for streaming
    responses); ``csv_text(rows, kind)``; ``write_ava_csv(path, rows, kind)``;
    ``excluded_text(keyframes)`` / ``write_excluded(path, keyframes)``;
    ``format_labelmap(labelmap, form)`` / ``write_labelmap(path, labelmap, form)`` with form
    ``"label"`` or ``"item"``.

Errors: ``AvaFormatError(ValueError)`` with ``messages`` (the first ``MAX_MESSAGES``, each
``file:line: field 'x1' = '1.7': must be in [0, 1]``) and ``total`` (how many errors in all).
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

__all__ = [
    "COLUMN_8",
    "MAX_MESSAGES",
    "NO_ACTION",
    "ActionLabel",
    "AvaFormatError",
    "AvaRows",
    "LabelMap",
    "csv_text",
    "excluded_text",
    "format_labelmap",
    "iter_ava_batches",
    "iter_csv_chunks",
    "parse_labelmap",
    "read_ava_csv",
    "read_excluded",
    "read_labelmap",
    "records_text",
    "video_records_text",
    "rows_from_records",
    "write_ava_csv",
    "write_excluded",
    "write_labelmap",
]

NO_ACTION = -1
MAX_MESSAGES = 50
# kind -> name of column 8
COLUMN_8: dict[str, str] = {
    "gt": "person_id",
    "predictions": "score",
    "person-boxes": "detector_score",
}
_FIELDS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id")
_PEEK_LINES = 1000
# Numbers are stored as signed 64-bit integers (timestamps, action ids, person ids).
_INT64 = (-(2**63), 2**63 - 1)
# ":LINE: " after the file name in a message
_LINE_OF = re.compile(r".*?:(\d+): ")
# (line, position in line, message): errors sort by line, then by position
_Problem = tuple[int, int, str]


class AvaFormatError(ValueError):
    """Bad AVA input: ``messages`` (first errors, ``file:line: ...``), ``total`` (all errors) and
    ``rows`` (how many rows have at least one)."""

    def __init__(
        self, messages: Sequence[str], total: int | None = None, rows: int | None = None
    ) -> None:
        self.messages = list(messages[:MAX_MESSAGES])
        self.total = len(messages) if total is None else total
        self.rows = _lines_of(messages) if rows is None else rows
        text = "\n".join(self.messages)
        if self.total > len(self.messages):
            text += f"\n... and {self.total - len(self.messages)} more errors"
        super().__init__(text)


def _lines_of(messages: Sequence[str]) -> int:
    """How many distinct lines ``file:line: ...`` messages name (messages without one count 1)."""
    lines = set()
    for index, message in enumerate(messages):
        match = _LINE_OF.match(message)
        lines.add(match.group(1) if match else f"#{index}")
    return len(lines)


class _NeedsExactParse(Exception):
    """The fast path found a problem that the exact path must locate."""


@dataclass(frozen=True, eq=False)
class AvaRows:
    """Rows of one AVA CSV file as numpy columns, in file order."""

    videos: tuple[str, ...]
    video: np.ndarray  # (N,) int32 index into videos
    timestamp: np.ndarray  # (N,) int64 seconds
    box: np.ndarray  # (N, 4) float64 x1 y1 x2 y2, NaN on 2-column rows
    action: np.ndarray  # (N,) int64, NO_ACTION where empty or absent
    value: np.ndarray  # (N,) float64 column 8, NaN where absent
    columns: np.ndarray  # (N,) int8 row width: 2, 7 or 8
    line: np.ndarray  # (N,) int64 1-based line in the file, 0 when not read from a file

    def __len__(self) -> int:
        return len(self.timestamp)

    @property
    def video_ids(self) -> np.ndarray:
        """(N,) object array of video id strings."""
        return np.asarray(self.videos, dtype=object)[self.video]

    @property
    def keyframe_only(self) -> np.ndarray:
        """(N,) bool: 2-column rows (a keyframe with no box)."""
        return self.columns == 2

    @property
    def person_id(self) -> np.ndarray:
        """(N,) int64 column 8 as a person id, -1 where absent."""
        return np.where(np.isnan(self.value), -1, self.value).astype(np.int64)


@dataclass(frozen=True)
class ActionLabel:
    """One action of a label map; ``type`` is None in the ``item { name id }`` form."""

    id: int
    name: str
    type: str | None = None


@dataclass(frozen=True)
class LabelMap:
    """A taxonomy: actions in file order."""

    actions: tuple[ActionLabel, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        """Action ids in file order."""
        return tuple(action.id for action in self.actions)

    def by_id(self) -> dict[int, ActionLabel]:
        """Actions keyed by id."""
        return {action.id: action for action in self.actions}

    def records(self) -> list[dict[str, Any]]:
        """JSON form, as checkpoints and model versions store it: `{"id", "name", "type"}` per
        action, in file order (an action without a type is OTHER)."""
        return [{"id": a.id, "name": a.name, "type": a.type or "OTHER"} for a in self.actions]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> LabelMap:
        """The label map of `records()`'s JSON form."""
        return cls(
            tuple(
                ActionLabel(int(r["id"]), str(r["name"]), str(r["type"]) if r.get("type") else None)
                for r in records
            )
        )


def _empty_rows() -> AvaRows:
    return AvaRows(
        videos=(),
        video=np.zeros(0, np.int32),
        timestamp=np.zeros(0, np.int64),
        box=np.zeros((0, 4), np.float64),
        action=np.zeros(0, np.int64),
        value=np.zeros(0, np.float64),
        columns=np.zeros(0, np.int8),
        line=np.zeros(0, np.int64),
    )


def _check_kind(kind: str) -> str:
    if kind not in COLUMN_8:
        raise ValueError(f"unknown AVA file kind {kind!r}; expected one of {sorted(COLUMN_8)}")
    return COLUMN_8[kind]


# --- reading ---------------------------------------------------------------------------------


def _peek_width(path: Path) -> tuple[int, bool]:
    """(width of the file's box rows: 8 or 7, or 2 when the first lines have only 2 columns,
    whether the first lines mix widths). Raises _NeedsExactParse when they are not text."""
    widths = set()
    with open(path, "rb") as handle:
        for line in itertools.islice(handle, _PEEK_LINES):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise _NeedsExactParse from None
            widths.add(text.rstrip("\r\n").count(",") + 1 if text.strip() else 0)
    widths.discard(0)
    mixed = len(widths) > 1
    for width in (8, 7):
        if width in widths:
            return width, mixed
    return (2 if 2 in widths else 8), mixed


# Bytes that are not UTF-8, kept as lone surrogates by the "surrogateescape" error handler.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _video_id_error(text: str) -> str | None:
    if _UNDECODABLE.search(text):
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return f"field 'video_id' = '{shown}': not UTF-8 text"
    return None


def _field_errors(
    name: str, text: str, integer: bool, required: bool
) -> tuple[float | int | None, str | None]:
    """Parse one numeric field the way the fast path does: (value, error message)."""
    if text == "":
        return (None, None) if not required else (None, f"field {name!r} = '': not a number")
    if _UNDECODABLE.search(text):
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return None, f"field {name!r} = '{shown}': not UTF-8 text"
    try:
        number = int(text) if integer else float(text)
    except ValueError:
        pass
    else:
        if integer and not _INT64[0] <= number <= _INT64[1]:
            return None, f"field {name!r} = {text!r}: out of range"
        return number, None
    try:
        float(text)
    except ValueError:
        return None, f"field {name!r} = {text!r}: not a number"
    return None, f"field {name!r} = {text!r}: not a whole number"


def _parse_special(
    fields: list[str], kind: str, where: str
) -> tuple[tuple[str, int, list[float], int, float, int] | None, list[str]]:
    """Parse a row in Python; returns (row, errors). Used for odd-width rows and the slow path."""
    width = len(fields)
    if width not in (2, 7, 8):
        return None, [f"{where}: expected 2, 7 or 8 columns, got {width}"]
    errors = []
    video_error = _video_id_error(fields[0])
    if video_error:
        errors.append(f"{where}: {video_error}")
    timestamp, error = _field_errors("timestamp", fields[1], integer=True, required=True)
    if error:
        errors.append(f"{where}: {error}")
    box = [math.nan] * 4
    action: Any = NO_ACTION
    value: Any = math.nan
    if width >= 7:
        for i, name in enumerate(_FIELDS[2:6]):
            coordinate, error = _field_errors(name, fields[2 + i], integer=False, required=True)
            if error:
                errors.append(f"{where}: {error}")
            box[i] = math.nan if coordinate is None else float(coordinate)
        required = kind != "person-boxes"
        action, error = _field_errors("action_id", fields[6], integer=True, required=required)
        if error:
            errors.append(f"{where}: {error}")
        action = NO_ACTION if action is None else action
    if width == 8:
        value, error = _field_errors(COLUMN_8[kind], fields[7], integer=False, required=True)
        if error:
            errors.append(f"{where}: {error}")
        value = math.nan if value is None else value
    if errors:
        return None, errors
    assert timestamp is not None
    return (fields[0], int(timestamp), box, int(action), float(value), width), []


def _rows_from_python(
    parsed: list[tuple[str, int, list[float], int, float, int]], lines: list[int]
) -> AvaRows:
    if not parsed:
        return _empty_rows()
    videos = tuple(sorted({row[0] for row in parsed}))
    index = {video: i for i, video in enumerate(videos)}
    return AvaRows(
        videos=videos,
        video=np.array([index[row[0]] for row in parsed], np.int32),
        timestamp=np.array([row[1] for row in parsed], np.int64),
        box=np.array([row[2] for row in parsed], np.float64).reshape(-1, 4),
        action=np.array([row[3] for row in parsed], np.int64),
        value=np.array([row[4] for row in parsed], np.float64),
        columns=np.array([row[5] for row in parsed], np.int8),
        line=np.array(lines, np.int64),
    )


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each line; a line the csv module cannot split is an error."""
    # Bytes that are not UTF-8 survive as surrogates, so the field that holds them is named.
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise AvaFormatError([f"{path}:{reader.line_num}: cannot parse: {error}"]) from None
            yield reader.line_num, fields


def _read_python(path: Path, kind: str) -> tuple[AvaRows, list[_Problem]]:
    """Slow, exact path: every row parsed in Python, every structural error collected."""
    parsed = []
    lines = []
    problems: list[_Problem] = []
    for number, fields in _csv_rows(path):
        if not fields:
            continue
        row, row_errors = _parse_special(fields, kind, f"{path}:{number}")
        problems.extend((number, 0, message) for message in row_errors)
        if row is not None:
            parsed.append(row)
            lines.append(number)
    return _rows_from_python(parsed, lines), problems


def _arrow_options(
    names: list[str], threads: bool, on_odd_row: Any, block_size: int | None = None
) -> dict[str, Any]:
    types: dict[str, pa.DataType] = {"video_id": pa.dictionary(pa.int32(), pa.string())}
    types.update({"timestamp": pa.int64(), "action_id": pa.int64(), "col8": pa.float64()})
    types.update({name: pa.float64() for name in _FIELDS[2:6]})
    read_options = pa_csv.ReadOptions(column_names=names, use_threads=threads)
    if block_size is not None:
        read_options.block_size = block_size
    return {
        "read_options": read_options,
        # Blank lines stay rows (of nulls) so that row positions map to line numbers.
        "parse_options": pa_csv.ParseOptions(
            invalid_row_handler=on_odd_row, ignore_empty_lines=False
        ),
        "convert_options": pa_csv.ConvertOptions(
            column_types={name: types[name] for name in names},
            null_values=[""],
            strings_can_be_null=False,
        ),
    }


def _arrow_read(
    path: Path, names: list[str], threads: bool
) -> tuple[pa.Table, list[tuple[int | None, str | None]]]:
    odd: list[tuple[int | None, str | None]] = []

    def on_odd_row(row: Any) -> str:
        try:
            odd.append((row.number, row.text))
        except UnicodeDecodeError:
            odd.append((row.number, None))  # not text: the exact path reports it
        return "skip"

    table = pa_csv.read_csv(path, **_arrow_options(names, threads, on_odd_row))
    if any(text is None for _, text in odd):
        raise _NeedsExactParse
    return table, odd


def _numpy(columns: pa.Table | pa.RecordBatch, name: str, fill: float) -> tuple[np.ndarray, ...]:
    """Column as numpy with nulls filled, and its null mask."""
    column = columns.column(name)
    if not column.null_count:
        return column.to_numpy(), np.zeros(len(column), bool)
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    return column.fill_null(fill).to_numpy(), nulls


def _videos_of(columns: pa.Table | pa.RecordBatch) -> tuple[tuple[str, ...], np.ndarray]:
    column = columns.column("video_id")
    chunks = column.unify_dictionaries().chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks or not columns.num_rows:
        return (), np.zeros(0, np.int32)
    dictionary = chunks[0].dictionary.to_pylist()
    indices = np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in chunks])
    order = sorted(range(len(dictionary)), key=dictionary.__getitem__)
    remap = np.empty(len(dictionary), np.int32)
    remap[order] = np.arange(len(dictionary), dtype=np.int32)
    return tuple(dictionary[i] for i in order), remap[indices]


def _convert(
    columns: pa.Table | pa.RecordBatch, width: int, kind: str
) -> tuple[AvaRows, list[tuple[str, np.ndarray]], np.ndarray]:
    """Arrow columns -> (rows with line 0, [(field, empty-value mask)], blank-line mask)."""
    n = columns.num_rows
    videos, video = _videos_of(columns)
    timestamp, empty_timestamp = _numpy(columns, "timestamp", 0)
    box = np.full((n, 4), np.nan)
    action = np.full(n, NO_ACTION, np.int64)
    value = np.full(n, np.nan)
    empty = [("timestamp", empty_timestamp)]
    if width >= 7:
        coordinates = []
        for name in _FIELDS[2:6]:
            coordinate, nulls = _numpy(columns, name, np.nan)
            coordinates.append(coordinate)
            empty.append((name, nulls))
        box = np.column_stack(coordinates)
        action, nulls = _numpy(columns, "action_id", NO_ACTION)
        if kind != "person-boxes":
            empty.append(("action_id", nulls))
    if width == 8:
        value, nulls = _numpy(columns, "col8", np.nan)
        empty.append((COLUMN_8[kind], nulls))
    # Blank lines arrive as rows of nulls with an empty video id.
    blank = np.zeros(n, bool)
    if "" in videos:
        blank = empty_timestamp & (video == videos.index(""))
    for _, nulls in empty:
        nulls &= ~blank
    rows = AvaRows(
        videos=videos,
        video=video,
        timestamp=timestamp,
        box=box,
        action=action,
        value=value,
        columns=np.full(n, width, np.int8),
        line=np.zeros(n, np.int64),
    )
    return rows, empty, blank


def _parse(path: Path, kind: str) -> tuple[AvaRows, list[_Problem], int, int]:
    """Structural parse: (rows that parsed, first problems, problem count, bad row count).

    The fast pyarrow path falls back to the exact Python path when a value does not convert.
    """
    if os.path.getsize(path) == 0:
        return _empty_rows(), [], 0, 0
    try:
        width, mixed = _peek_width(path)
        names = ["video_id", "timestamp", *_FIELDS[2:], "col8"][:width]
        # Rows of an odd width get line numbers only from a single-threaded read.
        table, odd = _arrow_read(path, names, threads=not mixed)
        if odd and not mixed:
            table, odd = _arrow_read(path, names, threads=False)
    except (pa.ArrowInvalid, UnicodeDecodeError, _NeedsExactParse):
        rows, slow_problems = _read_python(path, kind)
        bad_rows = len({number for number, _, _ in slow_problems})
        return rows, slow_problems, len(slow_problems), bad_rows
    rows, empty, blank = _convert(table, width, kind)
    del table
    n = len(rows)
    if odd:
        is_main = np.ones(n + len(odd) + 1, bool)
        is_main[np.array([number for number, _ in odd], np.int64)] = False
        is_main[0] = False
        line = np.flatnonzero(is_main).astype(np.int64)
    else:
        line = np.arange(1, n + 1, dtype=np.int64)

    problems: list[_Problem] = []
    error_count = 0
    broken = np.zeros(n, bool)
    for name, nulls in empty:
        broken |= nulls
        error_count += int(nulls.sum())
        for i in np.flatnonzero(nulls)[: MAX_MESSAGES + 1]:
            message = f"{path}:{line[i]}: field {name!r} = '': not a number"
            problems.append((int(line[i]), 0, message))

    bad_rows = int(broken.sum())
    extra = []
    for number, text in odd:
        assert number is not None
        fields = next(csv.reader([text])) if text else []
        if not fields:
            continue
        row, row_errors = _parse_special(fields, kind, f"{path}:{number}")
        problems.extend((number, 0, message) for message in row_errors)
        error_count += len(row_errors)
        bad_rows += bool(row_errors)
        if row is not None:
            extra.append((row, number))

    rows = _replace(rows, line=line)
    keep = ~blank & ~broken
    if not keep.all():
        rows = _drop_unused_videos(_take(rows, keep))
    if extra:
        rows = _concat(rows, _rows_from_python([row for row, _ in extra], [n for _, n in extra]))
        rows = _take(rows, np.argsort(rows.line, kind="stable"))
    return rows, problems, error_count, bad_rows


def iter_ava_batches(
    path: str | os.PathLike[str], kind: str = "gt", *, block_size: int = 1 << 20
) -> Iterator[AvaRows]:
    """Stream a large AVA CSV file as batches of rows, checking structure only.

    For files too large to hold twice in memory (the evaluator's detections). Batches come in file
    order, except that rows of an uncommon width (e.g. 2-column rows in an 8-column file) come in
    a last batch of their own; ``line`` is 0. Bad input raises ``AvaFormatError`` as
    ``read_ava_csv`` does, possibly after some batches were yielded.
    """
    _check_kind(kind)
    path = Path(path)
    if os.path.getsize(path) == 0:
        return
    odd: list[str | None] = []

    def on_odd_row(row: Any) -> str:
        try:
            odd.append(row.text)
        except UnicodeDecodeError:
            odd.append(None)  # not text: the exact path reports it
        return "skip"

    yielded = 0
    width = 8
    try:
        width, _ = _peek_width(path)
        names = ["video_id", "timestamp", *_FIELDS[2:], "col8"][:width]
        options = _arrow_options(names, True, on_odd_row, block_size)
        for batch in pa_csv.open_csv(path, **options):
            rows, empty, blank = _convert(batch, width, kind)
            if any(nulls.any() for _, nulls in empty):
                raise _NeedsExactParse
            if blank.any():
                rows = _drop_unused_videos(_take(rows, ~blank))
            yielded += len(rows)
            yield rows
        parsed = []
        for text in odd:
            if text is None:
                raise _NeedsExactParse
            fields = next(csv.reader([text])) if text else []
            if fields:
                row, row_errors = _parse_special(fields, kind, str(path))
                if row_errors:
                    raise _NeedsExactParse
                assert row is not None
                parsed.append(row)
        if parsed:
            yield _rows_from_python(parsed, [0] * len(parsed))
    except (pa.ArrowInvalid, UnicodeDecodeError, _NeedsExactParse):
        # Arrow rejected a value (or a field is empty): the exact path names every bad line,
        # or, where Python reads what Arrow did not, yields the rows not yet yielded.
        rows, problems = _read_python(path, kind)
        if problems:
            raise AvaFormatError([message for _, _, message in problems]) from None
        main_rank = np.cumsum(rows.columns == width)
        not_yet = (rows.columns != width) | (main_rank > yielded)
        yield _replace(_take(rows, not_yet), line=np.zeros(int(not_yet.sum()), np.int64))


def _drop_unused_videos(rows: AvaRows) -> AvaRows:
    used = np.zeros(len(rows.videos), bool)
    used[rows.video] = True
    remap = np.cumsum(used, dtype=np.int32) - 1
    videos = tuple(v for v, u in zip(rows.videos, used, strict=True) if u)
    return _replace(rows, videos=videos, video=remap[rows.video])


def _replace(rows: AvaRows, **changes: Any) -> AvaRows:
    fields = {name: getattr(rows, name) for name in AvaRows.__dataclass_fields__}
    fields.update(changes)
    return AvaRows(**fields)


def _take(rows: AvaRows, index: np.ndarray) -> AvaRows:
    return _replace(
        rows,
        video=rows.video[index],
        timestamp=rows.timestamp[index],
        box=rows.box[index],
        action=rows.action[index],
        value=rows.value[index],
        columns=rows.columns[index],
        line=rows.line[index],
    )


def _concat(first: AvaRows, second: AvaRows) -> AvaRows:
    videos = tuple(sorted(set(first.videos) | set(second.videos)))
    index = {video: i for i, video in enumerate(videos)}
    remap_first = np.array([index[v] for v in first.videos] or [0], np.int32)
    remap_second = np.array([index[v] for v in second.videos] or [0], np.int32)
    return AvaRows(
        videos=videos,
        video=np.concatenate([remap_first[first.video], remap_second[second.video]]),
        timestamp=np.concatenate([first.timestamp, second.timestamp]),
        box=np.concatenate([first.box, second.box]),
        action=np.concatenate([first.action, second.action]),
        value=np.concatenate([first.value, second.value]),
        columns=np.concatenate([first.columns, second.columns]),
        line=np.concatenate([first.line, second.line]),
    )


def _line_texts(path: Path, numbers: Iterable[int]) -> dict[int, list[str]]:
    """Fields of the given lines as written in the file (for error messages)."""
    wanted = set(numbers)
    found: dict[int, list[str]] = {}
    if not wanted:
        return found
    last = max(wanted)
    with open(path, encoding="utf-8", errors="backslashreplace", newline="") as handle:
        for number, fields in enumerate(csv.reader(handle), start=1):
            if number in wanted:
                found[number] = fields
            if number >= last:
                break
    return found


def _validate(
    path: Path,
    rows: AvaRows,
    kind: str,
    action_ids: Collection[int] | None,
    videos: Collection[str] | None,
) -> tuple[list[_Problem], int, int]:
    """Semantic checks over the whole file: (first problems, problem count, bad row count)."""
    has_box = rows.columns >= 7
    checks: list[tuple[np.ndarray, int, str]] = []  # (bad mask, field column, reason)
    checks.append((rows.timestamp < 0, 1, "must be >= 0"))
    video_ids = np.asarray(rows.videos, dtype=object)
    checks.append(
        ((video_ids == "")[rows.video] if len(rows.videos) else has_box[:0], 0, "must not be empty")
    )
    if videos is not None:
        known = np.array([video in videos for video in rows.videos], bool)
        checks.append((~known[rows.video] if len(rows.videos) else has_box[:0], 0, "unknown video"))
    box = rows.box
    with np.errstate(invalid="ignore"):
        for i in range(4):
            inside = (box[:, i] >= 0) & (box[:, i] <= 1)
            checks.append((has_box & ~inside, 2 + i, "must be in [0, 1]"))
        checks.append((has_box & (box[:, 0] >= box[:, 2]), 2, "must be less than x2 = {x2}"))
        checks.append((has_box & (box[:, 1] >= box[:, 3]), 3, "must be less than y2 = {y2}"))
    if kind == "person-boxes":
        checks.append((rows.action != NO_ACTION, 6, "must be empty in a person-box file"))
    elif action_ids is not None:
        allowed = np.isin(rows.action, np.fromiter(action_ids, np.int64))
        checks.append((has_box & ~allowed, 6, "not in the label map"))
    has_value = rows.columns == 8
    with np.errstate(invalid="ignore"):
        if kind == "gt":
            whole = (rows.value == np.floor(rows.value)) & (rows.value >= 0)
            checks.append((has_value & ~whole, 7, "must be a whole number >= 0"))
        else:
            checks.append((has_value & ~np.isfinite(rows.value), 7, "must be a finite number"))

    found: list[tuple[int, int, str, str]] = []  # (row, field, reason, line of first copy)
    total = 0
    bad_row = np.zeros(len(rows), bool)
    for bad, field, reason in checks:
        bad_row |= bad
        where = np.flatnonzero(bad)
        total += len(where)
        found.extend((int(i), field, reason, "") for i in where[: MAX_MESSAGES + 1])
    duplicate, first = _duplicates(rows)
    total += len(duplicate)
    bad_row[duplicate] = True
    found.extend((int(i), -1, "", str(rows.line[j])) for i, j in zip(duplicate, first, strict=True))
    found.sort(key=lambda p: (rows.line[p[0]], p[1]))
    found = found[:MAX_MESSAGES]
    texts = _line_texts(path, (int(rows.line[p[0]]) for p in found))
    names = [*_FIELDS, COLUMN_8[kind]]
    problems: list[_Problem] = []
    for row, field, reason, first_line in found:
        number = int(rows.line[row])
        if field < 0:
            message = f"duplicate row: same keyframe, box and action as line {first_line}"
        else:
            fields = texts.get(number, [])
            text = fields[field] if field < len(fields) else ""
            reason = reason.format(
                x2=repr(fields[4] if len(fields) > 4 else ""),
                y2=repr(fields[5] if len(fields) > 5 else ""),
            )
            message = f"field {names[field]!r} = {text!r}: {reason}"
        problems.append((number, field, f"{path}:{number}: {message}"))
    return problems, total, int(bad_row.sum())


def _duplicates(rows: AvaRows) -> tuple[np.ndarray, np.ndarray]:
    """Rows repeating an earlier row's keyframe, box and action: (their indices, first indices)."""
    if len(rows) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    box_bits = np.nan_to_num(rows.box, nan=-1.0).view(np.int64)
    keys = (rows.action, *box_bits.T[::-1], rows.timestamp, rows.video)
    order = np.lexsort(keys)
    same = np.ones(len(rows) - 1, bool)
    for key in keys:
        ordered = key[order]
        same &= ordered[1:] == ordered[:-1]
    later = np.flatnonzero(same) + 1
    if not len(later):
        return later, later
    # lexsort is stable, so the first row of each run of equal rows is the earliest line.
    run_start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(rows)), 0))
    return order[later], order[run_start[later]]


def read_ava_csv(
    path: str | os.PathLike[str],
    kind: str = "gt",
    *,
    action_ids: Collection[int] | None = None,
    videos: Collection[str] | None = None,
    validate: bool = True,
) -> AvaRows:
    """Read an AVA CSV file (ground truth, predictions or person boxes) as validated columns."""
    _check_kind(kind)
    path = Path(path)
    rows, problems, total, bad_rows = _parse(path, kind)
    if validate:
        more, more_total, more_rows = _validate(path, rows, kind, action_ids, videos)
        problems += more
        total += more_total
        bad_rows += more_rows
    if total:
        problems.sort(key=lambda problem: problem[:2])
        raise AvaFormatError([message for _, _, message in problems], total=total, rows=bad_rows)
    return rows


def read_excluded(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """Read an excluded-timestamps CSV: ``video_id,timestamp`` rows, in file order."""
    path = Path(path)
    keyframes: list[tuple[str, int]] = []
    errors: list[str] = []
    seen: dict[tuple[str, int], int] = {}
    for number, fields in _csv_rows(path):
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 2:
            errors.append(f"{where}: expected 2 columns, got {len(fields)}")
            continue
        timestamp, error = _field_errors("timestamp", fields[1], integer=True, required=True)
        if error or timestamp is None:
            errors.append(f"{where}: {error}")
            continue
        if timestamp < 0:
            errors.append(f"{where}: field 'timestamp' = {fields[1]!r}: must be >= 0")
            continue
        video_error = _video_id_error(fields[0])
        if video_error:
            errors.append(f"{where}: {video_error}")
            continue
        key = (fields[0], int(timestamp))
        if key in seen:
            errors.append(f"{where}: duplicate row: same keyframe as line {seen[key]}")
            continue
        seen[key] = number
        keyframes.append(key)
    if errors:
        raise AvaFormatError(errors)
    return keyframes


# --- writing ---------------------------------------------------------------------------------


def rows_from_records(records: Iterable[Sequence[Any]]) -> AvaRows:
    """Rows from ``(video_id, timestamp[, x1, y1, x2, y2[, action_id[, value]]])`` tuples."""
    parsed = []
    for record in records:
        video_id, timestamp = record[0], int(record[1])
        if len(record) < 6 or record[2] is None:
            parsed.append((str(video_id), timestamp, [math.nan] * 4, NO_ACTION, math.nan, 2))
            continue
        action = record[6] if len(record) > 6 and record[6] is not None else NO_ACTION
        value = record[7] if len(record) > 7 and record[7] is not None else None
        box = [float(c) for c in record[2:6]]
        width = 7 if value is None else 8
        parsed.append((str(video_id), timestamp, box, int(action), float(value or 0.0), width))
    rows = _rows_from_python(parsed, [0] * len(parsed))
    return _replace(rows, value=np.where(rows.columns == 8, rows.value, np.nan))


def _full_row_format(kind: str) -> str:
    return "%s,%04d,%.3f,%.3f,%.3f,%.3f,%d," + ("%d" if kind == "gt" else "%.6f") + "\n"


def _record_line(record: Sequence[Any], kind: str) -> str:
    """One row from a tuple with missing parts (2 or 7 columns, an empty action)."""
    text = f"{record[0]},{int(record[1]):04d}"
    if len(record) >= 6 and record[2] is not None:
        x1, y1, x2, y2 = (float(c) for c in record[2:6])
        action = record[6] if len(record) > 6 else None
        text += f",{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f}," + ("" if action is None else str(action))
        if len(record) > 7 and record[7] is not None:
            text += "," + ("%d" if kind == "gt" else "%.6f") % record[7]
    return text + "\n"


def records_text(records: Sequence[Sequence[Any]], kind: str = "gt") -> str:
    """AVA CSV text straight from tuples, the fast path for database exports.

    Each record is ``(video_id, timestamp)`` (a keyframe with no box) or ``(video_id, timestamp,
    x1, y1, x2, y2, action_id, value)`` with ``value`` the person id (gt) or score; an
    ``action_id`` of ``None`` leaves the column empty (person boxes), a ``value`` of ``None`` or
    a 7-item record gives a 7-column row, a box of ``None`` a 2-column row.
    """
    _check_kind(kind)
    full = _full_row_format(kind)
    return "".join(
        full % tuple(record)
        if len(record) == 8 and record[6] is not None and record[7] is not None
        else _record_line(record, kind)
        for record in records
    )


def video_records_text(video_id: str, records: Sequence[Sequence[Any]], kind: str = "gt") -> str:
    """AVA CSV text of one video's rows: the export fast path, no tuple built per row.

    Each record is ``(timestamp,)`` (a keyframe with no box) or ``(timestamp, x1, y1, x2, y2,
    action_id, value)`` with ``value`` the person id (gt) or score; a ``value`` of ``None`` gives
    a 7-column row.
    """
    _check_kind(kind)
    prefix = video_id.replace("%", "%%") + ","
    full = prefix + _full_row_format(kind)[3:]
    seven = prefix + "%04d,%.3f,%.3f,%.3f,%.3f,%d\n"
    bare = prefix + "%04d\n"
    if all(len(record) == 7 and record[6] is not None for record in records):
        # The common case in one %-operation over all fields: no call per row.
        return (full * len(records)) % tuple(itertools.chain.from_iterable(records))
    return "".join(
        [
            full % record
            if len(record) == 7 and record[6] is not None
            else (seven % record[:6] if len(record) == 7 else bare % record)
            for record in records
        ]
    )


def _row_lines(rows: AvaRows, kind: str, start: int, stop: int) -> list[str]:
    value_format = "%d" if kind == "gt" else "%.6f"
    span = slice(start, stop)
    full = (rows.columns[span] == 8) & (rows.action[span] != NO_ACTION)
    # Full labelled rows, the common case, in one pass of %-formatting (export speed).
    index = np.flatnonzero(full) + start
    values = rows.value[index]
    fmt = _full_row_format(kind)
    full_lines = [
        fmt % row
        for row in zip(
            [rows.videos[i] for i in rows.video[index].tolist()],
            rows.timestamp[index].tolist(),
            *rows.box[index].T.tolist(),
            rows.action[index].tolist(),
            (values.astype(np.int64) if kind == "gt" else values).tolist(),
            strict=True,
        )
    ]
    if len(full_lines) == stop - start:
        return full_lines
    lines = [""] * (stop - start)
    for i, line in zip((index - start).tolist(), full_lines, strict=True):
        lines[i] = line
    for i in (np.flatnonzero(~full) + start).tolist():
        text = f"{rows.videos[rows.video[i]]},{int(rows.timestamp[i]):04d}"
        if rows.columns[i] >= 7:
            x1, y1, x2, y2 = rows.box[i].tolist()
            action = int(rows.action[i])
            text += f",{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},"
            text += "" if action == NO_ACTION else str(action)
        if rows.columns[i] == 8:
            value = float(rows.value[i])
            text += "," + (value_format % (int(value) if kind == "gt" else value))
        lines[i - start] = text + "\n"
    return lines


def iter_csv_chunks(rows: AvaRows, kind: str = "gt", chunk_rows: int = 10_000) -> Iterator[str]:
    """Yield the rows as AVA CSV text, ``chunk_rows`` rows per chunk (for streaming)."""
    _check_kind(kind)
    for start in range(0, len(rows), chunk_rows):
        yield "".join(_row_lines(rows, kind, start, min(start + chunk_rows, len(rows))))


def csv_text(rows: AvaRows, kind: str = "gt") -> str:
    """The rows as one AVA CSV string."""
    return "".join(iter_csv_chunks(rows, kind))


def write_ava_csv(path: str | os.PathLike[str], rows: AvaRows, kind: str = "gt") -> None:
    """Write rows as an AVA CSV file."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for chunk in iter_csv_chunks(rows, kind):
            handle.write(chunk)


def excluded_text(keyframes: Iterable[tuple[str, int]]) -> str:
    """Excluded-timestamps CSV text for ``(video_id, timestamp)`` pairs."""
    return "".join(f"{video_id},{timestamp:04d}\n" for video_id, timestamp in keyframes)


def write_excluded(path: str | os.PathLike[str], keyframes: Iterable[tuple[str, int]]) -> None:
    """Write an excluded-timestamps CSV file."""
    Path(path).write_text(excluded_text(keyframes), encoding="utf-8")


# --- label maps ------------------------------------------------------------------------------

# C0 and C1 control characters (NUL included) and DEL: never part of a name or id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Action ids are stored as 32-bit integers.
_MAX_ACTION_ID = 2**31 - 1

_TOKEN = re.compile(
    r'(?P<space>\s+)|(?P<comment>#[^\n]*)|(?P<punct>[{}:])|"(?P<string>(?:[^"\\\n]|\\.)*)"'
    r'|(?P<word>[^\s{}:"#]+)|(?P<bad>.)'
)


def _tokens(text: str, source: str) -> Iterator[tuple[str, str, int]]:
    """(kind, token, line) with kind in {'punct', 'string', 'word'}; spaces and comments dropped."""
    line = 1
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        token = match.group(kind or 0)
        if kind == "bad":
            raise ValueError(f"{source}:{line}: cannot parse {token!r}")
        if kind == "string":
            yield kind, re.sub(r"\\(.)", r"\1", token), line
        elif kind in ("punct", "word"):
            yield kind, token, line
        line += token.count("\n")


def parse_labelmap(text: str, source: str = "<labelmap>") -> LabelMap:
    """Parse pbtxt in the ``label { name label_id label_type }`` or ``item { name id }`` form."""
    tokens = list(_tokens(text, source))
    actions: list[ActionLabel] = []
    seen: dict[int, int] = {}
    i = 0

    def expect(kind: str, token: str | None = None) -> tuple[str, int]:
        nonlocal i
        if i >= len(tokens):
            line = tokens[-1][2] if tokens else 1
            raise ValueError(f"{source}:{line}: unexpected end of file")
        got_kind, got, line = tokens[i]
        if got_kind != kind or (token is not None and got != token):
            wanted = token or kind
            raise ValueError(f"{source}:{line}: expected {wanted!r}, got {got!r}")
        i += 1
        return got, line

    while i < len(tokens):
        block, block_line = expect("word")
        if block not in ("label", "item"):
            raise ValueError(f"{source}:{block_line}: expected 'label' or 'item', got {block!r}")
        expect("punct", "{")
        fields: dict[str, tuple[str, int]] = {}
        while i < len(tokens) and tokens[i][1] != "}":
            key, line = expect("word")
            expect("punct", ":")
            if i < len(tokens) and tokens[i][0] == "string":
                value, _ = expect("string")
            else:
                value, _ = expect("word")
            fields[key] = (value, line)
        expect("punct", "}")
        id_key = "label_id" if block == "label" else "id"
        allowed = {"name", id_key, "display_name"} | ({"label_type"} if block == "label" else set())
        for key, (_, line) in fields.items():
            if key not in allowed:
                raise ValueError(f"{source}:{line}: unknown field {key!r} in {block}")
        if id_key not in fields:
            raise ValueError(f"{source}:{block_line}: {block} has no {id_key}")
        id_text, id_line = fields[id_key]
        if not re.fullmatch(r"[0-9]+", id_text) or int(id_text) < 1:
            raise ValueError(f"{source}:{id_line}: field {id_key!r} = {id_text!r}: must be >= 1")
        action_id = int(id_text)
        if action_id in seen:
            raise ValueError(
                f"{source}:{id_line}: field {id_key!r} = {id_text!r}: duplicate of line "
                f"{seen[action_id]}"
            )
        seen[action_id] = id_line
        if action_id > _MAX_ACTION_ID:
            raise ValueError(
                f"{source}:{id_line}: field {id_key!r} = {id_text!r}: must be <= {_MAX_ACTION_ID}"
            )
        for key in ("name", "display_name", "label_type"):
            value, line = fields.get(key, ("", 0))
            if _CONTROL.search(value):
                raise ValueError(
                    f"{source}:{line}: field {key!r} = {value!r}: control characters are not "
                    "allowed"
                )
        name = fields.get("name", fields.get("display_name", ("", 0)))[0]
        label_type = fields["label_type"][0] if "label_type" in fields else None
        actions.append(ActionLabel(id=action_id, name=name, type=label_type))
    if not actions:
        raise ValueError(f"{source}:1: no 'label' or 'item' entries")
    return LabelMap(actions=tuple(actions))


def read_labelmap(path: str | os.PathLike[str], source: str | None = None) -> LabelMap:
    """Read a pbtxt label map (either form); messages name ``source`` (default: the path)."""
    source = source or str(path)
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        bad = raw[error.start : error.end].hex()
        raise ValueError(f"{source}:{line}: not UTF-8 text (byte 0x{bad})") from None
    return parse_labelmap(text, source=source)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_labelmap(labelmap: LabelMap, form: str = "label") -> str:
    """Label map as pbtxt: ``form="label"`` (with label_type) or ``"item"`` (the evaluator's)."""
    if form not in ("label", "item"):
        raise ValueError(f"unknown label map form {form!r}; expected 'label' or 'item'")
    blocks = []
    for action in labelmap.actions:
        if form == "item":
            blocks.append(f"item {{\n  name: {_quote(action.name)}\n  id: {action.id}\n}}\n")
            continue
        text = f"label {{\n  name: {_quote(action.name)}\n  label_id: {action.id}\n"
        if action.type is not None:
            text += f"  label_type: {action.type}\n"
        blocks.append(text + "}\n")
    return "".join(blocks)


def write_labelmap(path: str | os.PathLike[str], labelmap: LabelMap, form: str = "label") -> None:
    """Write a pbtxt label map."""
    Path(path).write_text(format_labelmap(labelmap, form), encoding="utf-8")
