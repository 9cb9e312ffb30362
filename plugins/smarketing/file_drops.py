"""File drops: CSV and JSON Lines exports from any CRM or email tool, landed like an API source.

Each drop in ``config/file_drops.yaml`` names a folder (a local path, or any URL Airflow's
``ObjectStoragePath`` reads, such as ``s3://bucket/exports``), a file pattern, the format, and
how to map columns to fields. Rules:

- a load is one file's content read with the drop's mapping. A drop in ``append`` mode applies
  every file whose content or mapping differs from the last load of that file name (a copy of a
  file already loaded under another name is skipped); a drop in ``snapshot`` mode applies only its
  newest file (last in name order), which is the whole current state: the drop's records missing
  from it are marked deleted. A changed mapping applies the files again; a file whose name, size
  and modification time match its last load (or its last rejection) is skipped without reading;
- a file is loaded whole in one transaction or not at all: one that cannot be decoded, lacks a
  mapped column, repeats a column name, or has no rows is rejected with the reason in
  ``meta.file_loads`` (no row content) and the drop's other files and every other drop go on;
- files are read as streams in chunks, so a file's size is bounded by disk, not memory; only
  files inside the drop's folder are read (a symlink or ``..`` leading out is skipped, named);
- a malformed row (missing id or required value, a date or number that does not parse, a broken
  JSON line, the wrong number of fields) goes to ``quarantine.records`` with its reason, and the
  rest of the file loads;
- rows land in ``raw.file__<entity>``; a row's version is the time its file was loaded, so a later
  export of the same id supersedes the earlier one; within one file the last line of an id wins and
  the earlier ones are quarantined saying so. Every data row is thus either loaded or quarantined.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import html
import io
import json
import logging
import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Connection, Engine, text

from smarketing import file_catalog
from smarketing.config import PATHS
from smarketing.landing import ensure_raw_table, without_nul
from smarketing.warehouse import copy_rows

SOURCE = "file"
MODES = ("append", "snapshot")
CHUNK_ROWS = 5000  # rows shaped and copied at a time: memory stays flat whatever the file's size
log = logging.getLogger(__name__)
_ENCODE = msgspec.json.Encoder(enc_hook=str).encode


class FileDropError(RuntimeError):
    """A whole file was rejected; the message names the file and the reason."""


@dataclass(frozen=True)
class Drop:
    """One drop of ``config/file_drops.yaml``; ``entity`` is one of ``file_catalog.ENTITIES``."""

    name: str
    entity: str
    location: str
    pattern: str = "*.csv"
    format: str = "csv"
    mode: str = "append"
    delimiter: str = ","
    encoding: str = "utf-8"
    id_column: str = "id"
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file column -> fields; empty: its names
    constants: dict[str, str] = field(default_factory=dict)  # field -> the value of every row
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {file value: value}
    required: tuple[str, ...] = ()
    date_format: tuple[str, ...] = ("iso",)
    timezone: str = "UTC"
    decimal: str = "."

    @property
    def mapping_digest(self) -> str:
        """What decides how a file's rows become records: a load is a file's content read with this."""
        reading = {k: v for k, v in asdict(self).items() if k not in ("name", "location", "pattern")}
        return hashlib.sha256(json.dumps(reading, sort_keys=True, default=list).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DropFile:
    """One file of a drop, as listed: its name, size and modification time, and how to open it."""

    name: str
    size: int
    modified: str
    path: Any  # pathlib.Path or airflow.sdk.ObjectStoragePath

    def open(self) -> BinaryIO:
        return self.path.open("rb")


@dataclass
class DropStats:
    drop: str
    files_loaded: int = 0
    files_skipped: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_deleted: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # file -> reason
    skipped: dict[str, str] = field(default_factory=dict)  # file -> reason
    values_held: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> unnamed type or status -> rows


def load_drops(path: Path | None = None) -> list[Drop]:
    """The drops of ``config/file_drops.yaml`` (or ``path``), validated; none when it is absent."""
    from smarketing import settings

    drops = []
    for name, spec in settings.load("file_drops", path=path)["drops"].items():
        location = spec.pop("location")
        if "://" not in location and not Path(location).is_absolute():
            location = str(PATHS.root / location)
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        fields["columns"] = {column: tuple(targets) for column, targets in spec["columns"].items()}
        drops.append(Drop(name=name, location=location, **fields))
    return drops


def list_files(drop: Drop) -> tuple[list[DropFile], dict[str, str]]:
    """The files matching the drop's pattern in name order, and those left out with the reason (a
    match that leads outside the drop's folder, through a symlink or ``..``, or is no regular file)."""
    outside: dict[str, str] = {}
    if "://" in drop.location and not drop.location.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        remote = ObjectStoragePath(drop.location)
        prefix = str(remote).rstrip("/") + "/"
        files = []
        for p in sorted(remote.glob(drop.pattern), key=lambda p: str(p)):
            if not str(p).startswith(prefix):
                outside[str(p)] = "outside the drop's location"
            elif p.is_file():
                st = p.stat()
                files.append(DropFile(str(p)[len(prefix):], st.st_size, str(st.st_mtime), p))
        return files, outside
    folder = Path(drop.location.removeprefix("file://"))
    if not folder.is_dir():
        raise FileDropError(f"drop {drop.name}: folder {folder} does not exist")
    root = folder.resolve()
    files = []
    for path in sorted(folder.glob(drop.pattern)):
        name = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)
        if not path.resolve().is_relative_to(root) or ".." in Path(name).parts:
            outside[name] = f"leads outside the drop's folder {folder} (a symlink or '..'): not read"
            continue
        if not path.is_file():  # a folder, a pipe or a socket matching the pattern
            outside[name] = "is no regular file: not read"
            continue
        local = path.stat()
        files.append(DropFile(name, local.st_size, datetime.fromtimestamp(local.st_mtime, UTC).isoformat(), path))
    return files, outside


def unmatched(drops: list[Drop]) -> dict[str, dict[str, str]]:
    """Per drop (the first of those reading one local folder): the entries of its folder that no
    pattern of those drops matches or reaches into, with why; dot-files (uploads in progress, the
    system's own) left out. An export saved as ``.CSV`` or ``.csv.txt`` must not pass in silence."""
    sharing: dict[Path, list[Drop]] = {}
    for drop in drops:
        if "://" in drop.location and not drop.location.startswith("file://"):
            continue
        folder = Path(drop.location.removeprefix("file://"))
        if folder.is_dir():
            sharing.setdefault(folder.resolve(), []).append(drop)
    found: dict[str, dict[str, str]] = {}
    for folder, readers in sharing.items():
        reached: set[Path] = set()
        for drop in readers:
            for path in folder.glob(drop.pattern):
                relative = path.relative_to(folder)
                reached |= {relative, *relative.parents}
        patterns = ", ".join(dict.fromkeys(repr(d.pattern) for d in readers))
        left = {entry.name: (f"a folder no pattern of the drops reading this folder reaches ({patterns}): not read"
                             if entry.is_dir() else
                             f"matches no pattern of the drops reading this folder ({patterns}): not read")
                for entry in sorted(folder.iterdir())
                if not entry.name.startswith(".") and Path(entry.name) not in reached}
        if left:
            found[readers[0].name] = left
    return found


# -- reading ---------------------------------------------------------------------------------------

Row = tuple[int, dict[str, Any] | None, str]  # line number, row (None when malformed), problem


def _text(drop: Drop, name: str, handle: BinaryIO) -> io.TextIOWrapper:
    try:
        return io.TextIOWrapper(handle, encoding=drop.encoding, newline="" if drop.format == "csv" else None)
    except LookupError as exc:
        raise FileDropError(f"drop {drop.name}: file {name}: unknown encoding {drop.encoding!r}") from exc


def _rows(drop: Drop, name: str, handle: BinaryIO) -> Iterator[Row]:
    """Every data row of a file, read as a stream; raises FileDropError for the whole file."""
    stream = _text(drop, name, handle)
    try:
        yield from (_checked_json_rows(drop, name, stream) if drop.format == "jsonl" else _csv_rows(drop, name, stream))
    except UnicodeError as exc:
        raise FileDropError(f"drop {drop.name}: file {name} is not valid {drop.encoding}: {exc}") from exc
    except csv.Error as exc:
        raise FileDropError(f"drop {drop.name}: file {name} cannot be read as CSV: {exc}") from exc


