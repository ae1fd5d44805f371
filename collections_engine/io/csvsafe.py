"""CSV text that is safe to open in a spreadsheet.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as the start of a formula (CSV injection: a customer named
`=HYPERLINK(...)` or `+cmd|' /C calc'!A0` runs in the agent's spreadsheet). Such text cells get
the usual leading apostrophe (OWASP's advice), which spreadsheets show as text. Two things are
left alone on purpose: numeric columns (a negative amount stays the number `-12.50`) and text
cells that are one plain number such as a phone `+8613800000000` or `-12.50` (a spreadsheet
reads them as a number, never as a formula, and a dialer needs the `+`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["FORMULA_STARTS", "spreadsheet_safe", "safe_cell", "csv_text"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """One cell as `spreadsheet_safe` writes it (the obvious version the tests compare with)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _safe_text(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object).where(s.notna(), None)
    is_text = isinstance(s.dtype, pd.StringDtype)
    if not is_text and s.dtype != object:
        return s
    if not len(s):
        return s
    if is_text:
        t = s
    else:  # object: only the cells that are text (dates, numbers, None pass as they are)
        t = s.where(s.map(type).to_numpy() == str).astype("string")  # noqa: E721 - exact str
    first = t.str.slice(0, 1)
    risky = first.isin(FORMULA_STARTS).fillna(False).to_numpy(dtype=bool)
    if not risky.any():
        return s
    rows = np.flatnonzero(risky)
    vals = t.iloc[rows]
    plain = vals.str.fullmatch(_PLAIN_NUMBER.pattern).fillna(False).to_numpy(dtype=bool)
    rows = rows[~plain]
    if not len(rows):
        return s
    out = s.astype(object).copy() if not is_text else s.copy()
    out.iloc[rows] = ("'" + t.iloc[rows]).to_numpy(dtype=object)
    return out


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with every risky text cell neutralised (numbers and dates untouched)."""
    cols = {c: _safe_text(df[c]) for c in df.columns}
    return pd.DataFrame(cols, index=df.index) if len(df.columns) else df


def csv_text(df: pd.DataFrame) -> str:
    """Spreadsheet-safe CSV as RFC 4180 has it: CRLF line ends (so that a cell holding a carriage
    return or a line feed is quoted: with '\\n' line ends Python's writer leaves a lone CR bare
    and a reader splits the row there), ISO dates, no index."""
    return spreadsheet_safe(df).to_csv(index=False, lineterminator="\r\n", date_format="%Y-%m-%d")
