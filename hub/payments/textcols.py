"""Text columns as numpy byte matrices: parsing CSV blocks and writing CSV rows without
a Python object per row.

A column of N short texts is an ``(N, W)`` uint8 matrix (each row the text's
bytes, NUL-padded) plus the lengths; a numpy ``S`` array views as one.
`split_block` cuts a block of CSV lines (no quoted fields) into such columns;
`decimal_ints` reads plain decimal text ("49", "-2.03") into exact integers;
`fixed_text` prints integers at a scale as decimal text; `join_rows` lays
columns (each one or more pieces) side by side into the bytes of CSV lines.
Everything is whole-array numpy work, so that a basin's 900,000 deliveries
cost milliseconds per column instead of a Python call per value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COMMA, NEWLINE, QUOTE, DOT, MINUS = (ord(c) for c in ',\n".-')
POW10 = np.array([10**k for k in range(19)], dtype=np.int64)


def as_matrix(texts: np.ndarray) -> np.ndarray:
    """An ``S`` array as its ``(N, W)`` uint8 matrix (a view, no copy when contiguous)."""
    texts = np.ascontiguousarray(texts)
    width = max(texts.dtype.itemsize, 1)
    if texts.dtype.itemsize == 0:
        return np.zeros((len(texts), 1), dtype=np.uint8)
    return texts.view(np.uint8).reshape(len(texts), width)


def lengths(texts: np.ndarray) -> np.ndarray:
    """Byte length of each text of an ``S`` array (texts never end in NUL here)."""
    return np.strings.str_len(texts).astype(np.int64)


def split_block(block: bytes, columns: int, wanted: Sequence[int] | None = None) -> list[np.ndarray] | None:
    """The fields of CSV lines (each ending in ``\\n``, none quoted) as ``S`` arrays, one per column.

    None when the block has quoted fields or a line with another number of
    fields (the caller reads such a block with the csv module instead).
    ``wanted`` (column numbers) leaves the other columns out (None in their place).
    """
    buf = np.frombuffer(block, dtype=np.uint8)
    if len(buf) == 0:
        return [np.zeros(0, dtype="S1") if wanted is None or j in wanted else None for j in range(columns)]
    if buf[-1] != NEWLINE or (buf == QUOTE).any() or (buf == 0).any():
        return None
    ends = np.flatnonzero((buf == COMMA) | (buf == NEWLINE))
    if len(ends) % columns or not (buf[ends[columns - 1::columns]] == NEWLINE).all():
        return None
    rows = len(ends) // columns
    if (buf[ends.reshape(rows, columns)[:, :-1]] == NEWLINE).any():
        return None
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    starts = starts.reshape(rows, columns)
    ends = ends.reshape(rows, columns)
    out = []
    for j in range(columns):
        out.append(_gather(buf, starts[:, j], ends[:, j] - starts[:, j]) if wanted is None or j in wanted else None)
    return out


def _gather(buf: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Texts ``buf[start:start+size]`` as an ``S`` array."""
    width = int(sizes.max()) if len(sizes) else 0
    if width == 0:
        return np.zeros(len(sizes), dtype="S1")
    offsets = np.arange(width)
    index = starts[:, None] + offsets[None, :]
    inside = offsets[None, :] < sizes[:, None]
    matrix = buf[np.minimum(index, len(buf) - 1)] * inside
    return matrix.view(f"S{width}").reshape(len(sizes))


def decimal_ints(texts: np.ndarray, rows_per_step: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """`_decimal_ints` a slice at a time (its temporaries are a few times the slice's bytes × 8)."""
    if len(texts) <= rows_per_step:
        return _decimal_ints(texts)
    parts = []
    for start in range(0, len(texts), rows_per_step):
        part = _decimal_ints(texts[start:start + rows_per_step])
        if part is None:
            return None
        parts.append(part)
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))


