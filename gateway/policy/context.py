"""Context words: the label written next to a value, or naming its column in a table.

Numbers that only a label tells apart (NHS, routing, SIN, SWIFT, bare phone and SSN
digits) need one of their label words either

* on the same line, in the ``CONTEXT_WINDOW`` characters before the value, with no other
  number in between (in "phone=0703 773699 ticket=8563499119" the label belongs to the
  first number); or
* in the header of the table column the value stands in: when the value starts a cell of
  a delimited row (``,`` ``;`` tab or ``|``, double quotes respected), the header is the
  nearest line above, in the same block of delimited lines, whose cells are all names
  (short, a letter first, no digits but a short trailing number); the header cell at the
  same index is the value's label. The row's text before the value and the header lie within
  ``REACH`` characters before it, which is what a stream keeps (``cursor.KEEP_LEFT``).

Words are bounded by letters and digits only, so ``bank_routing_number``, ``customer-ssn``
and ``NHSNumber`` carry their labels.
"""

from __future__ import annotations

import functools
import re

import regex

from gateway.policy.charsets import FLAGS
from gateway.policy.regions import Gate, word_gate

CONTEXT_WINDOW = 32  # characters before a value searched for a label on its line
ROW_REACH = 1024  # a cell further than this from its line's start gets no table context
TABLE_REACH = 4096  # the header line starts at most this far above the row's line
REACH = ROW_REACH + TABLE_REACH + 1  # the most text before a value any lookup reads

_DELIMITERS = "\t|;,"
# A column name: a letter first, then no digits but an optional short trailing number
# ("Phone 2", "address_line1"), at most 48 characters in at most five words; data rows
# nearly always hold a field with digits, and prose split at commas has longer pieces.
_NAME = re.compile(r"[A-Za-z][^0-9\"]{0,45}[0-9]{0,2}")
_NAME_WORDS = 5


@functools.cache
def _label(words: tuple[str, ...]) -> regex.Pattern[str]:
    """Compiled on first use (not at import), then shared."""
    alternation = "|".join(w[:-1] + "(?![a-z0-9])" if w.endswith("$") else w for w in words)
    return regex.compile(rf"(?i)(?<![a-z0-9])(?:{alternation})", FLAGS)


def label_gate(words: tuple[str, ...]) -> Gate:
    """A gate passing wherever one of ``words`` may be a value's label: the literal head of
    each word (``social[ _-]?insurance`` → ``social``), as far back as a header reaches."""
    heads = []
    for word in words:
        head = re.match(r"[a-z]+", word)
        assert head is not None, word
        literal = head.group() == word.rstrip("$")
        heads.append(head.group() + ("$" if literal and word.endswith("$") else ""))
    return word_gate(*heads, back=REACH)


def has_context(words: tuple[str, ...], text: str, start: int, cache: dict[str, object]) -> bool:
    """A label word for the value at ``start`` (see the module docstring)."""
    pattern = _label(words)
    lo = max(0, start - CONTEXT_WINDOW)
    lo = text.rfind("\n", lo, start) + 1 or lo
    found = list(pattern.finditer(text, lo, start))
    if found and not any(ch.isdigit() for ch in text[found[-1].end() : start]):
        return True
    header = column_label(text, start, cache)
    return header is not None and pattern.search(header) is not None


def column_label(text: str, start: int, cache: dict[str, object]) -> str | None:
    """The header cell of the table column whose cell starts at ``start``, if any."""
    line = _line_start(text, start, start - ROW_REACH)
    if line < 0:
        return None
    head = text[line:start].rstrip(' "')
    delimiter: str | None = None
    index = 0
    if head:
        delimiter = head[-1]
        if delimiter not in _DELIMITERS:
            return None  # the value does not start a cell
        index, quoted = _count(head, delimiter)
        if quoted:
            return None  # the delimiter is inside a quoted cell
    header = _header_above(text, line, delimiter, cache)
    if header is None:
        return None
    cells = _cells(*header)
    return cells[index] if index < len(cells) else None


def _line_start(text: str, end: int, lo: int) -> int:
    """Start of the line holding ``end``, or -1 if it starts before ``lo``."""
    newline = text.rfind("\n", max(lo - 1, 0), end)
    if newline >= 0:
        return newline + 1
    return 0 if lo <= 0 else -1


def _header_above(
    text: str, line: int, delimiter: str | None, cache: dict[str, object]
) -> tuple[str, str] | None:
    """The header line (and its delimiter) of the table row starting at ``line``."""
    lo = line - TABLE_REACH
    if delimiter is None:  # the value is in the first column: the line above decides
        if line == 0:
            return None
        above = _line_start(text, line - 1, lo)
        if above < 0:
            return None
        row = text[above : line - 1]
        delimiter = max(_DELIMITERS, key=row.count)
        if delimiter not in row:
            return None
    # Header start per (row line, delimiter), or -1 when the block ends without one;
    # memoised per pass so the rows of one table share one walk. A stop at the reach
    # limit is not memoised: it depends on the line the walk started from.
    memo = cache.setdefault("headers", {})
    assert isinstance(memo, dict)
    path = []
    cur = line
    found = -1
    while True:
        key = (cur, delimiter)
        if key in memo:
            found = memo[key]
            break
        if cur == 0:
            path.append(key)
            break
        above = _line_start(text, cur - 1, lo)
        if above < 0:
            path = []  # out of reach, not the end of the table
            break
        path.append(key)
        row = text[above : cur - 1]
        if delimiter not in row:
            break
        if _is_header(row, delimiter):
            found = above
            break
        cur = above
    for key in path:
        memo[key] = found
    if found < lo:
        return None
    end = text.find("\n", found)
    return text[found:end].rstrip("\r"), delimiter


def _is_header(row: str, delimiter: str) -> bool:
    named = 0
    for cell in _cells(row.rstrip("\r"), delimiter):
        name = cell.strip().strip('"').strip()
        if not name:
            continue  # "| a | b |" has empty edges; an index column may be unnamed
        if _NAME.fullmatch(name) is None or name.count(" ") >= _NAME_WORDS:
            return False
        named += 1
    return named >= 2


def _count(head: str, delimiter: str) -> tuple[int, bool]:
    """Delimiters outside double quotes in ``head``, and whether its end is quoted."""
    if '"' not in head:
        return head.count(delimiter), False
    quoted = False
    count = 0
    for ch in head:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count, quoted


def _cells(row: str, delimiter: str) -> list[str]:
    if '"' not in row:
        return row.split(delimiter)
    cells: list[str] = []
    quoted = False
    begin = 0
    for i, ch in enumerate(row):
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            cells.append(row[begin:i])
            begin = i + 1
    cells.append(row[begin:])
    return cells
