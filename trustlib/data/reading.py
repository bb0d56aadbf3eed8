"""Reading an extract's files as they are really exported, in bounded time and memory.

* **Only regular files, of bounded size.** A named pipe, a device, a socket, a symbolic link that
  leads outside the data folder (or nowhere) is refused by name before it is opened; a file
  larger than :data:`MAX_FILE_BYTES` is refused before it is read.
* **The format from the bytes, whatever the name.** An Excel workbook saved with a ``.csv``
  name is read as a workbook; an Excel 97-2003 ``.xls`` file, or UTF-16 text without a
  byte-order mark, is named with the way to re-export it.
* **Text as Excel writes it.** UTF-8 with or without a byte-order mark (or two), and UTF-16 with one;
  CR-only line endings (Excel's "CSV (Macintosh)"); a bare CR inside an unquoted cell (a space);
  free-text cells of any length. Every scan is linear in the file's size.

Functions return ``(value, messages)``: the value is None when a message says why.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from pathlib import Path

MAX_FILE_BYTES = 100_000_000       # 100 MB per file; the study's files are about 50 kB
MAX_LISTED = 10
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_bytes(path: Path, folder: Path) -> tuple[bytes | None, list[str]]:
    """The bytes of ``path``, a regular file inside ``folder`` (a symbolic link may point within
    it) of at most :data:`MAX_FILE_BYTES`, or the reason it is refused."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, ["file not found"]
    except OSError as err:
        return None, [f"cannot be read ({err.strerror})"]
    if stat.S_ISLNK(st.st_mode):
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None, ["is a symbolic link that leads nowhere (a loop, or a missing target)"]
        if not target.is_relative_to(Path(folder).resolve()):
            return None, [f"is a symbolic link to {target}, outside the data folder: copy the file into the folder"]
        st = os.stat(target)
    if stat.S_ISDIR(st.st_mode):
        return None, ["is a folder, not a file"]
    if not stat.S_ISREG(st.st_mode):
        return None, ["is not a regular file (a pipe, a device or a socket): copy the extract into a file"]
    if st.st_size > MAX_FILE_BYTES:
        return None, [_too_large(st.st_size)]
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        return None, [f"cannot be read ({err.strerror})"]
    if len(raw) > MAX_FILE_BYTES:
        return None, [_too_large(len(raw))]
    return raw, []


def _too_large(size: int) -> str:
    return (f"is {size / 1e6:,.0f} MB, more than the {MAX_FILE_BYTES // 1_000_000} MB an extract file may be "
            "(the study's files are about 50 kB): is it the right file?")


def sniff(raw: bytes) -> str:
    """What the bytes are: ``xlsx``, ``xls``, ``sav``, ``dta`` or ``text``."""
    if raw.startswith(b"PK\x03\x04"):
        return "xlsx"
    if raw.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if raw[:4] in (b"$FL2", b"$FL3"):
        return "sav"
    if raw.startswith(b"<stata_dta>") or (len(raw) > 1 and raw[0] in (0x71, 0x72, 0x73) and raw[1] in (1, 2)):
        return "dta"
    return "text"


def _nul_lines(body: bytes) -> list[int]:
    """Lines (1-based) holding NUL bytes, the first :data:`MAX_LISTED` + 1 of them: from each NUL
    the scan jumps to the next line, so it is linear however many NULs a line holds."""
    lines, line, counted = [], 1, 0
    pos = body.find(b"\x00")
    while pos != -1 and len(lines) <= MAX_LISTED:
        line += body.count(b"\n", counted, pos)
        lines.append(line)
        end = body.find(b"\n", pos)
        if end == -1:
            break
        counted = pos
        pos = body.find(b"\x00", end)
    return lines