def _refuse_utf8_in_a_legacy_encoding(drop: Drop, file: DropFile) -> None:
    """A one-byte encoding (latin-1, cp1252, ...) decodes any bytes: UTF-8 read so turns "Дмитрий"
    into "Ð”Ð¼Ð¸Ñ‚Ñ€Ð¸Ð¹". A file whose first megabyte holds non-ASCII bytes that are valid UTF-8 is
    rejected under such a drop (a legacy file with such bytes is next to impossible)."""
    try:
        if codecs.lookup(drop.encoding).name.replace("_", "-") in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
            return
    except LookupError:
        return  # the load names the unknown encoding
    with file.open() as handle:
        head = handle.read(1 << 20)
    if max(head, default=0) < 0x80:
        return
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut by the megabyte's end is no evidence
            return
    raise FileDropError(f"drop {drop.name}: file {file.name} is UTF-8, not {drop.encoding} (its accented letters would"
                        " load garbled); set the drop's encoding to utf-8")


class _RepeatedKeys(ValueError):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys)
        self.keys = keys


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _RepeatedKeys(sorted({k for k in keys if keys.count(k) > 1}))
    return dict(pairs)


def _json_rows(stream: io.TextIOWrapper) -> Iterator[Row]:
    for number, line in enumerate(stream, start=1):
        if number == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark is not part of the data
        if not line.strip():
            continue
        text_of = {"_line": line.strip()}  # a line not read: its text kept, the addresses in it held (_held_in)
        try:
            row = json.loads(line, object_pairs_hook=_once_each)
        except json.JSONDecodeError as exc:
            yield number, text_of, f"line {number} is not valid JSON: {exc.msg}"
            continue
        except _RepeatedKeys as exc:  # which of the two values holds is a guess, as with CSV headers
            yield number, text_of, f"line {number} repeats key(s) {exc.keys}"
            continue
        if not isinstance(row, dict):
            yield number, text_of, f"line {number} is a JSON {type(row).__name__}, not an object"
            continue
        yield number, row, ""


def _checked_json_rows(drop: Drop, name: str, stream: io.TextIOWrapper) -> Iterator[Row]:
    """The lines of a JSON Lines file; FileDropError at its end when a key the drop maps is on no
    line (a renamed key would drop its field, an opt-out for one), the file loaded in none of it.
    Keys mapped to no field are named in the log, as a CSV file's columns are."""
    seen: set[str] = set()
    for number, row, reason in _json_rows(stream):
        if row is not None and not reason:
            row, twice = _keys_in_any_case(drop, row)
            seen.update(row)
            if twice and not reason:  # which of them is meant is a guess: quarantined, an opt-out kept
                reason = f"line {number} writes key(s) {twice} in more than one case"
        yield number, row, reason
    needed = [drop.id_column, *_required_source_columns(drop), *drop.columns]
    missing = _missing(drop, needed, seen)
    if missing:
        raise FileDropError(f"drop {drop.name}: file {name} lacks mapped key(s) {missing} in every line; are they"
                            f" named as in config/file_drops.yaml?")
    _unmapped(drop, name, sorted(seen), "key(s)")


def _keys_in_any_case(drop: Drop, row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The line with each key the drop maps, written in another case (``OptOut`` for ``optout``),
    under its mapped name; and the names written in more than one case (their non-empty value kept)."""
    named = {c.casefold(): c for c in (*drop.columns, drop.id_column)}
    out, twice = dict(row), set()
    for key in row:
        name = named.get(key.casefold())
        if name is None or name == key:
            continue
        value = out.pop(key)
        if name in out:
            twice.add(name)
            if out[name] in (None, ""):
                out[name] = value
        else:
            out[name] = value
    return out, sorted(twice)


@functools.lru_cache(maxsize=256)
def _fields_in_any_case(entity: str, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """Of a row's keys (a file's header: the same for every row), those naming a field of ``entity``
    in another case, with the field."""
    fields = {f.casefold(): f for f in file_catalog.fields_of(entity)}
    return [(k, fields[k.casefold()]) for k in keys
            if isinstance(k, str) and k.casefold() in fields and fields[k.casefold()] != k]


def _missing(drop: Drop, needed: list[str], names: Iterable[str]) -> list[str]:
    """Of the columns (keys) a file must have, those it lacks; a field read by its own name (no
    column mapped to it) may be written in any case, as ``_mapped`` reads it."""
    present = set(names)
    folded = {n.casefold() for n in present}
    fields = set(file_catalog.fields_of(drop.entity))
    return sorted({c for c in needed if c not in present
                   and not (c in fields and c not in drop.columns and c.casefold() in folded)})


def _unmapped(drop: Drop, name: str, names: list[str], what: str) -> None:
    fields = {f.casefold() for f in file_catalog.fields_of(drop.entity)}
    unread = [n for n in names if n not in drop.columns and n != drop.id_column and n.casefold() not in fields]
    if unread:
        log.warning("drop %s: file %s: %s %s map to no field of %s: kept with each record, feeding nothing",
                    drop.name, name, what, unread, drop.entity)


csv.field_size_limit(16 * 2**20)  # a notes column of a CRM export runs past the 128 KB default


def _csv_rows(drop: Drop, name: str, stream: io.TextIOWrapper) -> Iterator[Row]:
    reader = csv.reader(stream, delimiter=drop.delimiter)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise FileDropError(f"drop {drop.name}: file {name} is empty or has no header row")
    header = [h.strip() for h in header]
    header[0] = header[0].removeprefix("\ufeff").strip()  # a byte-order mark is not part of the name
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:  # which of the two would hold the value is a guess
        raise FileDropError(f"drop {drop.name}: file {name} repeats column name(s) {repeated} in its header")
    needed = [drop.id_column, *_required_source_columns(drop), *drop.columns]  # a mapped column must be
    missing = _missing(drop, needed, header)  # there: a renamed one would drop its field
    if missing:
        raise FileDropError(  # the header's values are not shown: a file without one has a data row there
            f"drop {drop.name}: file {name} lacks required column(s) {missing} in its first line"
            f" ({len(header)} fields); is the first line a header, and is the delimiter {drop.delimiter!r}?"
        )
    _unmapped(drop, name, header, "column(s)")
    yield from _csv_records(reader, header, drop.delimiter)


def _csv_records(reader: Any, header: list[str], delimiter: str) -> Iterator[Row]:
    """The rows of a CSV reader past its header, blank ones left out, each with what makes it
    unreadable: more or fewer fields than the header (kept by position, the extra ones as
    ``_field_<n>``: what it says of its mailbox is held, _held_in), or lines swallowed by a quote."""
    start = reader.line_num + 1
    for values in reader:
        number, start, first = reader.line_num, reader.line_num + 1, start
        if not any(v.strip() for v in values):
            continue
        problem = ""
        if len(values) != len(header):
            problem = f"line {number} has {len(values)} fields, the header has {len(header)}"
        elif number > first and _reads_as_rows(values, delimiter, len(header)):
            problem = (f"lines {first}-{number} are one row: a quoted field runs over lines that read as rows"
                       " (a quote left open?)")
        yield number, dict(zip(header, values, strict=False)) | {
            f"_field_{n}": v for n, v in enumerate(values[len(header):], start=len(header) + 1)}, problem


def _reads_as_rows(values: list[str], delimiter: str, columns: int) -> bool:
    """Whether a field of a row read over several lines holds a line with as many delimiters as a
    row has: rows swallowed by a quote left open, not a note written over lines."""
    return columns > 1 and any(line.count(delimiter) >= columns - 1
                               for value in values if "\n" in value or "\r" in value
                               for line in value.splitlines()[1:])


def _required_source_columns(drop: Drop) -> list[str]:
    reverse = {target: source for source, targets in drop.columns.items() for target in targets}
    return [reverse.get(f, f) for f in _required(drop) if f not in drop.constants]


def _required(drop: Drop) -> list[str]:
    return [*(f.name for f in file_catalog.entity(drop.entity).fields if f.required), *drop.required]


def _mapped(drop: Drop, row: dict[str, Any]) -> dict[str, Any]:
    """The row under field names, the drop's `values` applied: a mapped column wins over an
    unmapped one that happens to carry a field's name (an extra "email_opt_out" column once
    blanked the mapped "Do not email" and let the address through); constants win over both
    (settings refuse a field that is both). A quarantined row keeps this too: suppression reads
    what it says of its mailbox."""
    mapped = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k not in drop.columns}
    for key, name in _fields_in_any_case(drop.entity, tuple(mapped)):  # "Email_Opt_Out" too
        if mapped.get(name) in (None, ""):
            mapped[name] = mapped[key]
    for column, targets in drop.columns.items():
        if column in row:
            value = row[column].strip() if isinstance(row[column], str) else row[column]
            mapped.update(dict.fromkeys(targets, value))
    mapped |= drop.constants
    for entity, name in file_catalog.VOCABULARY:  # a JSON number or boolean as the text it is written as
        if entity == drop.entity and isinstance(mapped.get(name), bool | int | float):
            mapped[name] = json.dumps(mapped[name])
    for name in {*drop.values, *(n for e, n in file_catalog.VOCABULARY if e == drop.entity)}:
        if name in mapped or "" in drop.values.get(name, {}):
            mapped[name] = _valued(drop, name, mapped.get(name))
    return mapped


def _valued(drop: Drop, name: str, value: Any) -> Any:
    """``value`` of field ``name`` as the drop's `values` map it (as written, else ignoring case),
    then as the shared word of a fixed vocabulary, where it writes one."""
    mapping = drop.values.get(name, {})
    if isinstance(value, str) or value is None:  # "" maps an empty value (null, a key missing)
        written = (value or "").strip()
        value = mapping.get(written, {k.strip().casefold(): v for k, v in mapping.items()}.get(written.casefold(),
                                                                                               value))
    return _vocabulary_word(drop.entity, name, value) or value


def _moment(value: str, drop: Drop) -> datetime | None:
    """The instant ``value`` names under the drop's date formats (the first that fits) and time
    zone (for a value without an offset; a date alone is its midnight)."""
    for fmt in drop.date_format:
        try:
            parsed = datetime.fromisoformat(value) if fmt == "iso" else datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(drop.timezone))
    return None


_INVISIBLE = dict.fromkeys(map(ord, "\u00a0\u200b\u200c\u200d\u2060\ufeff"))  # no-break and zero-width spaces
_INVISIBLE_SEPARATING = dict.fromkeys(_INVISIBLE, " ")  # between two addresses they separate them
_ANGLED = re.compile(r"^[^<>]*<([^<>]+)>\s*$")
_PLAIN_ADDRESS = re.compile(  # an address _address has nothing to decode in
    r"[A-Za-z0-9_+\-](?:[A-Za-z0-9._+\-']*[A-Za-z0-9_+\-])?@[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?\Z")


def _address(value: str) -> str:
    """The address an export's cell holds: without invisible spaces (in a cell of several addresses
    they part them), a display name and angle brackets (``Grace Hopper <grace@example.com>``) or a
    ``mailto:``, decoded when it writes one address encoded or decorated (``p%40x.de``,
    ``"p@x.de",``). Whatever is left and is no address is caught by the entity's suite."""
    cleaned = value.translate(_INVISIBLE if value.count("@") < 2 else _INVISIBLE_SEPARATING).strip()
    angled = _ANGLED.match(cleaned)
    if angled:
        cleaned = angled.group(1).strip()
    cleaned = cleaned.removeprefix("mailto:").removeprefix("MAILTO:").strip()
    if _PLAIN_ADDRESS.match(cleaned):  # most cells: nothing to decode (5 µs a cell saved)
        return cleaned
    return _decoded_address(cleaned)


