"""The public surface: every error is in the documented tree, and what users import lives at the top level."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import zerog_compute
from zerog_compute import errors, failover, funding, ratelimit, verification
from zerog_compute._aresources import AsyncProviderPool
from zerog_compute._resources import ProviderPool

ROOT = Path(__file__).resolve().parents[2]

TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w*Error)\b")


def documented_tree() -> dict[str, str | None]:
    """``{error name: parent name}`` as drawn in the docstring of ``zerog_compute.errors``."""
    assert errors.__doc__
    drawing = errors.__doc__.split("::", 1)[1]
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in drawing.splitlines():
        match = TREE_LINE.match(line.removeprefix("    "))
        if match is None:
            continue
        depth = len(match["indent"]) // 4
        del stack[depth:]
        parents[match["name"]] = stack[-1] if stack else None
        stack.append(match["name"])
    return parents


def every_error_class() -> set[type[errors.ZeroGError]]:
    """ZeroGError and all its subclasses, after importing every zerog_compute module. Subclasses other packages
    define (langchain_zerog's errors that are also langchain-core model errors) are theirs, not in the tree."""
    for module in pkgutil.walk_packages(zerog_compute.__path__, "zerog_compute."):
        if not module.name.endswith(".__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    found: set[type[errors.ZeroGError]] = set()
    todo: list[type[errors.ZeroGError]] = [errors.ZeroGError]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] == "zerog_compute":
            found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_the_tree_parser_reads_depths() -> None:
    tree = documented_tree()
    assert tree["ZeroGError"] is None
    assert tree["ChainError"] == "ZeroGError"
    assert tree["StreamInterruptedError"] == "ProviderUnavailableError"


def test_every_error_is_in_the_tree_under_its_parent() -> None:
    tree = documented_tree()
    classes = every_error_class()
    assert {cls.__name__ for cls in classes} == set(tree), "errors.py's tree and the error classes differ"
    for cls in classes:
        assert cls.__module__ == "zerog_compute.errors", f"{cls.__name__} belongs in errors.py"
        bases = [b.__name__ for b in cls.__bases__ if issubclass(b, errors.ZeroGError)]
        assert bases == ([tree[cls.__name__]] if tree[cls.__name__] else []), cls.__name__


def test_every_error_is_exported_at_the_top_level() -> None:
    for name in documented_tree():
        assert name in zerog_compute.__all__
        assert getattr(zerog_compute, name) is getattr(errors, name)


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("FundingPolicy", funding.FundingPolicy),
        ("FundingEvent", funding.FundingEvent),
        ("RateLimit", ratelimit.RateLimit),
        ("ProviderPool", ProviderPool),
        ("AsyncProviderPool", AsyncProviderPool),
        ("PoolEvent", failover.PoolEvent),
        ("ExhaustedError", failover.ExhaustedError),
        ("Strategy", failover.Strategy),
        ("VerificationPolicy", verification.VerificationPolicy),
    ],
)
def test_names_users_need_are_exported_at_the_top_level(name: str, home: object) -> None:
    assert name in zerog_compute.__all__
    assert getattr(zerog_compute, name) is home


def user_facing_files() -> list[Path]:
    """Docs, READMEs and examples: what users copy their imports from."""
    files = [*ROOT.glob("docs/**/*.md"), *ROOT.glob("README*"), *ROOT.glob("packages/*/README.md")]
    contributors = {ROOT / "docs" / "architecture.md"}  # for contributors: it shows the internals on purpose
    return sorted({*files, *ROOT.glob("examples/**/*.py")} - contributors)


SUBMODULE_IMPORT = re.compile(r"^\s*from (zerog_compute\.[\w.]+) import ([^\n#]+)", re.MULTILINE)
OPTIONAL_EXTRAS = {"zerog_compute.proxy", "zerog_compute.webui"}  # need the proxy / ui extra: not in the top level


def test_docs_and_examples_import_public_names_from_the_top_level() -> None:
    files = user_facing_files()
    assert len(files) > 10
    found = []
    for path in files:
        for module, names in SUBMODULE_IMPORT.findall(path.read_text(encoding="utf-8")):
            if module not in OPTIONAL_EXTRAS:
                found.append(f"{path.relative_to(ROOT)}: from {module} import {names.strip()}")
    assert not found, "import these from zerog_compute instead:\n" + "\n".join(found)


def private_uses(source: str) -> list[str]:
    """``x._name`` on anything but ``self``, and imports of private zerog_compute modules or names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if ast.unparse(node.value) not in ("self", "cls"):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.level >= 2:
            names = [*(node.module or "").split("."), *(alias.name for alias in node.names)]
            if any(name.startswith("_") for name in names):
                found.append(f"{node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
    return found


def test_private_use_scanner() -> None:
    source = "zg._run(x)\nself._ok\nfrom .._io import Http\nfrom .. import _abi\nfrom ..client import ZeroG\n"
    assert sorted(use.split(":")[0] for use in private_uses(source)) == ["1", "3", "4"]


def test_the_cli_uses_only_the_public_api() -> None:
    cli = ROOT / "packages" / "core" / "src" / "zerog_compute" / "cli"
    found = {path.name: uses for path in sorted(cli.glob("*.py")) if (uses := private_uses(path.read_text()))}
    assert not found
