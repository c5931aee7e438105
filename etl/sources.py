"""Finding source files and reading them as text, with the file, sheet and row of every value.

A file's dataset comes from its name prefix (`orders_apr_2025.xlsx`) or from the folder it sits
in (`orders/2025-04-01.csv`). Workbooks are read with python-calamine (Excel is not a Spark
source); every worksheet is data. Values are kept as the text a user would see: whole numbers
without a trailing `.0`, empty cells as null.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
import tempfile
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath

from python_calamine import CalamineError, CalamineWorkbook

from etl.contracts import DATASETS
from etl.errors import EtlError, SourceFileError

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")
CSV_DELIMITERS = ",;\t|"
# A numeric column is checked on a sheet's first rows: if at least NUMERIC_EVIDENCE of them hold
# a value and none is a number, the column holds the wrong content and the file is rejected
# (a few bad cells among numbers are row faults and go to quarantine instead).
NUMERIC_SAMPLE_ROWS = 100
NUMERIC_EVIDENCE = 3


@dataclass(frozen=True)
class SourceFile:
    uri: str  # where it is read from (local path or s3:// URI)
    name: str  # path relative to the source folder, recorded on every bronze row
    dataset: str


@dataclass(frozen=True)
class SourceRows:
    """The data rows of one file: text values in the dataset's column order."""

    file: SourceFile
    sha256: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]  # values of `columns`, then sheet, row number, extra JSON
    blank_rows: int
    extra_columns: tuple[str, ...]
    row_count: int  # data rows read (also when they went to a sink instead of `rows`)


def dataset_of(relative_name: str) -> str | None:
    """`order_items` is tried before `orders`, whose name is its prefix."""
    parts = PurePosixPath(relative_name.lower()).parts
    stem = parts[-1]
    for dataset in sorted(DATASETS, key=len, reverse=True):
        if stem.startswith(dataset) and not stem[len(dataset) : len(dataset) + 1].isalpha():
            return dataset
    for folder in reversed(parts[:-1]):
        if folder in DATASETS:
            return folder
    return None


def discover(source_dir: str, files: tuple[str, ...] = ()) -> list[SourceFile]:
    """Every source file under `source_dir` (or just `files`), sorted by name."""
    uris = list(files) if files else _list(source_dir)
    found = []
    for uri in uris:
        name = _relative(uri, source_dir)
        if not name.lower().endswith(SUFFIXES) or PurePosixPath(name).name.startswith(("_", ".")):
            continue
        dataset = dataset_of(name)
        if dataset is None:
            raise SourceFileError(
                name,
                "unknown dataset: the name must start with, or sit in a folder named, one of "
                + ", ".join(DATASETS),
            )
        found.append(SourceFile(uri=uri, name=name, dataset=dataset))
    return sorted(found, key=lambda f: f.name)


def _relative(uri: str, source_dir: str) -> str:
    root = source_dir.rstrip("/") + "/"
    if uri.startswith(root):
        return uri[len(root) :]
    return PurePosixPath(uri).name


