"""Runs inside a fresh virtualenv as ``python -I probe.py SPEC OUT`` and reports what it finds, as JSON in OUT.

Standard library only: the virtualenv holds nothing but the distributions under test and their dependencies.
SPEC (JSON) names the import packages to import, the distributions to read metadata from, the top-level
modules whose presence to report and the packages whose kind (namespace or regular) to report. Nothing is
asserted here: tests/test_packaging.py judges the report.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any


def describe_package(name: str) -> dict[str, Any]:
    """Import ``name`` and every name in its ``__all__``."""
    try:
        module = importlib.import_module(name)
    except BaseException:  # report, don't crash: the other packages still get probed
        return {"error": traceback.format_exc()}
    exported = getattr(module, "__all__", None)
    names = {attr: type(getattr(module, attr)).__name__ for attr in exported or () if hasattr(module, attr)}
    file = getattr(module, "__file__", None)
    return {
        "error": None,
        "file": file,
        "all": None if exported is None else list(exported),
        "names": names,
        "unresolved": [attr for attr in exported or () if not hasattr(module, attr)],
        "version": getattr(module, "__version__", None),
        "py_typed": file is not None and (Path(file).parent / "py.typed").is_file(),
    }


def import_submodules(name: str) -> dict[str, dict[str, Any]]:
    """Import every module under package ``name`` (``__main__`` modules excluded: importing runs them)."""
    try:
        package = importlib.import_module(name)
    except BaseException:
        return {}
    report: dict[str, dict[str, Any]] = {}
    for info in pkgutil.walk_packages(package.__path__, name + ".", onerror=lambda _name: None):
        if info.name.rpartition(".")[2] == "__main__":
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as error:
            report[info.name] = {"error": "ModuleNotFoundError", "missing": error.name, "message": str(error)}
        except BaseException as error:
            report[info.name] = {"error": type(error).__name__, "missing": None, "message": traceback.format_exc()}
        else:
            exported = getattr(module, "__all__", ())
            report[info.name] = {"error": None, "unresolved": [a for a in exported if not hasattr(module, a)]}
    return report


def describe_namespace(name: str) -> dict[str, Any]:
    try:
        module = importlib.import_module(name)
    except BaseException:
        return {"error": traceback.format_exc()}
    path = getattr(module, "__path__", None)
    return {
        "error": None,
        "file": getattr(module, "__file__", None),
        "namespace": path is not None and type(path).__name__ == "_NamespacePath",
        "path": list(path or ()),
    }


def describe_distribution(name: str) -> dict[str, Any]:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return {"error": f"{name} is not installed"}
    return {
        "error": None,
        "metadata": dist.metadata.json,
        "entry_points": [{"group": ep.group, "name": ep.name, "value": ep.value} for ep in dist.entry_points],
        "direct_url": json.loads(dist.read_text("direct_url.json") or "null"),
        "files": [str(file) for file in dist.files or ()],
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    report: dict[str, Any] = {
        "python": list(sys.version_info[:3]),
        "prefix": sys.prefix,
        "packages": {name: describe_package(name) for name in spec["packages"]},
        "submodules": {name: import_submodules(name) for name in spec["packages"]},
        "inspected": {name: describe_namespace(name) for name in spec.get("inspect", ())},
        "distributions": {name: describe_distribution(name) for name in spec["distributions"]},
        "installed": sorted(dist.metadata["Name"] for dist in importlib.metadata.distributions()),
        # find_spec on a top-level name imports nothing: None means not installed at all.
        "present": {name: importlib.util.find_spec(name) is not None for name in spec.get("modules", ())},
        "loaded": sorted({module.partition(".")[0] for module in sys.modules}),
    }
    Path(sys.argv[2]).write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
