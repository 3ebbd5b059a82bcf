"""Score lines ``enroll test score [column ...]``: the one format of score files, decisions and
LLRs (:func:`score_lines`), and its numpy twin for labelled score files (:func:`format_lines`).

>>> score_lines(["a", "b"], ["c", "d"], [0.5, -1.25e-7], [["target", "nontarget"]])
'a c 0.500000 target\\nb d -0.000000 nontarget\\n'

Building a million lines with Python string formatting costs more than scoring them. Here every
field of a chunk is a byte matrix (keys gathered from a small table of distinct keys, the score's
digits computed arithmetically), the fields are laid side by side and the padding bytes dropped
with one boolean mask, giving the chunk's text as a single ``bytes``. Scores come out exactly as
``f"{score:.{precision}f}"`` writes them: the rounding is checked, and the few values within
rounding error of a tie (or not finite) are formatted by Python instead.

>>> table = KeyTable(["a", "bb"])
>>> format_lines(table, np.array([0, 1]), table, np.array([1, 0]), np.array([0.5, -1.25e-7]),
...              np.array([1, 0], dtype=np.int8)).decode()
'a bb 0.500000 target\\nbb a -0.000000 nontarget\\n'
"""

import numpy as np

#: A label's word in a score file, by label (0, 1).
LABEL_WORDS = ("nontarget", "target")


def score_lines(enroll, test, scores, columns=(), precision=6):
    """The text of ``enroll test score [column ...]`` lines, the score as ``%.{precision}f``;
    each of ``columns`` is a sequence of words, one per line."""
    fmt = f"{{}} {{}} {{:.{precision}f}}"
    rows = zip(enroll, test, np.asarray(scores).tolist(), *columns)
    return "".join(" ".join((fmt.format(e, t, s),) + tuple(words)) + "\n" for e, t, s, *words in rows)


class KeyTable:
    """Distinct keys as a padded byte matrix (``[n, width]`` uint8) and their lengths; grows as
    keys are added (``extend``)."""

    def __init__(self, keys=()):
        self.count = 0
        self.bytes = np.zeros((0, 1), dtype=np.uint8)
        self.lengths = np.zeros(0, dtype=np.int64)
        self.extend(keys)

    def extend(self, keys):
        encoded = [key.encode("utf-8") for key in keys]
        if not encoded:
            return
        width = max(self.bytes.shape[1], max(len(item) for item in encoded))
        table = np.zeros((self.count + len(encoded), width), dtype=np.uint8)
        table[:self.count, :self.bytes.shape[1]] = self.bytes[:self.count]
        for row, item in enumerate(encoded, self.count):
            table[row, :len(item)] = np.frombuffer(item, dtype=np.uint8)
        self.bytes = table
        self.lengths = np.concatenate([self.lengths, [len(item) for item in encoded]]).astype(np.int64)
        self.count += len(encoded)

    def field(self, ids):
        """``(bytes [n, width], mask [n, width])`` of the keys ``ids``."""
        mask = np.arange(self.bytes.shape[1])[None, :] < self.lengths[ids][:, None]
        return self.bytes[ids], mask


def _digits(values, width):
    """Decimal digits ``[n, width]`` (uint8 ASCII) of non-negative int64 ``values``, most
    significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers[None, :]) % 10 + 48).astype(np.uint8)


def _score_field(scores, precision):
    """``(bytes, mask)`` of the scores in ``%.{precision}f`` form."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    scale = 10.0 ** precision
    finite = np.isfinite(scores)
    finite[finite] &= np.abs(scores[finite]) < 2.0 ** 62 / scale  # else int64 digits overflow
    scaled = np.abs(np.where(finite, scores, 0.0)) * scale
    units = np.rint(scaled)
    # Near a rounding tie the product's own rounding error may decide: let Python format those.
    tie_distance = np.abs(scaled - np.floor(scaled) - 0.5)
    exact = finite & (tie_distance > 1e-6 + np.abs(scaled) * 1e-15)
    units = units.astype(np.int64)
    whole, fraction = np.divmod(units, int(scale))
    int_width = max(1, len(str(int(whole.max(initial=0)))))
    int_digits = _digits(whole, int_width)
    # Leading zeros of the integer part are padding (the last digit always shows).
    significant = np.ones((n, int_width), dtype=bool)
    if int_width > 1:
        lengths = np.maximum(1, np.floor(np.log10(np.maximum(whole, 1))).astype(np.int64) + 1)
        significant = np.arange(int_width)[None, :] >= (int_width - lengths)[:, None]
    sign = np.full((n, 1), ord("-"), dtype=np.uint8)
    sign_mask = np.signbit(scores)[:, None]
    parts = [sign, int_digits]
    masks = [sign_mask, significant]
    if precision > 0:
        parts += [np.full((n, 1), ord("."), dtype=np.uint8), _digits(fraction, precision)]
        masks += [np.ones((n, 1), dtype=bool), np.ones((n, precision), dtype=bool)]
    field, mask = np.hstack(parts), np.hstack(masks)
    odd = np.flatnonzero(~exact)
    if odd.size:  # Python's own formatting, placed in a wider field when it needs one
        texts = [f"{value:.{precision}f}".encode("ascii") for value in scores[odd].tolist()]
        wide = max(field.shape[1], max(len(text) for text in texts))
        if wide > field.shape[1]:
            field = np.hstack([field, np.zeros((n, wide - field.shape[1]), dtype=np.uint8)])
            mask = np.hstack([mask, np.zeros((n, wide - mask.shape[1]), dtype=bool)])
        field[odd] = 0
        mask[odd] = False
        for row, text in zip(odd.tolist(), texts):
            field[row, :len(text)] = np.frombuffer(text, dtype=np.uint8)
            mask[row, :len(text)] = True
    return field, mask


def format_lines(enroll_table, enroll_ids, test_table, test_ids, scores, labels=None, precision=6):
    """The text (bytes) of ``enroll test score [target|nontarget]`` lines, one per score."""
    n = len(scores)
    if n == 0:
        return b""
    columns, masks = [], []

    def add(field, mask):
        columns.append(field)
        masks.append(mask)

    def add_byte(value):
        add(np.full((n, 1), value, dtype=np.uint8), np.ones((n, 1), dtype=bool))

    add(*enroll_table.field(enroll_ids))
    add_byte(ord(" "))
    add(*test_table.field(test_ids))
    add_byte(ord(" "))
    add(*_score_field(scores, precision))
    if labels is not None:
        add_byte(ord(" "))
        add(*KeyTable(LABEL_WORDS).field(np.asarray(labels, dtype=np.int64)))
    add_byte(ord("\n"))
    return np.hstack(columns)[np.hstack(masks)].tobytes()
