"""Finding source files and reading them as text, with the file, sheet and row of every value.

A file's dataset comes from its name prefix (`orders_apr_2025.xlsx`) or from the folder it sits
in (`orders/2025-04-01.csv`). Workbooks are read with python-calamine (Excel is not a Spark
source); every worksheet is data. Values are kept as the text a user would see: whole numbers
without a trailing `.0`, empty cells as null. Nothing read is dropped or overwritten: a header
named twice is an error, and a value under a header the contract does not know, or under no
header at all, is kept in the row's `_extra` JSON.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from etl.contracts import DATASETS
from etl.errors import EtlError, SourceFileError

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")
CSV_DELIMITERS = ",;\t|"
# Excel leaves an owner file `~$<name>` beside a workbook while it is open; it is never data.
OWNER_FILE_PREFIX = "~$"
# Files and folders whose name starts with one of these are not sources (`_SUCCESS`, `.git`).
HIDDEN_PREFIXES = ("_", ".")
# A numeric column is checked on a sheet's first rows: if at least NUMERIC_EVIDENCE of them hold
# a value and none is a number, the column holds the wrong content and the file is rejected
# (a few bad cells among numbers are row faults and go to quarantine instead).
NUMERIC_SAMPLE_ROWS = 100
NUMERIC_EVIDENCE = 3

_ZIP = b"PK\x03\x04"  # .xlsx, .xlsm
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (and password-protected workbooks)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


_warned: set[tuple[str, str]] = set()


def _warn_once(uri: str, message: str, *args: object) -> None:
    """Log a warning about a listed file once per process: every job lists the sources again."""
    if (uri, message) not in _warned:
        _warned.add((uri, message))
        log.warning(message, *args)


class NoSourceFilesError(EtlError):
    """The source folder (or `--files`) holds no source file at all."""


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
    """Every source file under `source_dir` (or just `files`), sorted by name.

    Hidden files and folders and Excel owner files are skipped; so, with a warning, is a file
    named after a dataset in a format that is not read. Anything else that cannot be a source
    (a missing file, a folder, a dangling link, an unknown dataset) raises SourceFileError.
    """
    explicit = bool(files)
    found: dict[str, SourceFile] = {}
    for uri in dict.fromkeys(files) if explicit else _list(source_dir):
        name = _relative(uri, source_dir)
        if explicit:
            _require_file(uri, uri, source_dir)
        if _skipped(uri, name, explicit):
            continue
        if not explicit:
            _require_file(uri, name, source_dir)
        dataset = dataset_of(name)
        if dataset is None:
            raise SourceFileError(
                name,
                "unknown dataset: the name must start with, or sit in a folder named, one of "
                + ", ".join(DATASETS),
            )
        if name in found:
            if _same_file(found[name].uri, uri):
                continue
            raise SourceFileError(
                name,
                f"two files would be recorded under this name ({found[name].uri} and {uri}): "
                "rename one of them",
            )
        found[name] = SourceFile(uri=uri, name=name, dataset=dataset)
    return sorted(found.values(), key=lambda f: f.name)


def require_source_files(source_dir: str, files: tuple[str, ...] = ()) -> list[SourceFile]:
    """`discover`, raising NoSourceFilesError when it finds nothing at all to read."""
    found = discover(source_dir, files)
    if not found:
        where = "among --files" if files else f"in {source_dir}"
        raise NoSourceFilesError(
            f"no source files found {where}: expected {', '.join(SUFFIXES)} files whose name "
            f"starts with (or whose folder is named) {', '.join(DATASETS)}; check --source-dir"
        )
    return found


def _skipped(uri: str, name: str, explicit: bool) -> bool:
    """Whether a listed file is not a source: an owner file, a hidden file, another format."""
    path = PurePosixPath(name)
    if path.name.startswith(OWNER_FILE_PREFIX):
        _warn_once(
            uri,
            "%s: skipped: an Excel owner file, left while %s is open in Excel "
            "(save and close the workbook before the run)",
            name,
            path.name[len(OWNER_FILE_PREFIX) :],
        )
        return True
    hidden = (path.name,) if explicit else path.parts
    if any(part.startswith(HIDDEN_PREFIXES) for part in hidden):
        if explicit:
            _warn_once(uri, "%s: skipped: a hidden file (its name starts with _ or .)", name)
        return True
    if name.lower().endswith(SUFFIXES):
        return False
    if explicit:
        raise SourceFileError(name, f"not a source file: only {', '.join(SUFFIXES)} files are read")
    if dataset_of(name) is not None:
        _warn_once(uri, "%s: skipped: only %s files are read", name, ", ".join(SUFFIXES))
    return True


def _require_file(uri: str, shown: str, source_dir: str) -> None:
    """Raise SourceFileError unless a local `uri` is a readable regular file (or a link to one)."""
    if uri.startswith("s3://"):
        return
    if os.path.islink(uri) and not os.path.exists(uri):
        raise SourceFileError(
            shown,
            f"a symbolic link to {os.readlink(uri)}, which does not exist: "
            "restore the file it points to, or remove the link",
        )
    if not os.path.exists(uri):
        inside = os.path.join(source_dir, uri)
        hint = f"; did you mean {inside}?" if os.path.isfile(inside) else ""
        raise SourceFileError(
            shown,
            "does not exist: check the path (paths in --files are relative to the current "
            f"folder){hint}",
        )
    if os.path.isdir(uri):
        raise SourceFileError(
            shown, "is a folder, not a file: give it as --source-dir, or list the files in it"
        )
    if not stat.S_ISREG(os.stat(uri).st_mode):
        raise SourceFileError(shown, "is not a regular file (a pipe or a device): copy it to one")
    if not os.access(uri, os.R_OK):
        raise SourceFileError(shown, _PERMISSION)


_PERMISSION = "cannot be read: permission denied; give the user running the pipeline read access"


def _same_file(a: str, b: str) -> bool:
    if a.startswith("s3://") or b.startswith("s3://"):
        return a == b
    return os.path.realpath(a) == os.path.realpath(b)


def _relative(uri: str, source_dir: str) -> str:
    root = source_dir.rstrip("/") + "/"
    if uri.startswith(root):
        return uri[len(root) :]
    return PurePosixPath(uri).name


def _list(source_dir: str) -> list[str]:
    """Every file under a local folder, following linked folders once; hidden folders are not
    entered. A folder that cannot be listed is an error, not a silent gap."""
    if source_dir.startswith("s3://"):
        return _list_s3(source_dir)
    if not os.path.exists(source_dir):
        raise EtlError(f"source folder {source_dir} does not exist: check --source-dir")
    if not os.path.isdir(source_dir):
        raise EtlError(
            f"source folder {source_dir} is a file, not a folder: give its folder as "
            "--source-dir, or the file as --files"
        )

    def _unlistable(exc: OSError) -> None:
        raise EtlError(
            f"source folder {exc.filename} cannot be listed ({exc.strerror}): give the user "
            "running the pipeline read access"
        )

    out: list[str] = []
    visited: set[str] = set()
    for root, dirs, names in os.walk(source_dir, onerror=_unlistable, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:
            _warn_once(root, "%s: a link to a folder already read; not read again", root)
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(HIDDEN_PREFIXES)]
        out.extend(os.path.join(root, n) for n in names)
    return out


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _list_s3(prefix_uri: str) -> list[str]:
    import boto3
    from botocore.exceptions import ClientError

    bucket, prefix = _split_s3(prefix_uri.rstrip("/") + "/")
    pages = (
        boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    try:
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    except ClientError as exc:
        problem = f"source folder {prefix_uri} cannot be listed ({exc}): check --source-dir"
        raise EtlError(problem) from exc
    # A key ending in "/" is a folder marker (the S3 console's "Create folder"), not a file.
    return [f"s3://{bucket}/{key}" for key in keys if not key.endswith("/")]


@contextmanager
def _local_copy(uri: str, name: str) -> Iterator[str]:
    if not uri.startswith("s3://"):
        yield uri
        return
    import boto3
    from botocore.exceptions import ClientError

    bucket, key = _split_s3(uri)
    with tempfile.TemporaryDirectory(prefix="etl-src-") as folder:
        local = os.path.join(folder, PurePosixPath(key).name)
        try:
            boto3.client("s3").download_file(bucket, key, local)
        except ClientError as exc:
            raise SourceFileError(name, f"cannot be downloaded from {uri} ({exc})") from exc
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


def column_label(sheet: str | None, index: int) -> str:
    """Where a column is, as a user finds it: its letter in a worksheet (A, …, Z, AA, …), its
    1-based position in a CSV file (whose `sheet` is None)."""
    if sheet is None:
        return str(index + 1)
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def unheaded_key(sheet: str | None, index: int) -> str:
    """The `_extra` key of a value in a column without a header: `column_G`, `column_7`."""
    return f"column_{column_label(sheet, index)}"


def _probe(path: str, name: str) -> str:
    """What the file's content is: "csv", "zip" (.xlsx, .xlsm) or "ole" (.xls).

    Raises SourceFileError for an empty or unreadable file and for content that its name
    misdescribes beyond repair (a workbook named .csv, a web page named .xls).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except PermissionError as exc:
        raise SourceFileError(name, _PERMISSION) from exc
    except OSError as exc:
        raise SourceFileError(name, f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise SourceFileError(name, "the file is empty (0 bytes)")
    workbook = "zip" if head.startswith(_ZIP) else "ole" if head.startswith(_OLE2) else None
    if name.lower().endswith(".csv"):
        if workbook is not None:
            real = ".xlsx" if workbook == "zip" else ".xls"
            raise SourceFileError(name, f"is an Excel workbook, not CSV text: rename it to {real}")
        if head.startswith(_UTF16_BOMS):
            raise SourceFileError(name, "is UTF-16 text, not UTF-8: save it again as CSV UTF-8")
        return "csv"
    if workbook is not None:
        return workbook
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise SourceFileError(
            name,
            "unreadable workbook (it is an HTML or XML page, not an Excel file): open it in "
            "Excel and save it as .xlsx, or export it as CSV",
        )
    raise SourceFileError(
        name,
        "unreadable workbook (it is text, not an Excel file): if it is CSV, rename it to .csv",
    )


SheetSink = Callable[[str | None, list[tuple[object, ...]]], None]
Sheets = Iterable[tuple[str | None, list[list[object]]]]


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
    unheaded: dict[str, None] = {}
    with _local_copy(file.uri, file.name) as local:
        content = _probe(local, file.name)
        sha = file_sha256(local)
        if (file.name, sha) in known:
            return None
        sheets: Sheets
        if content == "csv":
            sheets = [(None, _csv_rows(local, file.name))]
        else:
            sheets = _workbook_sheets(local, file.name, content)
        for sheet, grid in sheets:
            shaped = _shape(file.name, sheet, grid, columns, numeric)
            del grid
            count += len(shaped.rows)
            blank += shaped.blank
            extras.update(shaped.extra)
            unheaded.update(dict.fromkeys(shaped.unheaded))
            if sink is None:
                rows.extend(shaped.rows)
            else:
                sink(sheet, shaped.rows)
    return SourceRows(file, sha, columns, rows, blank, _report_extra(file, extras, unheaded), count)


def _report_extra(file: SourceFile, extras: set[str], unheaded: dict[str, None]) -> tuple[str, ...]:
    """Warn, once per file, of what went to `_extra`; the keys the ledger records."""
    if extras:
        log.warning(
            "%s: extra columns %s kept in bronze (_extra), ignored in silver",
            file.name,
            ", ".join(sorted(extras)),
        )
    if unheaded:
        log.warning(
            "%s: values in columns without a header kept in bronze (_extra as %s), ignored in "
            "silver; give those columns a header",
            file.name,
            ", ".join(unheaded),
        )
    return tuple(sorted(extras)) + tuple(unheaded)


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
    first_line = text.splitlines()[0] if text else ""
    delimiter = max(CSV_DELIMITERS, key=first_line.count)
    # newline="": quoted fields keep their line breaks, and old Mac files (CR only) split.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return [list(r) for r in itertools.islice(reader, limit)]
    except csv.Error as exc:
        raise SourceFileError(name, f"malformed CSV: {exc}", row=reader.line_num) from exc


def _open_workbook(path: str, name: str, content: str) -> CalamineWorkbook:
    """The workbook, read by its content when its name says another format (as Excel does)."""
    named = "ole" if name.lower().endswith(".xls") else "zip"
    try:
        if content == named:
            return CalamineWorkbook.from_path(path)
        with open(path, "rb") as handle:
            return CalamineWorkbook.from_filelike(handle)
    except (CalamineError, ValueError, OSError) as exc:
        raise _unreadable(name, exc) from exc


_SHEET_KINDS = {
    "ChartSheet": "a chart sheet",
    "DialogSheet": "a dialog sheet",
    "MacroSheet": "a macro sheet",
    "Vba": "a VBA module",
}


def _worksheets(workbook: CalamineWorkbook, name: str, announce: bool) -> list[str]:
    """The names of the workbook's worksheets; chart, dialog and macro sheets hold no rows."""
    names = []
    for meta in workbook.sheets_metadata:
        if meta.typ == SheetTypeEnum.WorkSheet:
            names.append(meta.name)
        elif announce:
            kind = _SHEET_KINDS.get(str(meta.typ).rpartition(".")[2], "another kind of sheet")
            log.warning("%s sheet %r is %s, not a worksheet; skipped", name, meta.name, kind)
    return names


def _workbook_sheets(
    path: str, name: str, content: str
) -> Iterator[tuple[str | None, list[list[object]]]]:
    """The worksheets of a workbook, one at a time."""
    workbook = _open_workbook(path, name, content)
    if content != ("ole" if name.lower().endswith(".xls") else "zip"):
        real = "an .xls" if content == "ole" else "an .xlsx"
        log.warning("%s: the content is %s workbook; read as one", name, real)
    try:
        for sheet in _worksheets(workbook, name, announce=True):
            grid = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            yield sheet, [list(r) for r in grid]
    except (CalamineError, ValueError, OSError) as exc:
        raise _unreadable(name, exc) from exc


def _header(
    name: str, sheet: str | None, rows: Iterable[Sequence[object]], columns: tuple[str, ...]
) -> tuple[int, list[str]] | None:
    """Index and names of the header (the first non-empty row); None for an empty sheet.

    A header named twice is an error: either column would silently win over the other.
    """
    for index, raw in enumerate(rows):
        header = [(cell_text(v) or "").strip() for v in raw]
        if not any(header):
            continue
        first: dict[str, int] = {}
        for i, h in enumerate(header):
            if h and first.setdefault(h.lower(), i) != i:
                where = [column_label(sheet, j) for j in (first[h.lower()], i)]
                raise SourceFileError(
                    name,
                    f"the header {h!r} appears twice (columns {where[0]} and {where[1]}): "
                    "rename or remove one of them",
                    sheet=sheet,
                    row=index + 1,
                    column=h,
                )
        missing = [c for c in columns if c not in first]
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
    with _local_copy(file.uri, file.name) as local:
        content = _probe(local, file.name)
        if content == "csv":
            rows = _csv_rows(local, file.name, limit=limit)
            _check_sheet(file.name, None, rows, columns, numeric)
            return
        workbook = _open_workbook(local, file.name, content)
        try:
            for sheet in _worksheets(workbook, file.name, announce=False):
                grid = workbook.get_sheet_by_name(sheet).to_python(
                    skip_empty_area=False, nrows=limit
                )
                _check_sheet(file.name, sheet, grid, columns, numeric)
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
    return SourceFileError(
        name,
        f"unreadable workbook ({problem}): open it in Excel and save it again as .xlsx "
        "(without a password)",
    )


@dataclass(frozen=True)
class Shaped:
    """One sheet's data rows, its blank rows, its extra headers and the keys of its values
    found under no header."""

    rows: list[tuple[object, ...]]
    blank: int
    extra: list[str]
    unheaded: list[str]


@dataclass(frozen=True)
class _Layout:
    """Where a sheet's values go: contract columns, named extra columns, columns with no
    header (`unnamed`, and any cell past the header's `width`)."""

    sheet: str | None
    wanted: list[int]
    extra: list[tuple[str, int]]
    unnamed: list[int]
    width: int
    taken: frozenset[str]

    @property
    def plain(self) -> bool:
        """No extra column and no column without a header: rows need no `_extra`."""
        return not self.extra and not self.unnamed

    @classmethod
    def of(cls, sheet: str | None, header: list[str], columns: tuple[str, ...]) -> _Layout:
        position = {h.lower(): i for i, h in enumerate(header) if h}
        return cls(
            sheet,
            [position[c] for c in columns],
            [(h, i) for i, h in enumerate(header) if h and h.lower() not in columns],
            [i for i, h in enumerate(header) if not h],
            len(header),
            frozenset(h.lower() for h in header),
        )

    def extra_json(
        self, name: str, row: int, texts: list[str | None], unheaded: dict[str, None]
    ) -> str | None:
        """The row's `_extra`: named extra columns, then values under no header by position
        (their keys are added to `unheaded`)."""
        loose = [i for i in self.unnamed if texts[i] is not None]
        loose += [i for i in range(self.width, len(texts)) if texts[i] is not None]
        if not (self.extra or loose):
            return None
        kept = {h: texts[i] for h, i in self.extra}
        for i in loose:
            key = unheaded_key(self.sheet, i)
            if key.lower() in self.taken:
                label = column_label(self.sheet, i)
                raise SourceFileError(
                    name,
                    f"column {label} has no header but holds a value, and another column is "
                    f"headed {key}: give column {label} a header",
                    sheet=self.sheet,
                    row=row,
                )
            kept[key] = texts[i]
            unheaded[key] = None
        return json.dumps(kept, ensure_ascii=False)


def _shape(
    name: str,
    sheet: str | None,
    grid: list[list[object]],
    columns: tuple[str, ...],
    numeric: tuple[str, ...] = (),
) -> Shaped:
    """Map a sheet's header onto the dataset's columns.

    Values under a header the contract does not know, and values in a column without any
    header (also past the header's end in a CSV row), go to the row's `_extra` JSON: nothing
    read is dropped.
    """
    found = _check_sheet(name, sheet, grid, columns, numeric)
    if found is None:
        log.warning("%s sheet %r is empty; skipped", name, sheet)
        return Shaped([], 0, [], [])
    header_at, header = found
    layout = _Layout.of(sheet, header, columns)
    plain, width = layout.plain, layout.width
    unheaded: dict[str, None] = {}
    rows: list[tuple[object, ...]] = []
    blank = 0
    for offset, raw in enumerate(grid[header_at + 1 :], start=header_at + 2):
        texts = [cell_text(v) for v in raw]
        if all(t is None for t in texts):
            blank += 1
            continue
        texts += [None] * (width - len(texts))
        values = [texts[i] for i in layout.wanted]
        extra = (
            None
            if plain and len(texts) == width
            else layout.extra_json(name, offset, texts, unheaded)
        )
        rows.append((*values, sheet, offset, extra))
    return Shaped(rows, blank, [h for h, _ in layout.extra], list(unheaded))
