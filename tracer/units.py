# SPDX-License-Identifier: Apache-2.0
"""Exact amounts: decimal text <-> integer base units, and the frame encoding of uint256.

Rules (shared design notes §3, "Values are integers in base units everywhere"; the stores'
``DECIMAL(38,0)`` limit was measured in §1):

* An amount is an ``int`` of base units (satoshi, wei, token base units) from the adapter
  boundary on. Floats are refused outright: ``0.1 + 0.2`` is not money, and Dogecoin-sized
  values already lose digits in a binary float.
* Node JSON numbers are parsed as :class:`decimal.Decimal` (``json.loads(..., parse_float=Decimal)``)
  and converted once, here.
* ERC-20 amounts are uint256 (up to ~1.16e77). Polars and the stores handle exact decimals up to
  38 digits, so a frame carries ``value`` as ``Decimal(38, 0)`` and, only for the rare amount at or
  above 10**38 (spam tokens with absurd supplies), ``value = null`` with the exact digits in
  ``value_overflow``. :func:`split_for_frame` and :func:`join_from_frame` are the only two places that
  know this rule.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from tracer.errors import InputError

__all__ = [
    "MAX_UINT256",
    "FRAME_DECIMAL_LIMIT",
    "MAX_DECIMALS",
    "amount_from_text",
    "to_base_units",
    "format_units",
    "split_for_frame",
    "join_from_frame",
]

MAX_UINT256 = 2**256 - 1
#: Largest integer a ``Decimal(38, 0)`` column holds exactly, plus one.
FRAME_DECIMAL_LIMIT = 10**38
#: Most decimals an asset may have (ERC-20 ``decimals()`` is a uint8).
MAX_DECIMALS = 255
#: An amount a person or a file gives: ASCII digits with at most one decimal point, nothing else
#: (no sign, exponent, separator, space or non-ASCII digit: ``"١٢"``, ``"²"`` and ``"1E+3"`` are refused)
_AMOUNT_TEXT = re.compile(r"([0-9]*)(?:\.([0-9]*))?", re.ASCII)
#: digits of MAX_UINT256: a whole part longer than this (leading zeros aside) cannot be an amount
_UINT256_DIGITS = len(str(MAX_UINT256))


def amount_from_text(text: str, decimals: int, *, what: str = "amount") -> int:
    """The one rule for an amount read from a person or a file: decimal text in coin (or token)
    units -> exact integer base units, at most ``2**256 - 1``.

    Accepted: ASCII digits with at most one decimal point (``"1.5"``, ``"1500"``, ``".5"``, ``"5."``),
    surrounding spaces ignored. Refused, never guessed: a sign, an exponent (``1E+3``), thousands or
    other separators (``1,500.25``, ``1_000``), non-ASCII digits (``"١٢"``, ``"１"``, ``"²"``), more
    fractional digits than ``decimals`` unless they are zeros (value would be dropped), and amounts of
    ``2**256`` base units or more. Node JSON amounts (``Decimal`` from the node's own encoder) go
    through :func:`to_base_units` instead.

    Parameters
    ----------
    text
        The amount as given.
    decimals
        Base units per coin as a power of ten, 0 to :data:`MAX_DECIMALS` (``0``: ``text`` is already
        in base units).
    what
        How messages name the value (``"--min-value"``, ``"value"``).

    Raises
    ------
    InputError
        Naming ``what``, the text (shortened when long) and the rule it breaks.

    Examples
    --------
    >>> amount_from_text("1.5", 6)
    1500000
    >>> amount_from_text("0.000000000000000001", 18)
    1
    >>> amount_from_text("1E+3", 18)
    Traceback (most recent call last):
    ...
    tracer.errors.InputError: amount '1E+3' is not a plain decimal number (ASCII digits and at most one '.')
    """
    if not isinstance(text, str):
        raise InputError(f"{what} {text!r} is a {type(text).__name__}; pass decimal text")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise InputError(f"decimals must be a whole number from 0 to {MAX_DECIMALS}, got {decimals!r}")
    shown = text if len(text) <= 90 else text[:40] + "…" + text[-40:]
    stripped = text.strip(" \t")
    if stripped.startswith("-"):
        raise InputError(f"{what} {shown!r} is negative")
    match = _AMOUNT_TEXT.fullmatch(stripped)
    if match is None or not (match.group(1) or match.group(2)):
        raise InputError(f"{what} {shown!r} is not a plain decimal number (ASCII digits and at most one '.')")
    whole = match.group(1).lstrip("0")
    fraction = (match.group(2) or "").rstrip("0")
    if len(fraction) > decimals:
        raise InputError(f"{what} {shown!r} has more than {decimals} decimal places")
    if whole and len(whole) + decimals > _UINT256_DIGITS:  # checked before int(): no huge number is built
        raise InputError(f"{what} {shown!r} is larger than the largest amount (2**256 - 1 base units)")
    value = int(whole or "0") * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if value > MAX_UINT256:
        raise InputError(f"{what} {shown!r} is larger than the largest amount (2**256 - 1 base units)")
    return value


def to_base_units(amount: str | int | Decimal, decimals: int) -> int:
    """Convert a coin amount given as decimal text (or ``Decimal``) to integer base units, exactly.

    Parameters
    ----------
    amount
        ``"0.00012345"``, ``Decimal("50")``, ``"1e-08"`` or an ``int`` already in coin units.
        A ``float`` is refused.
    decimals
        Base units per coin as a power of ten (8 for BTC/LTC, 18 for ETH, a token's ``decimals()``).

    Raises
    ------
    InputError
        For a float, text that is not a number, a negative amount, or more fractional digits than
        ``decimals`` allows (which would silently drop value).

    Examples
    --------
    >>> to_base_units("0.00012345", 8)
    12345
    >>> to_base_units("1.5", 6)
    1500000
    """
    if isinstance(amount, float) or isinstance(amount, bool):
        raise InputError(f"amount {amount!r} is a {type(amount).__name__}; pass decimal text or Decimal")
    if isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, str):
        text = amount.strip().replace("_", "")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InputError(f"amount {amount!r} is not a decimal number") from None
    else:
        raise InputError(f"amount {amount!r} has unsupported type {type(amount).__name__}")
    if not value.is_finite():
        raise InputError(f"amount {amount!r} is not a finite number")
    if value < 0:
        raise InputError(f"amount {amount!r} is negative")
    if decimals < 0:
        raise InputError(f"decimals must be >= 0, got {decimals}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -decimals and value.adjusted() + decimals < 27:
        # fast path (node amounts): no digit is dropped, and the result fits the default 28-digit context
        return int(value.scaleb(decimals))
    with localcontext() as ctx:
        ctx.prec = 200
        scaled = value.scaleb(decimals)
        if scaled != scaled.to_integral_value():
            raise InputError(f"amount {amount!r} has more than {decimals} decimal places")
        return int(scaled)


def format_units(base_units: int, decimals: int) -> str:
    """Render base units as an exact coin amount, trailing zeros trimmed.

    >>> format_units(12345, 8)
    '0.00012345'
    >>> format_units(5_000_000_000, 8)
    '50'
    """
    if isinstance(base_units, float):
        raise TypeError("format_units takes integer base units, not a float")
    sign = "-" if base_units < 0 else ""
    digits = str(abs(int(base_units)))
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    whole, frac = digits[:-decimals], digits[-decimals:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def split_for_frame(value: int) -> tuple[Decimal | None, str | None]:
    """Encode an integer amount for a frame: ``(Decimal, None)`` or ``(None, exact_text)``.

    >>> split_for_frame(10)
    (Decimal('10'), None)
    >>> split_for_frame(10**40)[0] is None
    True
    """
    if isinstance(value, float) or isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amounts are integers of base units, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"negative amount {value}")
    if value > MAX_UINT256:
        raise ValueError(f"amount {value} exceeds uint256")
    if value < FRAME_DECIMAL_LIMIT:
        return Decimal(value), None
    return None, str(value)


def join_from_frame(value: Decimal | int | None, overflow: str | None) -> int:
    """Inverse of :func:`split_for_frame`.

    >>> join_from_frame(None, "100000000000000000000000000000000000000000")
    100000000000000000000000000000000000000000
    """
    if value is not None:
        return int(value)
    if overflow is None:
        raise ValueError("amount has neither a value nor an overflow text")
    return int(overflow)
