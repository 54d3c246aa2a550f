"""Amounts: ``Decimal`` or ``str`` of 0G, or exact ``int`` neuron — never floats.

1 0G = 10**18 neuron (the chain's wei). An ``int`` is always **neuron**; write 0G amounts as
``Decimal("1.5")`` or ``"1.5"`` (an optional ``0G`` suffix is accepted: ``"1.5 0G"``). Floats are
rejected because binary floating point cannot hold most decimal amounts exactly (the TS SDK turns
``0.1`` into ``100000000000000006`` neuron; we do not copy that).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final, TypeAlias

from .errors import ConfigurationError

NEURON_PER_0G: Final = 10**18
DECIMALS: Final = 18
MAX_NEURON: Final = 2**256 - 1

Amount: TypeAlias = Decimal | int | str
"""An amount: ``Decimal``/``str`` in 0G, or ``int`` in neuron."""

_AMOUNT_TEXT = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:0g)?\s*", re.IGNORECASE | re.ASCII)
_HINT = 'write 0G amounts as Decimal("0.1") or "0.1", neuron amounts as int'


def to_neuron(amount: Amount, *, name: str = "amount", allow_zero: bool = False) -> int:
    """Convert ``amount`` to exact neuron.

    ``int`` is neuron; ``Decimal`` and ``str`` are 0G with at most 18 decimals. Zero is refused
    unless ``allow_zero``.

    Raises:
        ConfigurationError: wrong type (bool, float, ...), not a number, negative, more than 18
            decimals, larger than uint256, or zero when not allowed.
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, Decimal, str)):
        raise ConfigurationError(f"{name} must be a Decimal or str of 0G or an int of neuron, got {amount!r}; {_HINT}")
    if isinstance(amount, int):
        neuron = amount
    else:
        neuron = _decimal_to_neuron(_parse_text(amount, name) if isinstance(amount, str) else amount, name)
    _check_range(neuron, name, allow_zero)
    return neuron


def to_0g(neuron: int) -> Decimal:
    """``neuron`` as an exact ``Decimal`` number of 0G (trailing zeros stripped)."""
    if isinstance(neuron, bool) or not isinstance(neuron, int):
        raise ConfigurationError(f"neuron must be an int, got {neuron!r}")
    return Decimal(_plain_0g(neuron))


def format_0g(neuron: int, places: int | None = None) -> str:
    """Human-readable ``"1.5 0G"``; with ``places``, exactly that many decimals (rounded half up)."""
    if isinstance(neuron, bool) or not isinstance(neuron, int):
        raise ConfigurationError(f"neuron must be an int, got {neuron!r}")
    if places is None:
        return f"{_plain_0g(neuron)} 0G"
    if isinstance(places, bool) or not isinstance(places, int) or places < 0:
        raise ConfigurationError(f"places must be an int >= 0, got {places!r}")
    sign, magnitude = ("-" if neuron < 0 else ""), abs(neuron)
    if places < DECIMALS:
        unit = 10 ** (DECIMALS - places)
        magnitude = (magnitude + unit // 2) // unit
    else:
        magnitude *= 10 ** (places - DECIMALS)
    whole, frac = divmod(magnitude, 10**places)
    return f"{sign}{whole}.{frac:0{places}d} 0G" if places else f"{sign}{whole} 0G"


def _plain_0g(neuron: int) -> str:
    whole, frac = divmod(abs(neuron), NEURON_PER_0G)
    text = f"{whole}.{frac:018d}".rstrip("0").rstrip(".")
    return f"-{text}" if neuron < 0 else text


def _parse_text(text: str, name: str) -> Decimal:
    match = _AMOUNT_TEXT.fullmatch(text)
    if match is None:
        raise ConfigurationError(f"{name}={text[:60]!r} is not a plain decimal number of 0G such as '1.5'; {_HINT}")
    return Decimal(match.group(1))


def _decimal_to_neuron(value: Decimal, name: str) -> int:
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value} 0G")
    if not value:  # any exponent: Decimal("0E+999999999") must not build a billion-digit string
        return 0
    if value.adjusted() + DECIMALS > 77:
        raise ConfigurationError(f"{name}={value} 0G does not fit in uint256 neuron")
    shift = exponent + DECIMALS
    if shift >= 0:
        return int("".join(map(str, digits)) + "0" * shift)
    if any(digits[shift:]):
        raise ConfigurationError(
            f"{name}={value} 0G has more than 18 decimals; the maximum precision is 18 decimals (1 neuron)"
        )
    return int("".join(map(str, digits[:shift])) or "0")


def _check_range(neuron: int, name: str, allow_zero: bool) -> None:
    if neuron < 0:
        raise ConfigurationError(f"{name} must not be negative, got {neuron} neuron")
    if neuron > MAX_NEURON:
        raise ConfigurationError(f"{name}={neuron} neuron does not fit in uint256")
    if neuron == 0 and not allow_zero:
        raise ConfigurationError(f"{name} must be greater than 0")
