"""统一社会信用代码 (unified social credit code), GB 32100-2015: 18 characters, the last a check character.

Characters come from a 31-symbol alphabet (digits and upper-case letters without I, O, S, V, Z); the check
character is computed from the first 17 with fixed weights, modulo 31.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
PATTERN = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def check_character(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(first17) != 17 or any(ch not in _VALUE for ch in first17):
        raise ValueError(f"not 17 code characters: {first17!r}")
    remainder = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True)) % 31
    return ALPHABET[(31 - remainder) % 31]


def is_well_formed(code: str) -> bool:
    """18 characters of the right alphabet and shape (registration authority, kind, region code, body)."""
    return isinstance(code, str) and bool(PATTERN.match(code))


def is_valid(code: str) -> bool:
    """Well-formed and the check character matches."""
    return is_well_formed(code) and check_character(code[:17]) == code[17]
