"""`zerog proxy --auto-fund` never funds without a cap unless asked: `--fund-budget` (default 10 0G)."""

from __future__ import annotations

import argparse

import pytest

from zerog_compute import ConfigurationError
from zerog_compute.cli._proxy import _funding_policy

G = 10**18


def policy(budget: str) -> argparse.Namespace:
    return argparse.Namespace(fund_min="2", fund_target="3", fund_budget=budget)


def test_default_and_explicit_budgets() -> None:
    assert _funding_policy(policy("10")).budget == 10 * G
    assert _funding_policy(policy("2.5")).budget == 25 * G // 10
    assert _funding_policy(policy("unlimited")).budget is None


def test_a_bad_budget_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="budget"):
        _funding_policy(policy("lots"))


def test_the_cli_parses_the_option() -> None:
    from zerog_compute.cli.app import build_parser

    args = build_parser().parse_args(["proxy", "--model", "m", "--auto-fund"])
    assert args.fund_budget == "10"
    args = build_parser().parse_args(["proxy", "--model", "m", "--auto-fund", "--fund-budget", "unlimited"])
    assert _funding_policy(args).budget is None


def test_the_proxy_takes_a_deadline() -> None:
    from zerog_compute.cli.app import build_parser

    assert build_parser().parse_args(["proxy", "--model", "m"]).deadline == 300.0
    assert build_parser().parse_args(["proxy", "--model", "m", "--deadline", "20"]).deadline == 20.0
