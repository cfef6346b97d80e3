"""How numbers are written in the circular (one place, used by tables, sentences and tests).

Percentages: one decimal, ASCII minus (pastes cleanly into Excel). Intensities: two decimals. Totals: two
decimals with thousands separators. Missing values: an em dash.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

MISSING = "—"


def _round_half_up(value: float, digits: int) -> str:
    # format() rounds half to even on the binary value; officials expect 0.05 -> 0.1, so go through Decimal.
    from decimal import ROUND_HALF_UP, Decimal

    quantum = Decimal(1).scaleb(-digits)
    text = str(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")  # never "-0.0"
    return text


def num(value: float | None, digits: int = 2) -> str:
    """317.16; None -> —."""
    return MISSING if value is None else _round_half_up(value, digits)


def total(value: float | None, digits: int = 2) -> str:
    """12,345.68 (thousands separators for totals)."""
    if value is None:
        return MISSING
    text = _round_half_up(value, digits)
    sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, frac = body.partition(".")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def pct(ratio: float | None) -> str:
    """A ratio as a signed percentage with one decimal and no % sign: -0.0134 -> "-1.3"."""
    return MISSING if ratio is None else _round_half_up(ratio * 100, 1)


def pct_plain(ratio: float | None) -> str:
    """A share as a percentage with one decimal: 0.985 -> "98.5"."""
    return pct(ratio)


def change(ratio: float | None) -> str:
    """Year-on-year wording: "下降1.3%", "上升0.4%", "持平" (when it rounds to 0.0)."""
    if ratio is None:
        return "无上年数据"
    text = pct(ratio)
    if text.lstrip("-") == "0.0":
        return "持平"
    return f"下降{text.lstrip('-')}%" if text.startswith("-") else f"上升{text}%"


def names(items: Iterable[Any]) -> str:
    """南宁市、柳州市 (objects with reporter_name / name_zh, or strings)."""
    out = []
    for item in items:
        for attr in ("reporter_name", "name_zh"):
            if hasattr(item, attr):
                item = getattr(item, attr)
                break
        out.append(str(item))
    return "、".join(out)


def count(value: float | None) -> str:
    """A count of things (institutions, projects, items): an integer with thousands separators; 17000 -> 17,000.

    Counts reach here as integers from SQL (a share target is rounded up there); anything else is an error.
    """
    if value is None:
        return MISSING
    if not float(value).is_integer():
        raise ValueError(f"a count must be a whole number, got {value!r}")
    return f"{int(value):,}"


def trim0(text: str) -> str:
    """"60.0" -> "60"; "62.5" stays."""
    return text[:-2] if text.endswith(".0") else text


CN_DIGITS = "零一二三四五六七八九"


def cn_count(value: int) -> str:
    """Small counts in Chinese numerals before a measure word: 2 -> 两, 4 -> 四, 10 -> 十, 12 -> 十二."""
    n = int(value)
    if n == 2:
        return "两"
    if 0 <= n < 10:
        return CN_DIGITS[n]
    if 10 <= n < 100:
        tens, units = divmod(n, 10)
        return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[units] if units else "")
    return str(n)


def cn_date(day: date) -> str:
    """成文日期 style: 2024年2月5日 (年份标全称，月、日不编虚位)."""
    return f"{day.year}年{day.month}月{day.day}日"


FILTERS = {"num": num, "total": total, "pct": pct, "pct_plain": pct_plain, "change": change, "names": names,
           "cn_date": cn_date, "count": count, "trim0": trim0, "cn_count": cn_count}
