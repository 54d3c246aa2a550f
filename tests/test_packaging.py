"""Packaging checks (issue #7).

The ``packaging`` tests build a wheel and an sdist of each of the four distributions, install each wheel into
its own fresh virtualenv with nothing else from the workspace (core alone, core with its extras, each adapter
with core, the devnet alone), then probe every virtualenv from the inside (``tests/packaging/probe.py``):
public names, every submodule, installed metadata and what is (not) installed. Third-party versions are
pinned to ``uv.lock`` (as constraints: nothing is installed that the wheels do not require), so the result
does not drift with new PyPI releases; uv's cache keeps the whole module at a few seconds when warm.

The import-boundary tests are static (``ast``) and run in milliseconds: adapters never import each other,
core never imports langchain or llama_index, the devnet is independent of the client.

Deselect the slow part with ``-m "not packaging"``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "packaging" / "probe.py"
LLAMA_KINDS = ("llms", "multi_modal_llms", "embeddings", "tools", "readers")
COMMAND_TIMEOUT = 600  # seconds, per uv command: a cold cache downloads llama-index-core and friends
packaging_test = pytest.mark.packaging


@dataclass(frozen=True)
class Dist:
    key: str  # directory under packages/
    name: str  # distribution name
    packages: tuple[str, ...]  # import packages it ships
    framework: str | None = None  # the framework distribution an adapter integrates with
    # (module, third-party module): that module and its submodules may miss it, which comes with an extra
    # or with the plugin's host
    optional: tuple[tuple[str, str], ...] = ()

    @property
    def directory(self) -> Path:
        return ROOT / "packages" / self.key

    @property
    def pyproject(self) -> dict[str, Any]:
        project: dict[str, Any] = tomllib.loads((self.directory / "pyproject.toml").read_text(encoding="utf-8"))[
            "project"
        ]
        return project

    @property
    def version(self) -> str:
        return str(self.pyproject["version"])

    def source_files(self) -> set[str]:
        """Every file under ``src/`` (POSIX paths relative to it), bytecode caches excluded."""
        src = self.directory / "src"
        return {
            path.relative_to(src).as_posix()
            for path in src.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
        }


DISTS = {
    "core": Dist(
        "core",
        "zerog-compute",
        ("zerog_compute",),
        optional=(("zerog_compute.cli", "rich"), ("zerog_compute.state.redis", "redis")),
    ),
    "langchain": Dist("langchain", "langchain-zerog", ("langchain_zerog",), framework="langchain-core"),
    "llamaindex": Dist(
        "llamaindex",
        "llama-index-zerog",
        tuple(f"llama_index.{kind}.zerog" for kind in LLAMA_KINDS),
        framework="llama-index-core",
    ),
    # the pytest11 plugin module needs pytest, which is there whenever pytest loads it
    "devnet": Dist("devnet", "zerog-devnet", ("zerog_devnet",), optional=(("zerog_devnet.pytest_plugin", "pytest"),)),
}
WORKSPACE = {dist.name for dist in DISTS.values()}
NOT_IN_CORE = ("langchain", "langchain_core", "langchain_zerog", "llama_index", "zerog_devnet", "web3")


@dataclass(frozen=True)
class Venv:
    key: str
    dists: tuple[str, ...]  # DISTS keys installed from the built wheels; the first is the one under test
    absent: tuple[str, ...]  # top-level modules that must not be installed at all
    extras: tuple[str, ...] = ()  # extras of the first distribution: with them, no submodule may miss anything
    inspect: tuple[str, ...] = ()  # modules whose package kind (namespace or regular) the probe reports

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(package for key in self.dists for package in DISTS[key].packages)

    def may_miss(self, module: str, missing: str | None) -> bool:
        """Whether importing ``module`` may fail for want of ``missing`` (a ``ModuleNotFoundError``)."""
        if self.extras or missing is None:
            return False
        return any(
            (module == owner or module.startswith(f"{owner}.")) and missing.partition(".")[0] == optional
            for key in self.dists
            for owner, optional in DISTS[key].optional
        )


VENVS = {
    venv.key: venv
    for venv in (
        # without the cli extra the CLI's submodules need rich; the `zerog` script says so and exits 2
        Venv("core", ("core",), absent=NOT_IN_CORE),
        Venv("core-extras", ("core",), absent=NOT_IN_CORE, extras=("cli", "proxy", "redis", "ui")),
        Venv("langchain", ("langchain", "core"), absent=("llama_index", "zerog_devnet")),
        Venv(
            "llamaindex",
            ("llamaindex", "core"),
            absent=("langchain", "langchain_core", "langchain_zerog", "zerog_devnet"),
            inspect=("llama_index", *(f"llama_index.{kind}" for kind in LLAMA_KINDS), "llama_index.core"),
        ),
        Venv(
            "devnet",
            ("devnet",),
            absent=("zerog_compute", "langchain", "langchain_core", "langchain_zerog", "llama_index"),
        ),
    )
}


# ---------------------------------------------------------------------------------------------------------
# helpers


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv is not on PATH: run the tests with `uv run pytest`")
    return found


def clean_env() -> dict[str, str]:
    """The environment minus whatever points Python or uv at the workspace's own virtualenv."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "UV_PROJECT_ENVIRONMENT", "CONDA_PREFIX"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def run(args: list[str | Path], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check and result.returncode:
        pytest.fail(
            f"`{' '.join(map(str, args))}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result


def requirements(metadata: dict[str, Any]) -> list[Requirement]:
    return [Requirement(line) for line in metadata.get("requires_dist", [])]


def has_lower_bound(requirement: Requirement) -> bool:
    return any(spec.operator in (">=", ">", "==", "~=", "===") for spec in requirement.specifier)


def bound(requirement: Requirement, operator: str) -> Version | None:
    versions = [Version(spec.version) for spec in requirement.specifier if spec.operator == operator]
    return max(versions) if versions else None


def release(version: Version) -> tuple[int, ...]:
    parts = list(version.release)
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def next_breaking(version: Version) -> tuple[int, ...]:
    """The first release SemVer lets break ``version``'s API: the next major, or the next minor below 1.0."""
    major, minor = (*version.release, 0)[:2]
    return (major + 1,) if major else (0, minor + 1)


def strip_root(name: str) -> str:
    """``zerog_compute-0.1.0/src/x.py`` → ``src/x.py``."""
    return name.partition("/")[2]


# ---------------------------------------------------------------------------------------------------------
# fixtures: build once, install and probe every virtualenv once (in parallel)


@dataclass
class Built:
    directory: Path
    wheels: dict[str, Path] = field(default_factory=dict)
    sdists: dict[str, Path] = field(default_factory=dict)


@dataclass
class Installed:
    venv: Venv
    path: Path
    report: dict[str, Any]

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("packaging")
    yield path
    shutil.rmtree(path, ignore_errors=True)  # the virtualenvs are big: don't leave them to the retention policy


@pytest.fixture(scope="module")
def built(workdir: Path) -> Built:
    out = workdir / "dist"
    # `uv build` makes the sdist, then the wheel *from the sdist*: the sdist is proven complete enough to build.
    run([uv(), "build", "--all-packages", "--out-dir", out], cwd=ROOT)
    result = Built(out)
    for key, dist in DISTS.items():
        stem = f"{canonicalize_name(dist.name).replace('-', '_')}-{dist.version}"
        wheels = sorted(out.glob(f"{stem}-*.whl"))
        assert len(wheels) == 1, f"{dist.name}: expected one wheel named {stem}-*.whl, got {wheels}"
        sdist = out / f"{stem}.tar.gz"
        assert sdist.is_file(), f"{dist.name}: no sdist {sdist.name} in {sorted(p.name for p in out.iterdir())}"
        result.wheels[key], result.sdists[key] = wheels[0], sdist
    return result


@pytest.fixture(scope="module")
def constraints(workdir: Path) -> Path:
    """Third-party versions from uv.lock (workspace members left out: those come from the built wheels)."""
    path = workdir / "constraints.txt"
    run(
        [
            uv(), "export", "--frozen", "--all-packages", "--all-groups", "--all-extras", "--no-emit-workspace",
            "--no-hashes", "--no-header", "--no-annotate", "--output-file", path,
        ],
        cwd=ROOT,
    )  # fmt: skip
    return path


def install_and_probe(venv: Venv, workdir: Path, built: Built, constraints: Path) -> Installed:
    path = workdir / f"venv-{venv.key}"
    python_version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    run([uv(), "venv", "--quiet", "--no-project", "--python", python_version, path], cwd=workdir)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    first, *rest = venv.dists
    target = str(built.wheels[first])
    if venv.extras:
        target = f"{DISTS[first].name}[{','.join(venv.extras)}] @ {built.wheels[first].as_uri()}"
    wheels: list[str | Path] = [target, *(built.wheels[key] for key in rest)]
    run([uv(), "pip", "install", "--quiet", "--python", python, "--constraint", constraints, *wheels], cwd=workdir)
    spec = {
        "packages": venv.packages,
        "distributions": [DISTS[key].name for key in venv.dists],
        "modules": [*venv.absent, *{package.partition(".")[0] for package in venv.packages}],
        "inspect": venv.inspect,
    }
    out = workdir / f"probe-{venv.key}.json"
    # -I: isolated mode, so neither the working directory, PYTHON* variables nor user site-packages leak in
    run([python, "-I", PROBE, json.dumps(spec), out], cwd=workdir)
    return Installed(venv, path, json.loads(out.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def venvs(workdir: Path, built: Built, constraints: Path) -> dict[str, Installed]:
    with ThreadPoolExecutor(max_workers=len(VENVS)) as pool:
        futures = {
            key: pool.submit(install_and_probe, venv, workdir, built, constraints) for key, venv in VENVS.items()
        }
        return {key: future.result() for key, future in futures.items()}


def under_test(venvs: dict[str, Installed], key: str) -> dict[str, Any]:
    """The installed metadata of distribution ``key``, read in its own virtualenv."""
    report: dict[str, Any] = venvs[key].report["distributions"][DISTS[key].name]
    assert report["error"] is None, report["error"]
    return report


# ---------------------------------------------------------------------------------------------------------
# built artifacts


@packaging_test
@pytest.mark.parametrize("key", DISTS)
def test_sdist_has_sources_readme_and_metadata(built: Built, key: str) -> None:
    dist = DISTS[key]
    with tarfile.open(built.sdists[key]) as sdist:
        names = [member.name for member in sdist.getmembers() if member.isfile()]
    root = built.sdists[key].name.removesuffix(".tar.gz")
    assert all(name.startswith(f"{root}/") for name in names), f"sdist members outside {root}/"
    files = {strip_root(name) for name in names}
    assert {"PKG-INFO", "pyproject.toml", "README.md"} <= files
    shipped = {name.removeprefix("src/") for name in files if name.startswith("src/")}
    assert shipped == dist.source_files(), "the sdist's src/ differs from the workspace's"
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]


@packaging_test
@pytest.mark.parametrize("key", DISTS)
def test_wheel_ships_every_source_and_py_typed(built: Built, key: str) -> None:
    dist = DISTS[key]
    wheel = built.wheels[key]
    assert wheel.name.endswith("-py3-none-any.whl"), f"{wheel.name}: a pure-Python distribution needs a universal tag"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    dist_info = f"{wheel.name.split('-')[0]}-{dist.version}.dist-info/"
    assert {f"{dist_info}METADATA", f"{dist_info}WHEEL", f"{dist_info}RECORD"} <= set(names)
    payload = {name for name in names if not name.startswith(dist_info)}
    assert payload == dist.source_files(), "the wheel's files differ from the workspace's src/"
    top_level = {PurePosixPath(name).parts[0] for name in payload}
    assert top_level == {package.partition(".")[0] for package in dist.packages}
    for package in dist.packages:
        directory = package.replace(".", "/")
        assert f"{directory}/__init__.py" in payload
        assert f"{directory}/py.typed" in payload, f"{package} has no py.typed marker"
        # the levels above a dotted package are namespace packages shared with other distributions
        parents = package.split(".")[:-1]
        for depth in range(1, len(parents) + 1):
            init = "/".join(parents[:depth]) + "/__init__.py"
            assert init not in payload, f"{init} would shadow the namespace package for every other distribution"


@packaging_test
@pytest.mark.parametrize("key", DISTS)
def test_sdist_and_wheel_metadata_agree(built: Built, key: str) -> None:
    with tarfile.open(built.sdists[key]) as sdist:
        member = next(m for m in sdist.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
        extracted = sdist.extractfile(member)
        assert extracted is not None
        pkg_info = extracted.read().decode()
    with zipfile.ZipFile(built.wheels[key]) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()

    def fields(text: str) -> dict[str, list[str]]:
        headers = text.partition("\n\n")[0]
        wanted = ("Name", "Version", "License-Expression", "Requires-Python", "Requires-Dist", "Provides-Extra")
        out: dict[str, list[str]] = {}
        for line in headers.splitlines():
            name, _, value = line.partition(": ")
            if name in wanted:
                out.setdefault(name, []).append(value)
        return {name: sorted(values) for name, values in out.items()}

    assert fields(pkg_info) == fields(metadata)


LICENSE_TEXT_IN_REPO = any(
    path.is_file()
    for directory in (ROOT, *(dist.directory for dist in DISTS.values()))
    for pattern in ("LICEN[CS]E*", "COPYING*")
    for path in directory.glob(pattern)
)


@packaging_test
@pytest.mark.xfail(
    not LICENSE_TEXT_IN_REPO,
    strict=True,
    reason="no LICENSE file in the repository: MIT wants its notice shipped with every copy; add one "
    "(packages/<name>/LICENSE, or `license-files` in pyproject.toml) and this test passes",
)
@pytest.mark.parametrize("key", DISTS)
def test_license_text_is_shipped(built: Built, key: str) -> None:
    with zipfile.ZipFile(built.wheels[key]) as archive:
        assert [name for name in archive.namelist() if ".dist-info/licenses/" in name], "no license file in the wheel"


# ---------------------------------------------------------------------------------------------------------
# fresh virtualenvs


@packaging_test
@pytest.mark.parametrize("venv_key", VENVS)
def test_public_names_import_from_the_installed_wheel(venvs: dict[str, Installed], venv_key: str) -> None:
    installed = venvs[venv_key]
    venv_dir = installed.path.resolve()
    for package, found in installed.report["packages"].items():
        assert found["error"] is None, f"import {package} failed:\n{found['error']}"
        assert venv_dir in Path(found["file"]).resolve().parents, (
            f"{package} imported from {found['file']}, not the venv"
        )
        assert found["all"], f"{package} has no __all__"
        assert not found["unresolved"], f"{package}.__all__ names missing attributes: {found['unresolved']}"
        assert set(found["names"]) == set(found["all"])
        assert found["py_typed"], f"{package}: py.typed is not installed"
        if found["version"] is not None:
            owner = next(dist for dist in DISTS.values() if package in dist.packages)
            assert found["version"] == owner.version, f"{package}.__version__ differs from its distribution"


@packaging_test
@pytest.mark.parametrize("venv_key", VENVS)
def test_every_submodule_imports(venvs: dict[str, Installed], venv_key: str) -> None:
    installed = venvs[venv_key]
    problems = []
    for package, modules in installed.report["submodules"].items():
        assert modules, f"{package}: no submodules found to import"
        for module, outcome in modules.items():
            if outcome["error"] is None:
                if outcome["unresolved"]:
                    problems.append(f"{module}.__all__ names missing attributes: {outcome['unresolved']}")
            elif not (
                outcome["error"] == "ModuleNotFoundError" and installed.venv.may_miss(module, outcome["missing"])
            ):
                problems.append(f"import {module}: {outcome['error']}: {outcome['message']}")
    assert not problems, "\n".join(problems)


@packaging_test
@pytest.mark.parametrize("venv_key", VENVS)
def test_nothing_else_from_the_workspace_is_installed(venvs: dict[str, Installed], venv_key: str) -> None:
    installed = venvs[venv_key]
    report = installed.report
    names = {canonicalize_name(name) for name in report["installed"]}
    assert names & WORKSPACE == {DISTS[key].name for key in installed.venv.dists}
    for key in installed.venv.dists:
        url = report["distributions"][DISTS[key].name]["direct_url"]
        assert url and url["url"].endswith(".whl") and "archive_info" in url, f"{key} not installed from its wheel"
    present = {module for module, found in report["present"].items() if found}
    assert not present & set(installed.venv.absent), f"installed although nothing declares it: {present}"
    assert not set(report["loaded"]) & set(installed.venv.absent)
    # the adapters don't depend on each other, not even through their frameworks' dependencies
    if "langchain" in installed.venv.dists:
        assert not {name for name in names if name.startswith("llama-index")}
    if "llamaindex" in installed.venv.dists:
        assert not {name for name in names if name.startswith("langchain")}
    if installed.venv.dists[0] in ("core", "devnet"):
        assert not {name for name in names if name.startswith(("langchain", "llama-index"))}


@packaging_test
def test_llama_index_levels_stay_namespace_packages(venvs: dict[str, Installed]) -> None:
    inspected = venvs["llamaindex"].report["inspected"]
    for name in ("llama_index", *(f"llama_index.{kind}" for kind in LLAMA_KINDS)):
        assert inspected[name]["error"] is None, inspected[name]["error"]
        assert inspected[name]["namespace"], f"{name} is a regular package: {inspected[name]['file']}"
        assert len(inspected[name]["path"]) == 1
    # llama-index-core's own package lives in the same namespace, untouched
    assert inspected["llama_index.core"]["error"] is None
    assert not inspected["llama_index.core"]["namespace"]


@packaging_test
def test_console_scripts(venvs: dict[str, Installed], workdir: Path) -> None:
    bare = run([venvs["core"].bin / "zerog", "--help"], cwd=workdir, check=False)
    assert bare.returncode == 2, bare
    assert "pip install 'zerog-compute[cli]'" in bare.stderr
    with_extras = run([venvs["core-extras"].bin / "zerog", "--help"], cwd=workdir)
    assert with_extras.stdout.startswith("usage: zerog")
    devnet = run([venvs["devnet"].bin / "zerog-devnet", "--help"], cwd=workdir)
    assert devnet.stdout.startswith("usage: zerog-devnet")

    def entry_points(key: str) -> set[tuple[str, str, str]]:
        return {(ep["group"], ep["name"], ep["value"]) for ep in under_test(venvs, key)["entry_points"]}

    assert ("console_scripts", "zerog", "zerog_compute.cli:main") in entry_points("core")
    assert ("console_scripts", "zerog-devnet", "zerog_devnet.cli:main") in entry_points("devnet")
    assert ("pytest11", "zerog_devnet", "zerog_devnet.pytest_plugin") in entry_points("devnet")
    assert not entry_points("langchain") and not entry_points("llamaindex")


# ---------------------------------------------------------------------------------------------------------
# installed metadata


@packaging_test
@pytest.mark.parametrize("key", DISTS)
def test_installed_metadata(venvs: dict[str, Installed], built: Built, key: str) -> None:
    dist = DISTS[key]
    pyproject = dist.pyproject
    metadata = under_test(venvs, key)["metadata"]
    assert canonicalize_name(metadata["name"]) == dist.name
    assert metadata["version"] == dist.version
    assert metadata["summary"].strip() == pyproject["description"]
    # PEP 639: an SPDX expression (the "License-Expression" field)
    license_expression = metadata.get("license_expression")
    assert license_expression == pyproject["license"], f"License-Expression: {license_expression!r}"
    assert canonicalize_license_expression(license_expression) == license_expression
    assert metadata["description_content_type"].startswith("text/markdown")
    # README.md as packaged (the sdist's copy: the workspace's may have been edited since the build)
    with tarfile.open(built.sdists[key]) as sdist:
        member = sdist.extractfile(f"{built.sdists[key].name.removesuffix('.tar.gz')}/README.md")
        assert member is not None
        readme = member.read().decode("utf-8")
    assert metadata["description"].rstrip() == readme.rstrip(), "long description is not README.md"
    assert metadata["requires_python"] == pyproject["requires-python"]
    python = ".".join(map(str, venvs[key].report["python"]))
    assert Requirement(f"python{metadata['requires_python']}").specifier.contains(python)


@packaging_test
@pytest.mark.parametrize("key", DISTS)
def test_dependency_ranges(venvs: dict[str, Installed], key: str) -> None:
    dist = DISTS[key]
    requires = requirements(under_test(venvs, key)["metadata"])
    assert requires
    by_name: dict[str, Requirement] = {canonicalize_name(req.name): req for req in requires}
    for req in requires:
        name = canonicalize_name(req.name)
        assert req.url is None, f"{req}: direct references cannot be published to PyPI"
        assert has_lower_bound(req), f"{req}: no lower bound"
        if name in WORKSPACE:
            continue
        assert not [spec for spec in req.specifier if spec.operator in ("==", "===")], f"{req}: pinned"
        upper = bound(req, "<")
        if upper is not None:
            lower = bound(req, ">=") or bound(req, ">")
            assert lower is None or lower < upper, f"{req}: empty range"

    # the workspace graph: adapters -> core, nothing else
    workspace_requires = {name for name in by_name if name in WORKSPACE}
    if dist.framework:
        assert workspace_requires == {"zerog-compute"}
        core = by_name["zerog-compute"]
        assert str(core.specifier) == f"=={DISTS['core'].version}", f"{core}: adapters pin core's exact version"
        assert core.marker is None
    else:
        assert not workspace_requires, f"{dist.name} must not depend on {workspace_requires}"

    # the adapters don't depend on each other's framework; core and the devnet on neither
    foreign = {"langchain": ("llama-index",), "llamaindex": ("langchain",)}.get(key, ("langchain", "llama-index"))
    assert not [name for name in by_name if name.startswith(foreign)], f"{dist.name} depends on a foreign framework"

    # frameworks: between the tested minimum and the next release SemVer lets break the API
    if dist.framework:
        framework = by_name[dist.framework]
        assert framework.marker is None, f"{framework}: the framework is not optional"
        lower, upper = bound(framework, ">="), bound(framework, "<")
        assert lower is not None and upper is not None, f"{framework}: needs >=lower,<upper"
        assert release(upper) == next_breaking(lower), f"{framework}: upper bound should be {next_breaking(lower)}"


# ---------------------------------------------------------------------------------------------------------
# README as the PyPI long description (static)

LINK = re.compile(r"\]\(\s*<?([^)\s>]+)|^\s*\[[^\]]+\]:\s*(\S+)|(?:href|src)=[\"']([^\"']+)", re.MULTILINE)


def relative_links(markdown: str) -> list[str]:
    """Links that only resolve inside the repository (PyPI renders the README without it)."""
    prose = re.sub(r"^(```|~~~).*?^\1", "", markdown, flags=re.MULTILINE | re.DOTALL)  # fenced code
    prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code
    links = [next(group for group in match.groups() if group) for match in LINK.finditer(prose)]
    return [link for link in links if not re.match(r"^([a-z][a-z0-9+.-]*:|#)", link, re.IGNORECASE)]


# Known, fixable only in the README itself: strict, so the fix makes this list shrink.
README_LINKS_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=README_LINKS_XFAIL[key]))
        if key in README_LINKS_XFAIL
        else key
        for key in DISTS
    ],
)
def test_readme_links_work_on_pypi(key: str) -> None:
    readme = (DISTS[key].directory / "README.md").read_text(encoding="utf-8")
    links = relative_links(readme)
    assert not links, f"relative links, broken on PyPI: {links}"