def _decoded_address(cleaned: str) -> str:
    """One address however written (URL- or HTML-encoded, full-width letters or at sign, in
    quotes, a bracket or comma after it) is that address, in Unicode's compatibility form (NFKC);
    several (two at signs, whatever parts them), or a formula-like one and the address in it, stay
    as written: core.mailbox_keys reads each."""
    if _decoded_text(cleaned).count("@") != 1:
        return cleaned
    found: dict[str, str] = {}
    for address in _addresses_in(cleaned, False):
        normal = unicodedata.normalize("NFKC", address)
        found.setdefault(normal.casefold(), normal)
    return next(iter(found.values())) if len(found) == 1 else cleaned


def _vocabulary_word(entity: str, name: str, value: Any) -> str | None:
    """The word of a field's fixed vocabulary that ``value`` writes, ignoring case, spaces, hyphens
    and underscores, and the usual variants (``HardBounce``, ``Unsubscribed``, ``spam``); None
    when it is none of them."""
    if not isinstance(value, str):
        return None
    folded = re.sub(r"[\s_\-]", "", value.casefold())
    words = file_catalog.VOCABULARY.get((entity, name), ())
    by_form = {w.replace("_", ""): w for w in words} | {
        v: w for w, variants in file_catalog.VARIANTS.items() for v in variants if w in words}
    return by_form.get(folded)


def _number(value: str, drop: Drop) -> Decimal | None:
    cleaned = value.replace(" ", "")
    if drop.decimal != ".":
        # '.' only groups thousands then: "1200.50" is no number there (it read as 120050)
        if "." in cleaned and not re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(" + re.escape(drop.decimal) + r"\d*)?",
                                               cleaned):
            return None
        cleaned = cleaned.replace(".", "").replace(drop.decimal, ".")
    # Digits, one decimal point and an exponent: Python's Decimal also takes 'Infinity', 'NaN',
    # '1_000' and '1e999999'; beyond 1e300 (or below 1e-300) no double holds it, and a range check
    # that compares it as one cannot run (meta.try_numeric reads the same as no number)
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?", cleaned):
        return None
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if not number or Decimal("1e-300") <= abs(number) <= Decimal("1e300") else None


# What exports write in a legal basis column for none (quotes, spaces and dots aside): no legal
# basis; so is a value of punctuation alone ("-", an em dash, "?")
NO_LEGAL_BASIS = frozenset({"none", "no", "n", "na", "n/a", "null", "nil", "false", "0", "unknown", "notgiven",
                            "notprovided", "notset", "missing", "tbd", "tbc", "tba", "keine", "nein", "ka",
                            "k/a", "unbekannt"})


def _no_legal_basis(value: str) -> bool:
    folded = re.sub(r"[\s.'\"`]", "", value.casefold())
    return folded in NO_LEGAL_BASIS or not any(c.isalnum() for c in folded)