def _list(source_dir: str) -> list[str]:
    if source_dir.startswith("s3://"):
        return _list_s3(source_dir)
    if not os.path.isdir(source_dir):
        raise EtlError(f"source folder {source_dir} does not exist")
    out: list[str] = []
    for root, _dirs, names in os.walk(source_dir):
        out.extend(os.path.join(root, n) for n in names)
    return out


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _list_s3(prefix_uri: str) -> list[str]:
    import boto3

    bucket, prefix = _split_s3(prefix_uri.rstrip("/") + "/")
    pages = (
        boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    return [f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents", [])]


@contextmanager
def _local_copy(uri: str) -> Iterator[str]:
    if not uri.startswith("s3://"):
        yield uri
        return
    import boto3

    bucket, key = _split_s3(uri)
    with tempfile.TemporaryDirectory(prefix="etl-src-") as folder:
        local = os.path.join(folder, PurePosixPath(key).name)
        boto3.client("s3").download_file(bucket, key, local)
        yield local


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cell_text(value: object) -> str | None:
    """The text a user sees in a cell; None for an empty one."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    text = str(value)
    return text if text.strip() != "" else None


SheetSink = Callable[[str | None, list[tuple[object, ...]]], None]


def read_source(
    file: SourceFile,
    columns: tuple[str, ...],
    numeric: tuple[str, ...] = (),
    known: Container[tuple[str, str]] = (),
    sink: SheetSink | None = None,
) -> SourceRows | None:
    """Read one file; raise SourceFileError for anything that makes it unusable.

    A file whose (name, sha256) is in `known` was ingested before: it is not parsed again and
    None is returned. With a `sink`, each worksheet's rows go to it as soon as the sheet is
    read and are not kept (`rows` stays empty), so memory holds one sheet at a time.
    """
    rows: list[tuple[object, ...]] = []
    count = blank = 0
    extras: set[str] = set()
    with _local_copy(file.uri) as local:
        if os.path.getsize(local) == 0:
            raise SourceFileError(file.name, "the file is empty (0 bytes)")
        sha = file_sha256(local)
        if (file.name, sha) in known:
            return None
        if file.name.lower().endswith(".csv"):
            sheets: Iterable[tuple[str | None, list[list[object]]]] = [
                (None, _csv_rows(local, file.name))
            ]
        else:
            sheets = _workbook_sheets(local, file.name)
        for sheet, grid in sheets:
            sheet_rows, sheet_blank, sheet_extra = _shape(file.name, sheet, grid, columns, numeric)
            del grid
            count += len(sheet_rows)
            blank += sheet_blank
            extras.update(sheet_extra)
            if sink is None:
                rows.extend(sheet_rows)
            else:
                sink(sheet, sheet_rows)
    if extras:
        log.warning(
            "%s: extra columns %s kept in bronze (_extra), ignored in silver",
            file.name,
            ", ".join(sorted(extras)),
        )
    return SourceRows(file, sha, columns, rows, blank, tuple(sorted(extras)), count)


def _csv_rows(path: str, name: str, limit: int | None = None) -> list[list[object]]:
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceFileError(
            name, f"not UTF-8 text ({exc.reason}, byte {exc.start})", row=line
        ) from exc
    first_line = text.split("\n", 1)[0]
    delimiter = max(CSV_DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        return [list(r) for r in itertools.islice(reader, limit)]
    except csv.Error as exc:
        raise SourceFileError(name, f"malformed CSV: {exc}", row=reader.line_num) from exc


def _workbook_sheets(path: str, name: str) -> Iterator[tuple[str | None, list[list[object]]]]:
    """The worksheets of a workbook, one at a time."""
    try:
        workbook = CalamineWorkbook.from_path(path)
        for sheet in workbook.sheet_names:
            grid = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            yield sheet, [list(r) for r in grid]
    except (CalamineError, ValueError, OSError) as exc:
        raise _unreadable(name, exc) from exc


def _header(
    name: str, sheet: str | None, rows: Iterable[Sequence[object]], columns: tuple[str, ...]
) -> tuple[int, list[str]] | None:
    """Index and names of the header (the first non-empty row); None for an empty sheet."""
    for index, raw in enumerate(rows):
        header = [(cell_text(v) or "").strip() for v in raw]
        if not any(header):
            continue
        names = {h.lower() for h in header if h}
        missing = [c for c in columns if c not in names]
        if missing:
            raise SourceFileError(
                name,
                f"missing required column(s) {', '.join(missing)}; header is: {', '.join(header)}",
                sheet=sheet,
                row=index + 1,
                column=missing[0],
            )
        return index, header
    if sheet is None:
        raise SourceFileError(name, "the file has no header row")
    return None


def check_structure(
    file: SourceFile, columns: tuple[str, ...], numeric: tuple[str, ...] = ()
) -> None:
    """Open a file and check every sheet's header and first rows, without reading the rest."""
    limit = NUMERIC_SAMPLE_ROWS + 50
    with _local_copy(file.uri) as local:
        if os.path.getsize(local) == 0:
            raise SourceFileError(file.name, "the file is empty (0 bytes)")
        if file.name.lower().endswith(".csv"):
            _check_sheet(
                file.name, None, _csv_rows(local, file.name, limit=limit), columns, numeric
            )
            return
        try:
            workbook = CalamineWorkbook.from_path(local)
            for sheet in workbook.sheet_names:
                rows = list(itertools.islice(workbook.get_sheet_by_name(sheet).iter_rows(), limit))
                _check_sheet(file.name, sheet, rows, columns, numeric)
        except (CalamineError, ValueError, OSError) as exc:
            raise _unreadable(file.name, exc) from exc


def _check_sheet(
    name: str,
    sheet: str | None,
    rows: Sequence[Sequence[object]],
    columns: tuple[str, ...],
    numeric: tuple[str, ...],
) -> tuple[int, list[str]] | None:
    """The sheet's header (None when empty), after checking its numeric columns' first rows."""
    found = _header(name, sheet, rows, columns)
    if found is not None and numeric:
        _check_numeric(name, sheet, found, rows, numeric)
    return found


def _is_number(value: object) -> bool:
    if isinstance(value, int | float):
        return True
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return True


def _check_numeric(
    name: str,
    sheet: str | None,
    header: tuple[int, list[str]],
    rows: Sequence[Sequence[object]],
    numeric: tuple[str, ...],
) -> None:
    header_at, names = header
    position = {h.lower(): i for i, h in enumerate(names) if h}
    sample = rows[header_at + 1 : header_at + 1 + NUMERIC_SAMPLE_ROWS]
    for column in numeric:
        i = position[column]
        filled = [
            (number, row[i])
            for number, row in enumerate(sample, start=header_at + 2)
            if i < len(row) and cell_text(row[i]) is not None
        ]
        if len(filled) >= NUMERIC_EVIDENCE and not any(_is_number(v) for _, v in filled):
            row_number, value = filled[0]
            raise SourceFileError(
                name,
                f"column holds text where numbers are expected (first value {value!r}, "
                f"no number in its first {len(filled)} values)",
                sheet=sheet,
                row=row_number,
                column=column,
            )


def _unreadable(name: str, exc: Exception) -> SourceFileError:
    problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return SourceFileError(name, f"unreadable workbook ({problem})")


def _shape(
    name: str,
    sheet: str | None,
    grid: list[list[object]],
    columns: tuple[str, ...],
    numeric: tuple[str, ...] = (),
) -> tuple[list[tuple[object, ...]], int, list[str]]:
    """Map a sheet's header onto the dataset's columns; return rows, blank rows, extra columns."""
    found = _check_sheet(name, sheet, grid, columns, numeric)
    if found is None:
        log.warning("%s sheet %r is empty; skipped", name, sheet)
        return [], 0, []
    header_at, header = found
    position = {h.lower(): i for i, h in enumerate(header) if h}
    wanted = [position[c] for c in columns]
    extra = [(h, i) for i, h in enumerate(header) if h and h.lower() not in columns]
    rows: list[tuple[object, ...]] = []
    blank = 0
    for offset, raw in enumerate(grid[header_at + 1 :], start=header_at + 2):
        texts = [cell_text(v) for v in raw]
        if all(t is None for t in texts):
            blank += 1
            continue
        texts += [None] * (len(header) - len(texts))
        values = [texts[i] for i in wanted]
        extra_json = (
            json.dumps({h: texts[i] for h, i in extra}, ensure_ascii=False) if extra else None
        )
        rows.append((*values, sheet, offset, extra_json))
    return rows, blank, [h for h, _ in extra]