# ---------------------------------------------------------------------------------------------------------
# import boundaries (static)

# A trailing "*" matches any top-level module with that prefix (langchain, langchain_core, langchain_zerog...);
# a dotted entry matches that module and its submodules.
FORBIDDEN_IMPORTS = {
    "core": ("langchain*", "llama_index", "zerog_devnet", "web3"),  # web3: ~160 modules for what eth-abi does
    "langchain": ("llama_index", "zerog_devnet"),
    # llama_index.core.bridge.langchain re-exports langchain: the same dependency by another name
    "llamaindex": ("langchain*", "zerog_devnet", "llama_index.core.bridge.langchain"),
    "devnet": ("zerog_compute", "langchain*", "llama_index"),
}


def imported_modules(source: str, filename: str = "<string>") -> Iterator[tuple[int, str]]:
    """Every absolute module name ``source`` imports, with its line: ``import``, ``from ... import`` (also the
    ``from package import submodule`` form), and ``importlib.import_module``/``__import__`` with a literal."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def is_forbidden(module: str, rules: tuple[str, ...]) -> bool:
    top = module.partition(".")[0]
    return any(
        top.startswith(rule[:-1]) if rule.endswith("*") else module == rule or module.startswith(f"{rule}.")
        for rule in rules
    )


def test_import_scanner_sees_every_import_form() -> None:
    source = """
