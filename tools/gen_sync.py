"""Generate the synchronous twins of zerog_compute's asynchronous modules (``_aresources.py`` -> ``_resources.py``).

Usage: ``python tools/gen_sync.py [--check] [SOURCE TARGET]`` (default: every pair in ``PAIRS``). ``--check``
writes nothing and exits 1 with a diff when a target is not what its source generates (``make lint``);
without it the targets are rewritten (``make format``).

The async file is the source; the sync one is produced from it by the ``unasync`` library plus our own rules,
all applied to tokens (never to parts of a name):

- ``async`` and ``await`` are dropped (unasync);
- unasync's names: ``__aenter__`` -> ``__enter__``, ``__aexit__`` -> ``__exit__``, ``__aiter__`` -> ``__iter__``,
  ``__anext__`` -> ``__next__``, ``asynccontextmanager`` -> ``contextmanager``, ``AsyncIterator`` -> ``Iterator``
  (and ``AsyncIterable``, ``AsyncGenerator``), ``StopAsyncIteration`` -> ``StopIteration``;
- any other name ``AsyncX`` (X capitalised) becomes ``X``, not unasync's ``SyncX``: ``AsyncZeroG`` -> ``ZeroG``,
  ``AsyncProviderPool`` -> ``ProviderPool``, ``httpx.AsyncClient`` -> ``httpx.Client``;
- ``NAME_RULES``: ``aclose`` -> ``close``, ``aread`` -> ``read``, ``aiter_bytes`` -> ``iter_bytes`` (and the other
  httpx ``aiter_*``), ``aiter`` -> ``iter``, ``anext`` -> ``next``;
- ``await asyncio.to_thread(fn, *args, **kwargs)`` -> ``fn(*args, **kwargs)``; a comment on that line (why the
  call leaves the event loop) is dropped;
- in comments and strings (docstrings included) the renamed names above are renamed too, and ``PROSE_RULES``
  apply: "asynchronous" -> "synchronous", "awaits" -> "runs", "async with" -> "with", "async for" -> "for";
- imports left unused are removed (``ruff check --fix --select F401,I``, which also re-sorts them), then the
  file is ``ruff format``-ted and gets a "generated ... do not edit" header.

Any ``asyncio`` still in the output is an error: the source uses something these rules cannot translate yet, so
add a rule here rather than editing the generated file.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tokenize_rt
import unasync

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path("packages/core/src/zerog_compute")
PAIRS: tuple[tuple[Path, Path], ...] = ((PACKAGE / "_aresources.py", PACKAGE / "_resources.py"),)

NAME_RULES = {
    "aclose": "close",
    "aread": "read",
    "aiter": "iter",
    "anext": "next",
    "aiter_bytes": "iter_bytes",
    "aiter_lines": "iter_lines",
    "aiter_text": "iter_text",
    "aiter_raw": "iter_raw",
}
PROSE_RULES = {
    "asynchronous": "synchronous",
    "Asynchronous": "Synchronous",
    "awaits": "runs",
    "async with": "with",
    "async for": "for",
}
HEADER = (
    "# Generated from {source} by {script} — do not edit.\n"
    "# Change the async source, then run `make format` to regenerate this file.\n"
)
_ASYNC_PREFIX = re.compile(r"\bAsync([A-Z]\w*)")
_TEXT_TOKENS = frozenset({"STRING", "COMMENT", "FSTRING_MIDDLE"})
_LAYOUT_TOKENS = frozenset({"UNIMPORTANT_WS", "NL", "COMMENT"})


class GenerationError(Exception):
    """The source uses an async construct that the rules cannot translate."""


def name_rules(source: str) -> dict[str, str]:
    """Every replacement of names for ``source``: ours, plus ``AsyncX`` -> ``X`` for each such name in it."""
    rules = dict(NAME_RULES)
    for match in _ASYNC_PREFIX.finditer(source):
        rules.setdefault(match.group(0), match.group(1))
    rules.update(unasync.Rule("/_async/", "/_sync/").token_replacements)  # unasync's table, for comments
    return rules


def _next_code(tokens: list[tokenize_rt.Token], i: int) -> int:
    """Index of the first token at or after ``i`` that is not whitespace."""
    while i < len(tokens) and tokens[i].name == "UNIMPORTANT_WS":
        i += 1
    return i


def _call_bounds(tokens: list[tokenize_rt.Token], open_paren: int) -> tuple[int | None, int]:
    """The first top-level comma and the closing parenthesis of the call opened at ``open_paren``."""
    depth, comma = 0, None
    for i in range(open_paren, len(tokens)):
        src = tokens[i].src if tokens[i].name == "OP" else ""
        if src in ("(", "[", "{"):
            depth += 1
        elif src in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return comma, i
        elif src == "," and depth == 1 and comma is None:
            comma = i
    raise GenerationError("unbalanced parentheses after asyncio.to_thread")


def _to_thread_at(tokens: list[tokenize_rt.Token], i: int) -> int | None:
    """The ``(`` of ``await asyncio.to_thread(`` when ``tokens[i]`` is that ``asyncio``, else None."""
    if tokens[i].src != "asyncio":
        return None
    before = i - 1
    while before >= 0 and tokens[before].name == "UNIMPORTANT_WS":
        before -= 1
    if before < 0 or tokens[before].src != "await":
        return None
    dot = _next_code(tokens, i + 1)
    attr = _next_code(tokens, dot + 1)
    paren = _next_code(tokens, attr + 1)
    if paren >= len(tokens) or [tokens[dot].src, tokens[attr].src, tokens[paren].src] != [".", "to_thread", "("]:
        return None
    return paren


def _strip(tokens: list[tokenize_rt.Token]) -> list[tokenize_rt.Token]:
    """``tokens`` without the line breaks and spaces around them (a callee split over lines)."""
    code = [i for i, t in enumerate(tokens) if t.name not in _LAYOUT_TOKENS]
    return tokens[code[0] : code[-1] + 1] if code else []


def _drop_line_comment(tokens: list[tokenize_rt.Token], start: int) -> list[tokenize_rt.Token]:
    """``tokens`` without the comment (and the spaces before it) ending the line that holds ``start``."""
    end = start
    while end < len(tokens) and tokens[end].name not in ("NEWLINE", "NL", "ENDMARKER"):
        end += 1
    if end == start or tokens[end - 1].name != "COMMENT":
        return tokens
    first = end - 1
    while tokens[first - 1].name == "UNIMPORTANT_WS":
        first -= 1
    return tokens[:first] + tokens[end:]


def rewrite_to_thread(tokens: list[tokenize_rt.Token]) -> list[tokenize_rt.Token]:
    """``await asyncio.to_thread(fn, *args)`` -> ``await fn(*args)`` (the ``await`` goes with the others)."""
    i = 0
    while i < len(tokens):
        paren = _to_thread_at(tokens, i)
        if paren is None:
            i += 1
            continue
        comma, close = _call_bounds(tokens, paren)
        func = _strip(tokens[paren + 1 : comma if comma is not None else close])
        args = tokens[comma + 1 : close] if comma is not None else []
        call = [*func, tokenize_rt.Token("OP", "("), *args]
        tokens = _drop_line_comment(tokens[:i] + call + tokens[close:], i)
        i += len(call)
    return tokens


def _rename_text(text: str, rules: dict[str, str]) -> str:
    """Apply the name and prose rules to a comment or a string, on whole words only."""
    for old, new in {**rules, **PROSE_RULES}.items():
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


def rename_prose(tokens: list[tokenize_rt.Token], rules: dict[str, str]) -> list[tokenize_rt.Token]:
    """Comments and strings follow the renames of the code they describe."""
    return [t._replace(src=_rename_text(t.src, rules)) if t.name in _TEXT_TOKENS else t for t in tokens]


def run_unasync(source: str, rules: dict[str, str]) -> str:
    """``source`` through unasync's public API (it works on files: ``_async/`` -> ``_sync/``)."""
    with tempfile.TemporaryDirectory() as tmp:
        async_file = Path(tmp, "_async", "module.py")
        async_file.parent.mkdir()
        async_file.write_text(source, encoding="utf-8")
        rule = unasync.Rule(fromdir="/_async/", todir="/_sync/", additional_replacements=rules)
        unasync.unasync_files([str(async_file)], [rule])
        return Path(tmp, "_sync", "module.py").read_text(encoding="utf-8")


def _ruff(args: Sequence[str], source: str, filename: Path) -> str:
    """``source`` through ruff as if it were ``filename``."""
    config = ["--config", str(ROOT / "pyproject.toml")]  # the project's settings, wherever the target lives
    cmd = [sys.executable, "-m", "ruff", *args, *config, "--stdin-filename", str(ROOT / filename), "-"]
    done = subprocess.run(cmd, input=source, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise GenerationError(f"ruff {args[0]} failed on the generated {filename}:\n{done.stderr}")
    return done.stdout


def _check_no_asyncio(code: str, target: Path) -> None:
    lines = sorted({t.line for t in tokenize_rt.src_to_tokens(code) if t.name == "NAME" and t.src == "asyncio"})
    if lines:
        raise GenerationError(f"{target}: asyncio left on line(s) {lines}: add a rule to tools/gen_sync.py")


def generate(source: str, source_path: Path, target_path: Path) -> str:
    """The sync module that ``source`` (the text of ``source_path``) generates for ``target_path``."""
    rules = name_rules(source)
    tokens = rename_prose(rewrite_to_thread(tokenize_rt.src_to_tokens(source)), rules)
    code = run_unasync(tokenize_rt.tokens_to_src(tokens), rules)
    code = _ruff(["check", "--fix-only", "--exit-zero", "--select", "F401,I"], code, target_path)
    _check_no_asyncio(code, target_path)
    header = HEADER.format(source=source_path.as_posix(), script="tools/gen_sync.py")
    return _ruff(["format"], header + code, target_path)


def sync_pair(source: Path, target: Path, *, check: bool) -> bool:
    """Regenerate ``target`` from ``source`` (only compare with ``check``); True when it was up to date."""
    expected = generate((ROOT / source).read_text(encoding="utf-8"), source, target)
    current = (ROOT / target).read_text(encoding="utf-8") if (ROOT / target).exists() else ""
    if current == expected:
        return True
    if check:
        diff = difflib.unified_diff(current.splitlines(True), expected.splitlines(True), str(target), "generated")
        sys.stderr.write(f"{target} is not what {source} generates; run `make format`:\n{''.join(diff)}")
    else:
        (ROOT / target).write_text(expected, encoding="utf-8")
        print(f"regenerated {target} from {source}")
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a target is stale")
    parser.add_argument("pair", nargs="*", type=Path, help="SOURCE TARGET (relative to the repository root)")
    args = parser.parse_args(argv)
    if len(args.pair) not in (0, 2):
        parser.error("give both SOURCE and TARGET, or neither")
    pairs = [(args.pair[0], args.pair[1])] if args.pair else list(PAIRS)
    try:
        fresh = [sync_pair(source, target, check=args.check) for source, target in pairs]
    except GenerationError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0 if all(fresh) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
