"""Amount conversions: exact Decimal/str 0G and int neuron, never floats."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zerog_compute.errors import ConfigurationError
from zerog_compute.units import MAX_NEURON, NEURON_PER_0G, format_0g, to_0g, to_neuron

neurons = st.integers(min_value=1, max_value=MAX_NEURON)


@pytest.mark.parametrize(
    ("amount", "neuron"),
    [
        (Decimal("1.5"), 1_500_000_000_000_000_000),
        (Decimal("0.1"), 100_000_000_000_000_000),
        (Decimal("10.123"), 10_123_000_000_000_000_000),
        (Decimal("1E-18"), 1),
        (Decimal("1.000000000000000000000"), NEURON_PER_0G),
        (Decimal("1E+2"), 100 * NEURON_PER_0G),
        ("1.5", 1_500_000_000_000_000_000),
        ("0.000000000000000001", 1),
        (" 3 ", 3 * NEURON_PER_0G),
        ("3.", 3 * NEURON_PER_0G),
        (".5", NEURON_PER_0G // 2),
        ("1.5 0G", 1_500_000_000_000_000_000),
        ("2 0g", 2 * NEURON_PER_0G),
        (7, 7),
        (NEURON_PER_0G, NEURON_PER_0G),
    ],
)
def test_to_neuron_exact(amount: Any, neuron: int) -> None:
    assert to_neuron(amount) == neuron


def test_int_is_neuron_not_0g() -> None:
    assert to_neuron(3) == 3
    assert to_neuron("3") == 3 * NEURON_PER_0G


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        (0.1, 'Decimal("0.1")'),
        (1.0, 'Decimal("0.1")'),
        (True, 'Decimal("0.1")'),
        (None, "Decimal or str"),
        ([1], "Decimal or str"),
        (Decimal("1E-19"), "18 decimals"),
        ("0.0000000000000000001", "18 decimals"),
        (Decimal("NaN"), "finite"),
        (Decimal("sNaN"), "finite"),
        (Decimal("-Infinity"), "finite"),
        (Decimal("-1"), "negative"),
        (-1, "negative"),
        ("-1", "plain decimal"),
        ("nan", "plain decimal"),
        ("inf", "plain decimal"),
        ("1e3", "plain decimal"),
        ("1_000", "plain decimal"),
        ("", "plain decimal"),
        ("١", "plain decimal"),
        (MAX_NEURON + 1, "uint256"),
        (Decimal("1E+999999999"), "uint256"),
        (Decimal("1E-999999999"), "18 decimals"),
        (0, "greater than 0"),
        ("0", "greater than 0"),
        (Decimal("-0"), "greater than 0"),
    ],
)
def test_to_neuron_rejects(amount: Any, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match="amount") as info:
        to_neuron(amount)
    assert fragment in str(info.value)


def test_to_neuron_names_the_argument_and_allows_zero() -> None:
    with pytest.raises(ConfigurationError, match="^deposit "):
        to_neuron(0.5, name="deposit")  # type: ignore[arg-type]
    assert to_neuron(0, allow_zero=True) == 0
    assert to_neuron("0.0", allow_zero=True) == 0


def test_to_0g_and_format() -> None:
    assert to_0g(1_500_000_000_000_000_000) == Decimal("1.5")
    assert to_0g(1) == Decimal("0.000000000000000001")
    assert to_0g(-NEURON_PER_0G // 2) == Decimal("-0.5")
    assert format_0g(1_500_000_000_000_000_000) == "1.5 0G"
    assert format_0g(3 * NEURON_PER_0G) == "3 0G"
    assert format_0g(1) == "0.000000000000000001 0G"
    assert format_0g(0) == "0 0G"
    assert format_0g(1_500_000_000_000_000_000, 2) == "1.50 0G"
    assert format_0g(NEURON_PER_0G - 1, 2) == "1.00 0G"
    assert format_0g(5 * 10**15, 2) == "0.01 0G"
    assert format_0g(3 * NEURON_PER_0G, 0) == "3 0G"
    assert format_0g(5, 20) == "0.00000000000000000500 0G"
    assert format_0g(-NEURON_PER_0G // 4, 1) == "-0.3 0G"
    with pytest.raises(ConfigurationError):
        format_0g(1, -1)
    with pytest.raises(ConfigurationError):
        to_0g(1.5)  # type: ignore[arg-type]


@given(neurons)
def test_round_trip_through_0g(neuron: int) -> None:
    assert to_neuron(to_0g(neuron)) == neuron
    assert to_neuron(format_0g(neuron)) == neuron


@given(st.decimals(min_value=0, max_value=10**50, places=18, allow_nan=False, allow_infinity=False))
def test_decimal_round_trip(amount: Decimal) -> None:
    neuron = to_neuron(amount, allow_zero=True)
    assert to_0g(neuron) == amount
    assert to_neuron(f"{amount:f}", allow_zero=True) == neuron


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=0, max_value=NEURON_PER_0G - 1))
def test_string_round_trip(whole: int, frac: int) -> None:
    text = f"{whole}.{frac:018d}"
    assert to_neuron(text, allow_zero=True) == whole * NEURON_PER_0G + frac


@given(st.text())
def test_any_text_is_accepted_or_configuration_error(text: str) -> None:
    with contextlib.suppress(ConfigurationError):
        assert to_neuron(text) > 0


@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.integers(),
        st.decimals(),
        st.binary(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.integers()),
        st.complex_numbers(),
    )
)
def test_any_object_is_accepted_or_configuration_error(value: Any) -> None:
    with contextlib.suppress(ConfigurationError):
        assert to_neuron(value) > 0