import os, langchain_core.messages as m
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from llama_index.core.llms import LLM
def lazy():
    import zerog_devnet
    from llama_index.core.bridge import langchain
    importlib.import_module("langchain_zerog")
    __import__("langchain")
from . import sibling
from .sibling import thing
"""
    found = [module for _, module in imported_modules(source)]
    for module in ("os", "langchain_core.messages", "llama_index.core.llms", "zerog_devnet", "langchain_zerog"):
        assert module in found
    assert "llama_index.core.bridge.langchain" in found and "langchain" in found
    assert not [module for module in found if "sibling" in module or "thing" in module]
    assert is_forbidden("langchain_core.messages", FORBIDDEN_IMPORTS["core"])
    assert is_forbidden("llama_index.core.bridge.langchain", FORBIDDEN_IMPORTS["llamaindex"])
    assert not is_forbidden("llama_index.core.llms", FORBIDDEN_IMPORTS["llamaindex"])
    assert not is_forbidden("zerog_compute_extra", FORBIDDEN_IMPORTS["core"])
    assert not is_forbidden("zerog_computer", FORBIDDEN_IMPORTS["devnet"])


@pytest.mark.parametrize("key", DISTS)
def test_import_boundaries(key: str) -> None:
    src = DISTS[key].directory / "src"
    files = sorted(src.rglob("*.py"))
    assert files, f"no sources under {src}"
    violations: dict[str, str] = {}  # "path:line" -> the first forbidden module imported there
    for path in files:
        for line, module in imported_modules(path.read_text(encoding="utf-8"), str(path)):
            if is_forbidden(module, FORBIDDEN_IMPORTS[key]):
                violations.setdefault(f"{path.relative_to(ROOT)}:{line}", module)
    assert not violations, "\n".join(f"{where}: imports {module}" for where, module in violations.items())