def _shape(drop: Drop, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Map and type one row by the entity catalog; (None, reason) when it is malformed."""
    record_id = str(row.get(drop.id_column) or "").strip()
    if not record_id:
        return None, f"no value in id column {drop.id_column!r}"
    read_by_column = {target for targets in drop.columns.values() for target in targets}
    twice = [name for key, name in _fields_in_any_case(drop.entity, tuple(row))
             if name not in read_by_column and row.get(name) not in (None, "") and row[key] not in (None, "")
             and str(row[key]).strip() != str(row[name]).strip()]
    if twice:  # which is meant is a guess: quarantined, the addresses it writes held
        return None, f"field(s) {twice} written in more than one case, with different values"
    mapped = _mapped(drop, row)
    fields = file_catalog.fields_of(drop.entity)
    system = mapped.get("system") or ""
    for name in _required(drop):
        if mapped.get(name) in (None, ""):
            return None, f"required field {name!r} is empty"
    for name, spec in fields.items():
        value = mapped.get(name)
        if value in (None, ""):
            mapped[name] = None
            continue
        if isinstance(value, dict | list):  # str() would give Python's repr: an address nobody has
            return None, f"field {name!r} is a JSON {'object' if isinstance(value, dict) else 'array'}, not a value"
        value = str(value)
        if spec.kind in ("date", "timestamp"):
            instant = _moment(value, drop)
            if instant is None:
                return None, f"field {name!r} matches no date format of the drop ({', '.join(drop.date_format)})"
            mapped[name] = instant.astimezone(ZoneInfo(drop.timezone)).date().isoformat() if spec.kind == "date" \
                else instant.astimezone(UTC).isoformat()
        elif spec.kind == "number":
            number = _number(value, drop)
            if number is None:
                return None, (f"field {name!r} is not a number (decimal separator {drop.decimal!r}"
                              + (", '.' groups thousands)" if drop.decimal != "." and "." in value else ")"))
            mapped[name] = str(number)
        elif spec.kind == "email":
            mapped[name] = _address(value)
        elif name == "legal_basis" and _no_legal_basis(value):
            mapped[name] = None  # a placeholder: subscribed without a basis (no_consent when it is required)
        elif spec.kind == "id" and system:
            mapped[name] = f"{system}:{value}"
        vocabulary = file_catalog.VOCABULARY.get((drop.entity, name))
        if vocabulary and value not in vocabulary:  # _mapped gave the shared word where there is one
            return None, (f"field {name!r} is none of {', '.join(vocabulary)} (map the file's own values"
                          f" with the drop's `values`)")
    if drop.entity == "deals" and mapped.get("close_date") is None:  # a won or lost day given as a date alone
        closed = mapped.get("won_date") or mapped.get("lost_date")  # is that day; a moment's day is taken in
        local = datetime.fromisoformat(closed).astimezone(ZoneInfo(drop.timezone)) if closed else None
        if local is not None and local.time() == datetime.min.time():  # the reporting time zone (staging)
            mapped["close_date"] = local.date().isoformat()
    mapped["_record_id"] = f"{system}:{record_id}" if system else record_id
    return mapped, ""


# -- deciding what to load -------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """What a run does with one file: ``load`` it, or ``skip`` it for ``reason``."""

    file: DropFile
    action: str
    reason: str = ""
    checksum: str | None = None
    rejected: str = ""  # skipped as unchanged since rejected: the rejection's reason


def _checksum(file: DropFile) -> str:
    digest = hashlib.sha256()
    with file.open() as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _loads(conn: Connection, drop: Drop) -> list[Any]:
    """The drop's recorded loads and rejections, oldest first."""
    return list(conn.execute(text(
        "select file_name, checksum, mapping_digest, size_bytes, modified, status, reason, loaded_at"
        " from meta.file_loads where drop_name = :drop order by loaded_at, file_name"), {"drop": drop.name}))


def plan(eng: Engine | None, drop: Drop, force: bool = False) -> tuple[list[Step], dict[str, str]]:
    """What the next load of ``drop`` does with each of its files, and the files left out with the
    reason (outside the folder). ``force`` loads again what the recorded loads would skip; without
    a warehouse (``eng`` None, or one not yet migrated) nothing was loaded yet."""
    files, outside = list_files(drop)
    records = []
    if eng is not None:
        with eng.connect() as conn:
            if conn.execute(text("select to_regclass('meta.file_loads') is not null")).scalar():
                records = _loads(conn, drop)
    digest = drop.mapping_digest
    last_of_name = {r.file_name: r for r in records}  # the latest attempt per name (records are oldest first)
    applied = [r for r in records if r.status == "loaded" and r.mapping_digest == digest]
    last_applied = applied[-1] if applied else None
    steps: list[Step] = []
    if drop.mode == "snapshot" and files:
        newest = files[-1]
        steps += [Step(f, "skip", f"older than {newest.name}, the newest file of this snapshot drop")
                  for f in files[:-1]]
        files = [newest]
    for file in files:
        if force:
            steps.append(Step(file, "load", "loads on the next run: a reload applies every file again"))
            continue
        last = last_of_name.get(file.name)
        # in force: its last load under this name (a snapshot's only if no other file applied since)
        current = last is not None and last.mapping_digest == digest and (
            last.status == "rejected" or drop.mode == "append" or last is last_applied)
        if current and last is not None and (last.size_bytes, last.modified) == (file.size, file.modified):
            steps.append(Step(file, "skip", _unchanged(last), rejected=last.reason or ""))  # not read again
            continue
        checksum = _checksum(file)
        if current and last is not None and last.checksum == checksum:
            steps.append(Step(file, "skip", _unchanged(last), checksum, rejected=last.reason or ""))
            continue
        copy = next((r for r in applied if r.checksum == checksum and r.file_name != file.name), None)
        if copy and drop.mode == "append":
            steps.append(Step(file, "skip", f"the same content as {copy.file_name}, loaded {_when(copy)}", checksum))
            continue
        why = ("new" if last is None else "the drop's mapping changed since it was loaded"
               if last.mapping_digest != digest else "changed since it was last read")
        steps.append(Step(file, "load", f"loads on the next run ({why})", checksum))
    return steps, outside


def _when(record: Any) -> str:
    return f"{record.loaded_at:%Y-%m-%d %H:%M} UTC"


def _unchanged(record: Any) -> str:
    if record.status == "rejected":
        return f"unchanged since it was rejected {_when(record)}: {record.reason}"
    return f"unchanged since it was loaded {_when(record)}"


# -- loading ---------------------------------------------------------------------------------------

def load_drop(eng: Engine, drop: Drop, run_id: str, force: bool = False) -> DropStats:
    """Apply the new or changed files of ``drop`` (every file again when ``force``). A rejected file
    is recorded and named in the result; the others go on. Loads of one drop take turns (an
    advisory lock): a second one waits, then skips what the first loaded."""
    from smarketing.warehouse import take_turn

    with eng.connect() as lock:
        take_turn(lock, f"file_drop:{drop.name}", f"drop {drop.name}", session=True)
        lock.commit()
        try:
            return _apply(eng, drop, run_id, force)
        finally:
            lock.execute(text("select pg_advisory_unlock(hashtext(:key))"), {"key": f"file_drop:{drop.name}"})
            lock.commit()


def _apply(eng: Engine, drop: Drop, run_id: str, force: bool) -> DropStats:
    stats = DropStats(drop.name)
    steps, outside = plan(eng, drop, force)
    if force:  # a reload applies every file again: what validation held back of the drop is superseded
        with eng.begin() as conn:
            conn.execute(text("update meta.batches set superseded_at = now() where validated_at is null"
                              " and superseded_at is null and batch_id in (select batch_id from meta.file_loads"
                              " where drop_name = :drop)"), {"drop": drop.name})
    for name, reason in outside.items():
        log.warning("drop %s: file %s %s", drop.name, name, reason)
        stats.skipped[name] = reason
    for step in steps:
        file = step.file
        if step.action == "skip":
            if step.rejected:  # still rejected: its problem stands until the file changes
                log.warning("drop %s: file %s is still rejected: %s", drop.name, file.name, step.reason)
                stats.rejected[file.name] = step.rejected
            else:
                log.info("drop %s: file %s skipped: %s", drop.name, file.name, step.reason)
            stats.skipped[file.name] = step.reason
            if step.checksum:  # touched but the same: next time the quick check suffices
                _restamp(eng, drop, file, step.checksum)
            continue
        checksum = step.checksum or _checksum(file)
        try:
            loaded, quarantined, deleted = _load_file(eng, drop, file, checksum, run_id)
        except FileDropError as exc:
            kept, held, whole = _keep_opt_outs(eng, drop, file, str(exc), run_id)
            reason = str(exc) + ((f"; its {held} address{'es are' if held != 1 else ' is'} held off every list until"
                                  f" a file named {file.name} loads (who in it opted out cannot be told)") if whole else
                                 (f"; {held} address(es) of its rows that cannot be read, or give a type or status no"
                                  " word names, are held off every list (`smarketing files status`)") if held else "")
            log.warning("%s; the drop's other files and the other drops go on%s", reason,
                        f"; {kept} row(s) in it that opt an address out or unsubscribe, bounce or complain still"
                        " suppress their mailboxes" if kept else "")
            _record_file(eng, drop, file, checksum, run_id, "rejected", reason=reason)
            stats.rejected[file.name] = reason
            continue
        log.info("drop %s: file %s loaded: %d rows, %d quarantined, %d marked deleted",
                 drop.name, file.name, loaded, quarantined, deleted)
        stats.files_loaded += 1
        stats.rows_loaded += loaded
        stats.rows_quarantined += quarantined
        stats.rows_deleted += deleted
    stats.files_skipped = len(stats.skipped)
    _resolve_held_values(eng, drop)
    stats.values_held = _held_values(eng, drop)
    for name, values in stats.values_held.items():
        log.warning("drop %s: file %s: rows held off every list for a %s no word of the vocabulary names (%s):"
                    " map it with the drop's `values`", drop.name, name, SIGNAL[drop.entity],
                    ", ".join(f"{v!r} {n}" if v else f"none {n}" for v, n in values.items()))
    return stats


def _resolve_held_values(eng: Engine, drop: Drop) -> None:
    """Each row held for a type or status no word named, as the drop's `values` read it now: mapped
    to a word, it counts as what it says (expectation ``resolved_value``: suppression reads an
    unsubscribe or a hard bounce as any quarantined row's, an open as nothing); not mapped (the
    mapping taken back), it is held again. Whether the file that held it is still there or not: an
    export's next version need not repeat the event."""
    if file_catalog.VOCABULARY.get((drop.entity, SIGNAL.get(drop.entity, ""))) is None:
        return
    with eng.begin() as conn:
        rows = conn.execute(text(
            "select record_id, version_at, expectation, payload ->> 'field', payload ->> 'value',"
            " payload -> 'mapped' ->> 'email', payload -> 'mapped' ->> (payload ->> 'field')"
            " from quarantine.records where source = :source and entity = :entity and payload ->> 'drop' = :drop"
            " and (expectation = 'resolved_value' or (expectation = any(:held)"
            "  and payload ->> 'hold_reason' = 'unknown_value'))"),
            {"source": SOURCE, "entity": drop.entity, "held": list(HELD), "drop": drop.name}).all()
        for record_id, version_at, expectation, field, value, addresses, was in rows:
            word = _valued(drop, field, value)
            if not isinstance(word, str) or not (word in file_catalog.VOCABULARY[(drop.entity, field)]
                                                 or _silent(drop.entity, word)):
                word = None
            if (expectation == "resolved_value") == (word is not None) and (word is None or word == was):
                continue  # as the values say already
            key = {"source": SOURCE, "entity": drop.entity, "record_id": record_id, "version_at": version_at,
                   "expectation": expectation}
            file = record_id.rsplit(":", 1)[0]
            if word is None:
                because = (f"{field} {value!r} is no word of the vocabulary and not mapped by the drop's `values`"
                           if value else f"{field} is empty") + (
                    ": held off every list until the drop's `values` maps it")
                update = ("expectation = 'unreadable_row_held', reason = :reason, payload = payload"
                          " - 'hold' - 'hold_reason' || jsonb_build_object('hold', cast(:because as text),"
                          " 'hold_reason', 'unknown_value', 'mapped', jsonb_build_object('email', cast(:addresses"
                          " as text)))")
            else:
                because = f"{field} {value!r}, no word of the vocabulary, is {word} by the drop's values"
                update = ("expectation = 'resolved_value', reason = :reason, payload = payload - 'hold'"
                          " - 'hold_reason' || jsonb_build_object('mapped', jsonb_build_object('email',"
                          " cast(:addresses as text), cast(:field as text), cast(:word as text)))")
            conn.execute(text(
                f"update quarantine.records set {update} where source = :source and entity = :entity"  # noqa: S608
                " and record_id = :record_id and version_at = :version_at and expectation = :expectation"),
                key | {"addresses": addresses, "field": field, "word": word, "because": because,
                       "reason": f"{record_id}: {because}"})
            log.info("drop %s: %s of %s: %s", drop.name, field, file, because)


def _suppresses(entity: str, mapped: dict[str, Any]) -> bool:
    """Whether a row says its mailbox must get no mail: an opt-out flag, an unsubscribe, a hard
    bounce or a complaint, an unsubscribed or opted-out status (as sql/nurture/suppressed_mailbox.sql
    reads quarantined rows)."""
    if entity in ("leads", "contacts"):
        flag = str(mapped.get("email_opt_out") or "").strip().lower()
        return flag not in ("", "false", "no", "n", "0", "f", "nein")
    if entity == "email_events":
        return mapped.get("type") in ("unsubscribe", "hard_bounce", "complaint")
    if entity == "subscriptions":
        return mapped.get("status") in ("unsubscribed", "opted_out")
    return False


SIGNAL = {"leads": "email_opt_out", "contacts": "email_opt_out", "email_events": "type", "subscriptions": "status"}
ADDRESS = re.compile(r"[^\s@,;:<>()\[\]{}\"`|\\]+@[\w.\-]+")  # O'Brien's apostrophe kept; a domain's letters


def _keep_opt_outs(eng: Engine, drop: Drop, file: DropFile, reason: str, run_id: str) -> tuple[int, int, bool]:
    """Read a rejected file again as far as it goes, forgiving (undecodable bytes replaced, no
    column checks), and quarantine each row that suppresses its mailbox: the file stays rejected,
    but an opt-out in it is never lost. When the columns saying who must get no mail cannot be
    located (another delimiter, a renamed or repeated column, a key on no line) or the file cannot
    be read, every address in it is held instead (``_hold_addresses``). Returns (rows kept,
    addresses held, whether every address in it is held)."""
    if drop.entity not in SIGNAL:
        return 0, 0, False
    kept: list[dict[str, Any]] = []
    doubtful: list[dict[str, Any]] = []  # rows whose fields cannot be told apart: their addresses held
    names: list[str] = []
    try:
        encoding = _readable_encoding(file, drop.encoding)
        with file.open() as handle:
            stream = io.TextIOWrapper(handle, encoding=encoding or drop.encoding, errors="replace",
                                      newline="" if drop.format == "csv" else None)
            if drop.format == "jsonl":
                def lines() -> Iterator[tuple[int, Any, str]]:
                    for n, r, problem in _json_rows(stream):
                        if isinstance(r, dict) and not problem:
                            r, twice = _keys_in_any_case(drop, r)
                            problem = "a key written in two cases" if twice else ""
                            names.extend(k for k in r if k not in names)
                        yield n, r, problem
                rows: Iterator[tuple[int, Any, str]] = lines()
            else:
                reader = csv.reader(stream, delimiter=drop.delimiter)
                named = {c.casefold(): c for c in (*drop.columns, drop.id_column)}  # a name in another case too
                header = [named.get(h.casefold(), h) for h in (h.strip().removeprefix("\ufeff")
                                                               for h in next(reader, []))]
                names = header
                rows = _csv_records(reader, header, drop.delimiter)
            for number, row, problem in rows:
                if isinstance(row, dict):
                    mapped = _mapped(drop, row)
                    if addresses := _held_in(drop, row, problem, mapped):
                        doubtful.append(_held_row(drop, file.name, number, addresses, problem,
                                                  f"its file was rejected ({reason})", mapped))
                    if mapped.get("email") and _suppresses(drop.entity, mapped) and not _has_nul(row):
                        kept.append({"record_id": f"{file.name}:{number}", "payload": _quarantine_payload(
                            drop, file.name, number, row, mapped, keep_row=False),
                            "reason": f"{file.name} line {number}: its file was rejected ({reason}); kept for what"
                                      " it says of its mailbox"})
        unlocated = _unlocated(drop, names)
    except (OSError, UnicodeError, csv.Error, LookupError) as exc:
        log.warning("drop %s: file %s could not be read for its opt-outs either: %s", drop.name, file.name, exc)
        unlocated = [f"none ({exc})"]
    with eng.begin() as conn:  # earlier holds of the file stay: only a version of it that loads lifts them
        _quarantine(conn, drop, "rejected_file", kept, run_id)
        if unlocated:
            _hold_addresses(conn, drop, file, unlocated, run_id)
        else:  # the whole file's holds cover these rows already when its columns are not located
            _quarantine(conn, drop, "unreadable_row_held", doubtful, run_id)
        held, whole = conn.execute(text(  # all the file holds, earlier rejections' too
            "select count(*), count(*) filter (where expectation = 'rejected_file_held') > 0 from quarantine.records"
            " where source = :source and expectation = any(:held) and payload ->> 'drop' = :drop"
            " and payload ->> 'file' = :file"),
            {"source": SOURCE, "held": list(HELD), "drop": drop.name, "file": file.name}).one()
    return len(kept), held, whole


HELD = ("rejected_file_held", "unreadable_row_held")  # quarantine.records expectations of held addresses


def holds(eng: Engine) -> dict[str, dict[str, tuple[int, datetime, list[str]]]]:
    """Per drop name (a drop since renamed or removed too) and file: the addresses held off every
    list (the file rejected unread, rows whose fields could not be told apart or whose type or
    status no word names), since when, and those types or statuses ("" for none)."""
    with eng.connect() as conn:
        if not conn.execute(text("select to_regclass('quarantine.records') is not null")).scalar():
            return {}
        found = conn.execute(text(
            "select payload ->> 'drop', payload ->> 'file',"
            " sum(cardinality(string_to_array(btrim(payload -> 'mapped' ->> 'email'), ' '))), min(quarantined_at),"
            " jsonb_object_agg(coalesce(payload ->> 'value', ''), 1) filter (where payload ->> 'hold_reason'"
            "  = 'unknown_value') from quarantine.records"
            " where source = :source and expectation = any(:held) group by 1, 2 order by 1, 2"),
            {"source": SOURCE, "held": list(HELD)}).all()
    by_drop: dict[str, dict[str, tuple[int, datetime, list[str]]]] = {}
    for drop, name, count, since, values in found:
        by_drop.setdefault(drop, {})[name] = (count, since, sorted(values or {}))
    return by_drop


def still_held_by(eng: Engine, drops: Iterable[Drop], drop: str, name: str) -> tuple[Drop, str] | None:
    """The drop and file that still hold what file ``name`` of drop ``drop`` said: a file of that
    name in the folder the hold was made over (whether a drop reads it still or not) or in the hold's
    drop's folder, matching its pattern or not, or a file in any drop's folder with content the drop
    read under that name (renamed), unless another drop of the hold's entity has read that content
    with its mapping of now (the drop renamed: its holds are that drop's). None when no file holds
    it: its hold may be released."""
    drops = list(drops)
    with eng.connect() as conn:
        read = set(conn.execute(text("select checksum from meta.file_loads where drop_name = :drop"
                                     " and file_name = :file"), {"drop": drop, "file": name}).scalars())
        found = conn.execute(text(
            "select distinct entity, payload ->> 'location' from quarantine.records where source = :source"
            " and expectation = any(:held) and payload ->> 'drop' = :drop and payload ->> 'file' = :file"),
            {"source": SOURCE, "held": list(HELD), "drop": drop, "file": name}).all()
        entities = {entity for entity, _ in found}
        locations = {location for _, location in found}
        # the folders the hold was made over, as the hold's drop (a drop no longer there too)
        folders = [replace(drops[0], name=drop, location=location) for location in locations
                   if location and drops and all(location != d.location for d in drops)]
        for holder in [*drops, *folders]:
            try:
                files, _ = list_files(replace(holder, pattern="**/*"))
            except (OSError, FileDropError):  # a folder not there holds no file
                continue
            by_name = holder.name == drop or None in locations or holder.location in locations
            for file in files:
                content = functools.cache(lambda file=file: _checksum(file))  # a whole file's read, once
                if not ((by_name and file.name == name) or (read and file.size and content() in read)):
                    continue
                if holder.name != drop and entities <= {holder.entity} and conn.execute(text(
                        "select exists (select from meta.file_loads where drop_name = :holder and checksum = :sum"
                        " and mapping_digest = :digest)"),
                        {"holder": holder.name, "sum": content(), "digest": holder.mapping_digest}).scalar():
                    continue
                return holder, file.name
    return None


def release(eng: Engine, drop: str, name: str) -> int:
    """Lift the hold on the addresses of drop ``drop``'s file ``name`` without loading it (it was
    removed for good, say): what the file said of its mailboxes is given up. Returns the addresses."""
    with eng.begin() as conn:
        released = conn.execute(text(
            "delete from quarantine.records where source = :source and expectation = any(:held)"
            " and payload ->> 'drop' = :drop and payload ->> 'file' = :file"),
            {"source": SOURCE, "held": list(HELD), "drop": drop, "file": name}).rowcount
    if released:
        log.warning("drop %s: file %s: the hold on its %d address(es) lifted by hand", drop, name, released)
    return released


def _unlocated(drop: Drop, names: list[str]) -> list[str]:
    """Of the fields saying who must get no mail (the opt-out flag, event type or subscription
    status, and the address), those the drop reads that a file's column names (a JSON Lines file's
    keys) do not locate exactly once, named as the drop maps them; none when the drop's files cannot
    say it (no column mapped to it, none named like it: a file split at another delimiter has the
    name inside its one column)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    missing = []
    for target in (SIGNAL[drop.entity], "email"):
        if target in drop.constants:
            continue
        columns = [c for c, targets in drop.columns.items() if target in targets]
        if any(counts.get(c.casefold()) == 1 for c in columns):
            continue
        if not columns:  # read only from a column named like the field
            if counts.get(target.casefold()) == 1:
                continue
            if target not in _required(drop) and not any(target.casefold() in name.casefold() for name in names):
                if target != "email":
                    return []  # no file of the drop says it: nothing in this one to lose
                continue
        missing.extend(columns or [target])
    return missing


def _hold_addresses(conn: Connection, drop: Drop, file: DropFile, unlocated: list[str], run_id: str) -> int:
    """Quarantine every address written anywhere in a rejected file whose opt-outs cannot be read,
    once each (expectation ``rejected_file_held``; sql/nurture/suppressed_mailbox.sql suppresses it
    as ``rejected_file``) until a file of that name loads (``_load_file`` lifts the hold). Errs on
    the safe side: an address in a notes column is held too. Returns the addresses held."""
    because = (f"its file was rejected and its column(s) {unlocated} saying who must get no mail could not be"
               f" located: held off every list until a file named {file.name} loads")
    seen: set[str] = set()
    batch: list[dict[str, Any]] = []
    held = 0

    def flush() -> None:
        _quarantine(conn, drop, "rejected_file_held", batch, run_id)
        batch.clear()

    with file.open() as handle:
        stream = io.TextIOWrapper(handle, encoding=_readable_encoding(file, drop.encoding) or "cp1252",
                                  errors="replace")
        for number, line in enumerate(stream, start=1):
            for address in _addresses_in(line, drop.format == "jsonl"):
                if address.casefold() in seen:
                    continue
                seen.add(address.casefold())
                held += 1
                batch.append({"record_id": f"{file.name}:{number}:{held}",
                              "reason": f"{file.name} line {number}: {because}",
                              "payload": json.dumps({"drop": drop.name, "file": file.name, "line": number,
                                                     "location": drop.location, "hold": because,
                                                     "mapped": {"email": address}})})
                if len(batch) >= CHUNK_ROWS:
                    flush()
    if batch:
        flush()
    log.warning("drop %s: file %s: %s", drop.name, file.name,
                f"{held} address(es) in it held off every list until a file of that name loads: its column(s)"
                f" {unlocated} could not be located" if held else
                f"its column(s) {unlocated} could not be located, and no address was found in it to hold")
    return held


def _addresses_in(line: str, jsonl: bool) -> Iterator[str]:
    """The addresses a line writes: each string of a JSON line (escapes undone), else the line's
    text; also as URL- or HTML-encoded (``p%40x.de``, ``p&#64;x.de``) and in quotes (``"p"@x.de``)."""
    texts: list[str] = [line]
    if jsonl:
        try:
            texts = [v for v in _strings(json.loads(line))]
        except ValueError:
            pass
    for chunk in texts:
        decoded = _decoded_text(chunk)
        for form in dict.fromkeys((chunk, decoded)):
            for match in ADDRESS.findall(form):
                address = match.strip(".'").replace("\x00", "")
                yield address
                local, _, domain = address.rpartition("@")
                tail = re.split(r"[=?/&#!]", local)[-1]  # a link's parameter: "/unsub?to=ann@x.de" holds ann
                if tail and tail != local:
                    yield f"{tail}@{domain}"


def _decoded_text(chunk: str) -> str:
    """``chunk`` with what hides an address undone: compatibility forms (a full-width at sign), URL
    and HTML escapes (twice: a link in a mail template often is encoded twice), quotes, and
    quoted-printable ``=40``."""
    decoded = unicodedata.normalize("NFKC", chunk)
    for _ in range(2):
        decoded = html.unescape(urllib.parse.unquote(decoded))
    return re.sub(r"\s*@\s*", "@", decoded.replace('"', "").replace("=40", "@"))


def _quarantine(conn: Connection, drop: Drop, expectation: str, rows: list[dict[str, Any]], run_id: str,
                version_at: datetime | None = None) -> None:
    """Insert ``rows`` (``record_id``, ``reason``, ``payload`` as JSON text) of ``drop`` into
    quarantine.records under ``expectation``, at ``version_at`` (now when None)."""
    if rows:
        conn.execute(text(
            "insert into quarantine.records (source, entity, record_id, version_at, suite, expectation, column_name,"
            " reason, payload, run_id) values (:source, :entity, :record_id, coalesce(cast(:version_at as timestamptz),"
            " now()), 'file_drop', :expectation, '', :reason, cast(:payload as jsonb), :run_id)"
            " on conflict do nothing"),
            [r | {"source": SOURCE, "entity": drop.entity, "expectation": expectation, "version_at": version_at,
                  "run_id": run_id} for r in rows])


def _hold_row(drop: Drop, name: str, number: int, addresses: list[str], because: str,
              reason: str = "unreadable_row", extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A quarantine row holding ``addresses`` of line ``number`` of file ``name`` (expectation
    ``unreadable_row_held``; sql/nurture/suppressed_mailbox.sql suppresses them for ``reason``:
    unreadable_row, or unknown_value for a type or status no word of the vocabulary names)."""
    return {"record_id": f"{name}:{number}", "reason": f"{name} line {number}: {because}",
            "payload": json.dumps({"drop": drop.name, "file": name, "line": number, "location": drop.location,
                                   "hold": because,
                                   "hold_reason": reason, "mapped": {"email": " ".join(addresses)}, **(extra or {})})}


def _held_row(drop: Drop, name: str, number: int, addresses: list[str], doubt: str, reason: str,
              mapped: dict[str, Any]) -> dict[str, Any]:
    """The hold of a quarantined row's ``addresses``: for a value no word names when its fields
    were read (``doubt`` empty), else as unreadable."""
    word = None if doubt else _unknown_word(drop.entity, mapped)
    if word is not None:
        field = SIGNAL[drop.entity]
        return _hold_row(drop, name, number, addresses, (
            (f"{field} {word!r} is no word of the vocabulary and not mapped by the drop's `values`" if word else
             f"{field} is empty") + f" ({reason}): held off every list until the drop's `values` maps it"),
            "unknown_value", {"field": field, "value": word})
    return _hold_row(drop, name, number, addresses, (
        f"what line {number} says of its mailbox cannot be read ({reason}): held off every list until a new"
        f" version of {name} loads"))


def _unknown_word(entity: str, mapped: dict[str, Any]) -> str | None:
    """The value of the field saying whether a row's mailbox may be mailed (an event's type, a
    subscription's status) when it is no word of the vocabulary and not one known to say nothing
    of it (``deferred``), "" when there is none: what such a row says of its mailbox cannot be
    told. None for a word, or an entity without such a field."""
    words = file_catalog.VOCABULARY.get((entity, SIGNAL.get(entity, "")))
    if not words:
        return None
    value = mapped.get(SIGNAL[entity])
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or value in words:  # an object or array: unreadable_row
        return None
    return None if _silent(entity, value) else value


def _silent(entity: str, value: str) -> bool:
    return re.sub(r"[\s_\-]", "", value.casefold()) in file_catalog.SILENT.get((entity, SIGNAL[entity]), ())


def _held_in(drop: Drop, row: object, problem: str, mapped: dict[str, Any]) -> list[str]:
    """The addresses a quarantined row is held for: every one it writes, when what it says of its
    mailbox cannot be read with confidence (its fields cannot be told apart, a key written in two
    cases, an object or array where the address or the opt-out, type or status belongs, or no
    address where the drop reads one on a row saying its mailbox must get no mail, a type or status
    no word names); none otherwise (its mapped fields count as they are)."""
    if drop.entity not in SIGNAL or not isinstance(row, dict):
        return []
    if not (problem or any(isinstance(mapped.get(f), dict | list) for f in ("email", SIGNAL[drop.entity]))
            or (not mapped.get("email") and _suppresses(drop.entity, mapped))
            or _unknown_word(drop.entity, mapped) is not None):
        return []
    found: dict[str, str] = {}
    for value in _strings(row):
        for address in _addresses_in(value, False):
            found.setdefault(address.casefold(), address)
    return list(found.values())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _readable_encoding(file: DropFile, declared: str) -> str | None:
    """The first of the declared encoding, UTF-8 and Windows-1252 that decodes the whole file (a
    rejected export is often just in another one); None when none does."""
    with file.open() as handle:
        head = handle.read(4)
    marked = ("utf-32" if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) else
              "utf-16" if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else declared)
    for encoding in dict.fromkeys((marked, declared, "utf-8", "cp1252")):  # Excel's "Unicode text" is UTF-16
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with file.open() as handle:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except (UnicodeError, LookupError):
            continue
        return encoding
    return None


def _restamp(eng: Engine, drop: Drop, file: DropFile, checksum: str) -> None:
    with eng.begin() as conn:
        conn.execute(text("update meta.file_loads set size_bytes = :size, modified = :modified"
                          " where drop_name = :drop and file_name = :name and checksum = :checksum"
                          " and mapping_digest = :digest and modified is distinct from :modified"),
                     {"size": file.size, "modified": file.modified, "drop": drop.name, "name": file.name,
                      "checksum": checksum, "digest": drop.mapping_digest})


def _record_file(eng: Engine, drop: Drop, file: DropFile, checksum: str, run_id: str, status: str,
                 rows: int = 0, quarantined: int = 0, deleted: int = 0, reason: str | None = None,
                 conn: Any = None, batch_id: str | None = None) -> None:
    statement = text(
        "insert into meta.file_loads (drop_name, file_name, checksum, mapping_digest, size_bytes, modified, run_id,"
        " status, rows_loaded, rows_quarantined, rows_deleted, reason, batch_id) values (:drop_name, :file_name,"
        " :checksum, :digest, :size, :modified, :run_id, :status, :rows_loaded, :rows_quarantined, :rows_deleted,"
        " :reason, cast(:batch_id as uuid))"
        " on conflict (drop_name, file_name, checksum, mapping_digest) do update set"
        " size_bytes = excluded.size_bytes, modified = excluded.modified, run_id = excluded.run_id,"
        " status = excluded.status, rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,"
        " rows_deleted = excluded.rows_deleted, reason = excluded.reason, batch_id = excluded.batch_id,"
        " loaded_at = clock_timestamp()"
    )
    params = {"drop_name": drop.name, "file_name": file.name, "checksum": checksum, "digest": drop.mapping_digest,
              "size": file.size, "modified": file.modified, "run_id": run_id, "status": status, "rows_loaded": rows,
              "rows_quarantined": quarantined, "rows_deleted": deleted, "reason": reason, "batch_id": batch_id}
    if conn is not None:
        conn.execute(statement, params)
    else:
        with eng.begin() as own:
            own.execute(statement, params)


def _has_nul(row: dict[str, Any]) -> bool:
    """Whether a row holds NUL anywhere (a CSV row's keys and values are strings: one join says it)."""
    if all(isinstance(v, str) for v in row.values()):
        return "\x00" in "".join(row) or "\x00" in "".join(row.values())
    return without_nul(row) != row


def _quarantine_payload(drop: Drop, name: str, number: int, row: object, mapped: object, keep_row: bool = True) -> str:
    """A quarantined row as kept: its file and line, the row (unless not ``keep_row``), its mapped
    fields and the id of the record it names (a file-drop opt-out holds for its record: staging's
    ``opt_out`` kind)."""
    named = str(row.get(drop.id_column) or "").strip() if isinstance(row, dict) else ""
    system = str(mapped.get("system") or "") if isinstance(mapped, dict) else ""
    return _ENCODE({"file": name, "line": number, "row": without_nul(row) if keep_row else None,
                    "mapped": without_nul(mapped),
                    "record_id": without_nul((f"{system}:{named}" if system else named) or None)}).decode()


def _load_file(eng: Engine, drop: Drop, file: DropFile, checksum: str, run_id: str) -> tuple[int, int, int]:
    """Land one file in one transaction: (rows loaded, rows quarantined, records marked deleted)."""
    name = file.name
    loaded_at = datetime.now(UTC)
    batch_id = str(uuid.uuid4())
    with eng.begin() as conn:
        table = ensure_raw_table(conn, SOURCE, drop.entity)
        conn.exec_driver_sql("create temporary table drop_rows (record_id text, line integer, payload jsonb)"
                             " on commit drop")
        seen = bad = 0
        _refuse_utf8_in_a_legacy_encoding(drop, file)
        with file.open() as handle:
            rows = _rows(drop, name, handle)
            while chunk := list(islice(rows, CHUNK_ROWS)):
                seen += len(chunk)
                good, rejected, held = [], [], []
                for number, row, problem in chunk:
                    reason = problem
                    if row is not None and _has_nul(row):
                        reason = "contains a NUL character (0x00), which PostgreSQL cannot store; stored here as U+FFFD"
                    shaped = None
                    if not reason and row is not None:
                        shaped, reason = _shape(drop, row)
                    if shaped is None:
                        # the mapped fields too: suppression reads an opt-out from a quarantined row (sql/nurture)
                        mapped = _mapped(drop, row) if isinstance(row, dict) else {}
                        rejected.append({"record_id": f"{name}:{number}", "reason": f"{name} line {number}: {reason}",
                                         "payload": _quarantine_payload(drop, name, number, row, mapped)})
                        doubt = problem or (reason if "in more than one case" in reason else "")
                        if addresses := _held_in(drop, row, doubt, mapped):
                            held.append(_held_row(drop, name, number, addresses, doubt, reason, mapped))
                        continue
                    if drop.entity in SIGNAL and not shaped.get("email") and (
                            addresses := _held_in(drop, row, "", shaped)):
                        held.append(_hold_row(drop, name, number, addresses, (  # an opt-out without its address
                            f"line {number} says its mailbox must get no mail but has no address where the drop"
                            f" reads one: the addresses it writes are held off every list until a new version of"
                            f" {name} loads")))
                    record_id = shaped.pop("_record_id")
                    shaped |= {"_drop": drop.name, "_file": name, "_line": number}
                    good.append((record_id, number, _ENCODE(shaped).decode()))
                copy_rows(conn, "drop_rows", ("record_id", "line", "payload"), good)
                _quarantine(conn, drop, "parse", rejected, run_id, loaded_at)
                _quarantine(conn, drop, "unreadable_row_held", held, run_id, loaded_at)
                bad += len(rejected)
        if not seen:
            raise FileDropError(f"drop {drop.name}: file {name} has no data rows")
        if bad == seen:  # not one row read: the mapping, more likely than every row, is wrong
            example = conn.execute(text("select reason from quarantine.records where source = :source and entity"
                                        " = :entity and version_at = :version_at and run_id = :run_id limit 1"),
                                   {"source": SOURCE, "entity": drop.entity, "version_at": loaded_at,
                                    "run_id": run_id}).scalar()
            hint = ("does the drop's `values` map the file's words?" if " is none of " in str(example) else
                    "are the drop's date_format, decimal and delimiter the file's?")
            raise FileDropError(f"drop {drop.name}: file {name}: every one of its {seen} rows failed, the first"
                                f" as {str(example).removeprefix(name + ' ')!r}; {hint}")
        params = {"source": SOURCE, "entity": drop.entity, "version_at": loaded_at, "run_id": run_id,
                  "batch_id": batch_id, "drop": drop.name, "file": name}
        # within a file the last line of an id wins; the earlier ones are quarantined saying so
        bad += conn.execute(text(
            "insert into quarantine.records (source, entity, record_id, version_at, suite, expectation, column_name,"
            " reason, payload, run_id)"
            " select :source, :entity, cast(:file as text) || ':' || d.line, :version_at, 'file_drop', 'parse', '',"
            "     cast(:file as text) || ' line ' || d.line || ': id ' || quote_literal(d.record_id)"
            "     || ' appears again on line ' || d.last_line || ', which is loaded',"
            "     jsonb_build_object('file', cast(:file as text), 'line', d.line, 'mapped', d.payload,"
            "         'record_id', d.record_id), :run_id"
            " from (select *, max(line) over (partition by record_id) as last_line from drop_rows) as d"
            " where d.line < d.last_line on conflict do nothing"), params).rowcount
        if drop.entity == "email_events":
            _keep_replaced_opt_outs(conn, drop, table, params)
        loaded = conn.execute(text(
            f"insert into {table} (record_id, version_at, is_deleted, payload, batch_id, extracted_at)"  # noqa: S608 - raw_table() checks the name
            " select distinct on (record_id) record_id, :version_at, false, payload, cast(:batch_id as uuid),"
            " :version_at from drop_rows order by record_id, line desc"), params).rowcount
        deleted = _mark_missing_deleted(conn, drop, table, params) if drop.mode == "snapshot" else 0
        conn.execute(
            text("insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new)"
                 " values (:batch_id, :run_id, :source, :entity, :received, :new)"),
            params | {"received": loaded + deleted, "new": loaded + deleted},
        )
        # earlier versions of this file (of the whole drop, for a snapshot) that validation held back
        # are superseded: the new content is what counts, and a fixed file releases the drop
        conn.execute(text(
            "update meta.batches set superseded_at = now() where validated_at is null and superseded_at is null"
            " and batch_id <> cast(:batch_id as uuid) and batch_id in (select batch_id from meta.file_loads"
            " where drop_name = :drop and (file_name = :file or :whole))"), params | {"whole": drop.mode == "snapshot"})
        conn.execute(text(  # what earlier versions of the file held (rejected unread, unreadable rows) is lifted;
            # a snapshot's newer file lifts no older file's: what that said was never read. A value no word
            # names stays held, by whichever version, until the drop's values map it (_resolve_held_values):
            # the next export need not repeat the event; this version holding it again replaces the hold
            "delete from quarantine.records as old where source = :source and expectation = any(:held)"
            " and payload ->> 'drop' = :drop and payload ->> 'file' = :file and version_at <> :version_at"
            " and (payload ->> 'hold_reason' is distinct from 'unknown_value' or exists (select from"
            "  quarantine.records as again where again.source = old.source and again.entity = old.entity"
            "  and again.expectation = old.expectation and again.version_at = :version_at"
            "  and again.payload ->> 'file' = :file and again.payload ->> 'drop' = :drop"
            "  and again.payload ->> 'value' = old.payload ->> 'value'"
            "  and again.payload -> 'mapped' ->> 'email' = old.payload -> 'mapped' ->> 'email'))"),
            params | {"held": list(HELD)})
        _record_file(eng, drop, file, checksum, run_id, "loaded", loaded, bad, deleted, conn=conn, batch_id=batch_id)
    return loaded, bad, deleted


def _keep_replaced_opt_outs(conn: Connection, drop: Drop, table: str, params: dict[str, Any]) -> None:
    """Keep what the latest row of each event id the file lands again said of its mailbox (an
    unsubscribe, complaint or hard bounce), when the file's row does not say the same of the same
    mailbox: another file of the drop, or another drop of the entity without its own `system`,
    numbering its rows alike must not lift it. Kept as a quarantined row (expectation
    ``superseded_opt_out``), which suppression reads as any quarantined row. An event is a fact: a
    new row saying anything else of it is another event under the same id. (A subscription keeps
    the status of each mailbox and subscription its rows name: sql/core/mailbox_consent.sql.)"""
    kept = conn.execute(text(
        "insert into quarantine.records (source, entity, record_id, version_at, suite, expectation, column_name,"  # noqa: S608 - raw_table() checks the name
        " reason, payload, run_id)"
        " select :source, :entity, coalesce(old.payload ->> '_file', '') || ':' || coalesce(old.payload ->> '_line',"
        "  '') || ':' || old.record_id, :version_at, 'file_drop', 'superseded_opt_out', '',"
        "  'id ' || quote_literal(old.record_id) || ' of ' || coalesce('drop ' || (old.payload ->> '_drop') || ' ', '')"
        "  || coalesce('file ' || (old.payload ->> '_file'), '') || ' said its mailbox must get no mail; line '"
        "  || new.line || ' of ' || cast(:file as text) || ' gives the id another row: what the earlier said'"
        "  || ' still counts',"
        "  jsonb_build_object('drop', old.payload ->> '_drop', 'file', old.payload ->> '_file', 'line',"
        "   old.payload -> '_line', 'record_id', old.record_id, 'mapped', old.payload, 'replaced_by',"
        "   jsonb_build_object('drop', cast(:drop as text), 'file', cast(:file as text), 'line', new.line)), :run_id"
        " from (select distinct on (record_id) record_id, line, payload from drop_rows order by record_id, line desc)"
        f"  as new cross join lateral (select * from {table} as r where r.record_id = new.record_id"
        "   order by r.version_at desc limit 1) as old"
        " where old.payload ->> 'type' in ('unsubscribe', 'complaint', 'hard_bounce')"
        "  and not (new.payload ->> 'type' = old.payload ->> 'type' and core.mailbox_key(new.payload ->> 'email')"
        "   is not distinct from core.mailbox_key(old.payload ->> 'email'))"
        " on conflict do nothing returning payload ->> 'record_id'"), params).scalars().all()
    if kept:
        log.warning("drop %s: file %s: %d id(s) that an earlier row of the drop's own files or another drop's said"
                    " must get no mail (%s) are given other rows: what the earlier rows said still counts; when the"
                    " ids are not the same records, give each drop its own `constants: {system: ...}`", drop.name,
                    params["file"], len(kept), ", ".join(sorted(kept)[:5]) + (", ..." if len(kept) > 5 else ""))


def _held_values(eng: Engine, drop: Drop) -> dict[str, dict[str, int]]:
    """Per file of the drop (removed ones too) and type or status no word names, the rows held for it."""
    found: dict[str, dict[str, int]] = {}
    with eng.connect() as conn:
        for name, value, count in conn.execute(text(
                "select payload ->> 'file', coalesce(payload ->> 'value', ''), count(*) from quarantine.records"
                " where source = :source and entity = :entity and expectation = any(:held)"
                " and payload ->> 'drop' = :drop and payload ->> 'hold_reason' = 'unknown_value'"
                " group by 1, 2 order by 1, 2"),
                {"source": SOURCE, "entity": drop.entity, "held": list(HELD), "drop": drop.name}):
            found.setdefault(name, {})[value] = count
    return found


def _mark_missing_deleted(conn: Connection, drop: Drop, table: str, params: dict[str, Any]) -> int:
    """A snapshot is the drop's whole current state: each record of the drop whose latest version is
    live and which the new file lacks gets a deleted version (its last payload, ``is_deleted``).
    A record belongs to the drop by its payload's ``_drop``, or, for rows landed before that was
    recorded, by a file name the drop loaded."""
    return conn.execute(text(
        f"insert into {table} (record_id, version_at, is_deleted, payload, batch_id, extracted_at)"  # noqa: S608 - raw_table() checks the name
        " select l.record_id, :version_at, true, l.payload, cast(:batch_id as uuid), :version_at from ("
        f"     select distinct on (record_id) record_id, is_deleted, payload from {table}"
        "     where version_at < :version_at and (payload ->> '_drop' = :drop or (payload ->> '_drop' is null"
        "         and payload ->> '_file' in (select file_name from meta.file_loads where drop_name = :drop)))"
        "     order by record_id, version_at desc) as l"
        " where not l.is_deleted and not exists (select 1 from drop_rows as d where d.record_id = l.record_id)"),
        params).rowcount