def _decimal_ints(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Plain decimal texts (``-12.50``, ``49``) as (digits without the point, decimals, present).

    ``value = ints × 10^-decimals`` exactly; empty texts are absent (0). None
    when a text is not plain decimal or has more than 18 digits (int64 could
    not hold it): the caller then reads the column another way.
    """
    n = len(texts)
    present = lengths(texts) > 0
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), present
    m = as_matrix(texts)
    width = m.shape[1]
    is_digit = (m >= 48) & (m <= 57)
    is_dot = m == DOT
    negative = m[:, 0] == MINUS
    used = m != 0
    ok = (is_digit | is_dot | ~used).copy()
    ok[:, 0] |= negative
    dots = is_dot.sum(axis=1)
    digits = is_digit.sum(axis=1)
    if not ok.all() or (dots > 1).any() or (present & (digits == 0)).any() or (digits > 18).any():
        return None
    # Digits to the right of each position: the power of ten of that digit.
    right = np.cumsum(is_digit[:, ::-1], axis=1)[:, ::-1] - is_digit
    values = np.where(is_digit, (m.astype(np.int64) - 48) * POW10[np.minimum(right, 18)], 0).sum(axis=1)
    values = np.where(negative, -values, values)
    first_dot = np.where(dots > 0, is_dot.argmax(axis=1), width)
    after_dot = np.where(dots > 0, (is_digit & (np.arange(width)[None, :] > first_dot[:, None])).sum(axis=1), 0)
    return values, after_dot.astype(np.int64), present


def at_scale(values: np.ndarray, decimals: np.ndarray, scale: int) -> np.ndarray | None:
    """``values × 10^(scale − decimals)`` (every decimals ≤ scale); None if int64 could overflow."""
    if not len(values):
        return values.astype(np.int64)
    shift = scale - decimals
    if int(np.abs(values).max()) >= 2**62 // int(POW10[min(int(shift.max()), 18)]) or shift.max() > 18:
        return None
    return values * POW10[shift]


def fixed_text(ints: np.ndarray, scale: int) -> np.ndarray:
    """Integers at ``scale`` as decimal text with exactly ``scale`` decimals (``f"{Decimal:f}"`` of
    ``Decimal(i).scaleb(-scale)``: ``-0.125``, ``0.000``), an ``(N, W)`` uint8 matrix for
    `join_rows` (NUL where a narrower number leaves room). Digits by integer arithmetic: numpy's
    int-to-text conversion costs about a microsecond a value."""
    ints = np.asarray(ints, dtype=np.int64)
    n = len(ints)
    magnitude = np.abs(ints)
    whole = magnitude // POW10[scale]
    whole_digits = np.maximum(np.searchsorted(POW10, whole, side="right"), 1)  # 0 still prints "0"
    width = int(whole_digits.max()) if n else 1
    out = np.zeros((n, 1 + width + (scale + 1 if scale else 0)), dtype=np.uint8)
    out[:, 1:1 + width] = digit_matrix(whole, width)
    out[:, 1:1 + width] *= np.arange(width)[None, :] >= (width - whole_digits)[:, None]  # no leading zeros
    lead = np.where(whole_digits == width, 0, width - whole_digits)  # where the sign goes
    negative = np.flatnonzero(ints < 0)
    out[negative, lead[negative]] = MINUS
    if scale:
        out[:, 1 + width] = DOT
        out[:, 2 + width:] = digit_matrix(magnitude % POW10[scale], scale)
    return out


def half_up(ints: np.ndarray, scale: int, places: int) -> np.ndarray:
    """Integers at ``scale`` rounded half-up (away from zero at the half) to ``places`` decimals."""
    if scale <= places:
        return ints * int(POW10[places - scale])
    unit = int(POW10[scale - places])
    magnitude = (np.abs(ints) + unit // 2) // unit
    return np.where(ints < 0, -magnitude, magnitude)


def join_rows(fields: Sequence[Sequence[np.ndarray] | np.ndarray], rows: int, separator: bytes = b",") -> bytes:
    """CSV lines: the fields separated by commas, each field the concatenation of its pieces.

    A piece is an ``S`` array (one text per row), a 0-d ``S`` array (the same
    text on every row) or an ``(rows, W)`` uint8 matrix of NUL-padded texts.
    The pieces are laid side by side in one ``(rows, Σ W)`` byte matrix and
    the NUL padding is dropped: what remains, row after row, is the file (no
    Python object per row). Texts never hold NUL (`split_block` refuses it);
    quoting is the caller's (see `csv_quoted`).
    """
    comma = np.broadcast_to(np.frombuffer(separator, dtype=np.uint8), (rows, len(separator)))
    newline = np.full((rows, 1), NEWLINE, dtype=np.uint8)
    matrices: list[np.ndarray] = []
    for i, field in enumerate(fields):
        for part in field if isinstance(field, (list, tuple)) else [field]:
            part = np.asarray(part)
            if part.ndim == 0:
                text = part.item()
                if text:
                    matrices.append(np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (rows, len(text))))
            elif part.ndim == 2:
                matrices.append(part)
            elif part.dtype.itemsize:
                matrices.append(as_matrix(part))
        matrices.append(newline if i == len(fields) - 1 else comma)
    table = np.concatenate(matrices, axis=1)
    return table[table != 0].tobytes()


def char_lengths(texts: np.ndarray) -> np.ndarray:
    """Characters (not bytes) of each UTF-8 text of an ``S`` array, as `str.ljust` counts them."""
    m = as_matrix(texts)
    return ((m != 0) & ((m & 0xC0) != 0x80)).sum(axis=1)


def spaces(counts: np.ndarray) -> np.ndarray:
    """``counts[i]`` spaces on row i, an ``(N, max)`` uint8 matrix for `join_rows` (NUL beyond)."""
    width = max(int(counts.max()) if len(counts) else 0, 1)
    return np.where(np.arange(width)[None, :] < counts[:, None], 32, 0).astype(np.uint8)


def digit_matrix(ints: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as ``width`` zero-padded ASCII digits, an ``(N, width)`` uint8 matrix."""
    out = np.empty((len(ints), width), dtype=np.uint8)
    rest = np.asarray(ints, dtype=np.int64)
    for k in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, k] = digit + 48
    return out


def csv_quoted(texts: np.ndarray) -> np.ndarray:
    """An ``S`` array of UTF-8 cells as the csv module writes them (quoted when they hold a
    comma, a quote or a line break; inner quotes doubled). Only the rare cells that need it
    go through Python."""
    if not len(texts) or texts.dtype.itemsize == 0:
        return texts
    m = as_matrix(texts)
    special = ((m == COMMA) | (m == QUOTE) | (m == NEWLINE) | (m == 13)).any(axis=1)
    if not special.any():
        return texts
    import csv
    import io

    out = texts.astype(object)
    for i in np.flatnonzero(special):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(["", texts[i].decode("utf-8")])
        out[i] = buffer.getvalue()[1:-1].encode("utf-8")
    return np.array(out.tolist(), dtype="S")