def decode(raw: bytes) -> tuple[str | None, list[str], tuple[int, ...]]:
    """The text of a CSV file: UTF-8 (byte-order marks allowed: some exports write two) or UTF-16
    with a byte-order mark.
    Returns ``(text, messages, lines)``; ``lines`` are the lines a message is about."""
    if raw.startswith(UTF16_BOMS):
        try:
            return raw.decode("utf-16").lstrip("\ufeff"), [], ()
        except UnicodeDecodeError:
            return None, ["starts as UTF-16 text but is not valid UTF-16: re-export it as CSV UTF-8"], ()
    offset = 0
    while raw.startswith(codecs.BOM_UTF8, offset):      # some exports write the mark twice
        offset += 3
    body = raw[offset:]
    if b"\x00" in body:
        head = body[: 2 * 4096]
        odd, even = head[1::2].count(0) / max(len(head) // 2, 1), head[0::2].count(0) / max(len(head) // 2, 1)
        if len(head) >= 4 and ((odd > 0.9 and even < 0.1) or (even > 0.9 and odd < 0.1)):   # ASCII text as UTF-16
            return None, ["is UTF-16 text without a byte-order mark: re-export it as CSV UTF-8 (in Excel: "
                          "Save As, 'CSV UTF-8 (Comma delimited)')"], ()
        lines = _nul_lines(body)
        return None, ["contains NUL bytes (an export or copy error); re-export the file"], tuple(lines)
    try:
        return body.decode("utf-8"), [], ()
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 1
        return None, [f"is not UTF-8 encoded (byte 0x{body[err.start:err.start + 1].hex()} at byte offset "
                      f"{err.start + offset}, line {line}); re-save the file as CSV UTF-8"], (line,)


def normalise_newlines(text: str) -> str:
    """Line endings as Excel writes them, made ``\\n``: CR-only files (Excel's "CSV (Macintosh)")
    end lines with CR; in a file that ends lines with LF or CRLF, a bare CR is part of a cell
    (it becomes a space, as a cell's text never ends a record there)."""
    if "\n" not in text:
        return text.replace("\r", "\n")
    return re.sub(r"\r(?!\n)", " ", text).replace("\r\n", "\n")


class RecordLines(tuple):
    """The physical line of each record, kept in ``DataFrame.attrs["lines"]``: immutable, so
    pandas' deep copy of ``attrs`` on every operation returns it as it is instead of copying a
    tuple of one number per row, about 120 times per load of the shipped extract (40 ms of it)."""

    def __deepcopy__(self, memo):
        return self


def record_lines(text: str, first_line: int = 1) -> RecordLines:
    """Physical line (1-based, counting from ``first_line`` for the header) on which each data
    record starts: a quoted field may span lines. Linear in the text's length."""
    return scan_records(text, first_line)[0]


RECORD_START = re.compile(r"^[A-Za-z_.\-]*[0-9][A-Za-z0-9_.\-]*$")   # an ID (K01, C001): a record's first cell


def scan_records(text: str, first_line: int = 1, fixed=lambda name: False) -> tuple[RecordLines, list[tuple]]:
    """Each data record's first physical line (see :func:`record_lines`), and a message for each
    quoted field that spans lines where none should: in a column ``fixed(name)`` says holds no
    text across lines (the codebook's columns), holding lines that read as records of their own
    (a quote opened and never closed swallows the records after it, up to the next quote), or
    running to the end of the file. Messages are ``(column, text)`` and name lines only, never
    the field's text. Linear in the text's length."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))   # free-text exports hold long cells
    reader = csv.reader(io.StringIO(text))
    starts, problems, previous_end, names, last = [], [], 0, None, None
    for row in reader:
        if names is None:
            names = [n.strip() for n in row] if row else None
        elif row:                                # pandas skips blank lines; so does this count
            start = previous_end + first_line
            starts.append(start)
            last = (row, start, previous_end)
            if reader.line_num - previous_end > 1 and len(problems) <= MAX_LISTED:
                problems += _spanning(row, start, names, fixed)[:1]
        previous_end = reader.line_num
    if last is not None and (last[0][-1].endswith("\n") or not text.endswith("\n")) \
            and _ends_inside_quotes(text, last[2]):
        row, start, _ = last
        problems = [p for p in problems if p[2] < start] + [_unclosed(row, start, names, previous_end + first_line - 1)]
    if len(problems) > MAX_LISTED:
        problems = problems[:MAX_LISTED] + [(None, f"more quoted values span lines, from line {problems[MAX_LISTED][2]} "
                                                   "on; correct the first ones and re-export")]
    return RecordLines(starts), [p[:2] for p in problems]


CORRECT = "correct the quotes and re-export"


def _spanning(row: list[str], start: int, names: list[str], fixed) -> list[tuple]:
    """The fields of one record read across lines that should not be (see :func:`scan_records`):
    ``(column, message, line the quote opens on)``."""
    found, line = [], start
    for i, value in enumerate(row):
        breaks = value.count("\n")
        if breaks:
            name = _name(names, i)
            if i >= len(names) or not names[i] or fixed(name) or _swallowed(value, i, len(names)):
                end = line + breaks
                found.append((name, f"a quoted value opens on line {line} and runs on to line {end}, so "
                                    f"{_lines(line + 1, end)} read "
                                    f"as part of it, not as records: a closing quote is missing or misplaced; "
                                    f"{CORRECT}", line))
        line += breaks
    return found


def _lines(first: int, last: int) -> str:
    """``line 8 is``, ``lines 8 and 9 are``, ``lines 8 to 11 are``."""
    if first == last:
        return f"line {first} is"
    return f"lines {first} {'and' if last == first + 1 else 'to'} {last} are"


def _name(names: list[str], i: int) -> str:
    return names[i] if i < len(names) and names[i] else f"column {i + 1}"


def _ends_inside_quotes(text: str, before: int) -> bool:
    """Whether the file ends inside a quoted value opened by its last record (which starts after
    line ``before`` of ``text``)."""
    offset = 0
    for _ in range(before):
        offset = text.find("\n", offset) + 1
    try:
        for _ in csv.reader(io.StringIO(text[offset:]), strict=True):
            pass
    except csv.Error as err:
        return "unexpected end of data" in str(err)
    return False


def _unclosed(row: list[str], start: int, names: list[str], last_line: int) -> tuple:
    """The message for a quote the last record opens and the file never closes: its last field."""
    line = start + sum(v.count("\n") for v in row[:-1])
    swallowed = f", so {_lines(line + 1, last_line)} read as part of it, not as records" if last_line > line else ""
    return (_name(names, len(row) - 1), f"a quoted value opens on line {line} and the file ends inside it"
            f"{swallowed}: a closing quote is missing; {CORRECT}", line)


def _swallowed(value: str, i: int, width: int) -> bool:
    """Whether a value across lines in column ``i`` (0-based) of a table ``width`` columns wide
    holds what reads as records, as a quote never closed makes it: a line inside it reads as a
    record (:func:`_reads_as_record`); or its first line holds the rest of a record (the cells
    after column ``i``: five or more; or three or four, and its last line holds the start of a
    record, the cells before column ``i`` and the value whose opening quote closed it)."""
    lines = value.split("\n")
    if any(_reads_as_record(line, width) for line in lines[1:]):
        return True
    after = width - i - 1
    if after < 3 or len(_cells(lines[0])) < after + 1:
        return False
    last = _cells(lines[-1])
    return after >= 5 or (len(last) == i + 1 and i >= 1 and bool(RECORD_START.match(last[0].strip())))


def _cells(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _reads_as_record(line: str, width: int) -> bool:
    """Whether a line inside a quoted value reads as a record of a table ``width`` columns wide:
    as many cells (or one fewer, the line cut at a quote), and for a narrow table a first cell
    like an ID, with a digit (a comment's line seldom holds five commas; one may hold one)."""
    if width < 2:
        return False
    cells = _cells(line)
    return len(cells) >= width - 1 and (width >= 6 or bool(RECORD_START.match(cells[0].strip())))


def header_names(line: str) -> list[str]:
    """The column names of a CSV header line, stripped."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
    return [n.strip() for n in next(csv.reader([line]), [])]
