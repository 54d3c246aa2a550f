"""The import rules (pyproject.toml [tool.importlinter], checked by `make lint`) cover every adapter package."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_llama_index_portion_is_a_root_package_of_the_import_rules() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    portions = {
        f"llama_index.{p.parent.name}.zerog" for p in (ROOT / "packages/llamaindex/src").glob("llama_index/*/zerog")
    }
    assert len(portions) >= 5
    assert portions | {"zerog_compute", "langchain_zerog"} == set(config["root_packages"])
