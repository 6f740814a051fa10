"""How numbers and text appear in the documents (also the templates' jinja filters)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def is_num(x: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def fmt(x: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; "n/a" for None/NaN; other values as text."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if is_num(x):
        return f"{x:,.{digits}f}"
    return str(x)


def pct(x: Any, digits: int = 1) -> str:
    """A share as a percentage."""
    return "n/a" if not is_num(x) else f"{100 * x:.{digits}f}%"


def count(x: Any) -> str:
    """A whole number with thousands separators."""
    return "n/a" if not is_num(x) else f"{x:,.0f}"


def interval(lo: Any, hi: Any, digits: int = 2) -> str:
    """A 95% interval ``lo – hi``; a dash when either end is missing."""
    if not (is_num(lo) and is_num(hi)):
        return "—"
    return f"{lo:.{digits}f} – {hi:.{digits}f}"


def md(x: Any) -> str:
    """Text safe inside a markdown table cell."""
    return str(x).replace("|", "\\|").replace("\n", " ")


def cell(v: Any) -> str:
    """A table cell of the data-quality tables: mappings and lists inline, whole numbers plain."""
    if isinstance(v, Mapping | list):
        return (
            ", ".join(f"{k}: {cell(x)}" for k, x in dict(v).items())
            if isinstance(v, Mapping)
            else ", ".join(cell(x) for x in v)
        )
    if is_num(v) and float(v).is_integer():
        return f"{v:,.0f}"
    return fmt(v, 3)


def nan(x: Any) -> float:
    """A figure as a float for charts: NaN where it is missing."""
    return float(x) if is_num(x) else math.nan


def capfirst(x: Any) -> str:
    """Text with its first letter in capitals and the rest untouched ("White" stays "White")."""
    text = str(x)
    return text[:1].upper() + text[1:]
