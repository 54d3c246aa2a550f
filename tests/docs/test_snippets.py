"""Every code block of the docs and READMEs, run against a real local 0G network, so the docs cannot drift.

Collected: the fenced ```python and ```bash blocks of ``docs/*.md``, ``README.md`` and ``packages/*/README.md``,
one test per block (id ``path:line`` of the opening fence). One devnet serves the module; the chain is reverted
to a snapshot (and the providers and the Router emulator reset) after every block.

Environment, as a user has it after ``zerog-devnet up``: ``ZG_NETWORK=devnet``, ``ZG_DEVNET_FILE`` (this
devnet's description) and ``ZG_PRIVATE_KEY`` = a devnet user with a 30 0G ledger and a 2 0G sub-account with
each of the devnet's providers. The working directory is a fresh temporary directory.

Directives: an HTML comment on the last non-blank line before the fence, e.g.
``<!-- snippet: skip reason="needs a funded testnet key" -->``:

* ``skip reason="..."``: not run (the reason is required and shows in the report);
* ``wallet=new``: ``ZG_PRIVATE_KEY`` is a devnet user with no ledger yet; ``wallet=none``: no key at all;
* ``router``: ``ZG_ROUTER_API_KEY`` / ``ZG_ROUTER_MANAGEMENT_KEY`` hold the devnet Router emulator's keys;
* ``proxy``: a ``zerog proxy --model zerog-devnet/scripted-chat --model zerog-devnet/scripted-embed --auto-fund``
  runs for the block, ``127.0.0.1:8788`` in the block points to it, and ``HOME`` is the block's temporary
  directory, where the proxy wrote its token (``~/.zerog/proxy-token``);
* ``redis``: a real ``redis-server`` runs for the block on a free loopback port, and ``redis://127.0.0.1:6379/0``
  in the block points to it (the block skips, saying why, where ``redis-server`` is not installed).

Placeholders (:meth:`Values.placeholders`) are replaced by devnet values before a block runs: ``0xPROVIDER`` and the
other ``0x…Provider`` names by provider addresses, the example model ids of the adapter READMEs by the devnet
models, ``sk-...`` by a Router key, and in bash blocks ``CHAT_ID`` by the chat id of a response just obtained.

Python blocks run with ``exec`` in a fresh namespace (top-level ``await`` allowed, as in an asyncio REPL),
after the file's prelude (:data:`PRELUDES`: the names earlier sections of that file define). Functions named
``test_*`` that a block defines are then called, with the ``devnet`` pytest fixture of ``zerog-devnet`` (this
module's devnet) and ``tmp_path``.

Bash blocks: ``export`` lines stand for the environment above and are not run; ``zerog …`` lines run in-process
through ``zerog_compute.cli.main`` and must exit 0 (confirmation prompts are answered "y" at a terminal);
``zerog proxy`` and ``zerog ui`` (they run until Ctrl-C) and commands for ``--network testnet|mainnet`` are only
parsed. Any other command needs a ``skip`` directive.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import re
import shlex
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from zerog_compute import AsyncZeroG, ZeroG
from zerog_compute.cli import main as zerog_main
from zerog_compute.cli.app import build_parser
from zerog_compute.funding import FundingPolicy
from zerog_compute.proxy import build_app, new_token, write_token_file
from zerog_devnet import Devnet
from zerog_devnet.anvil import free_port

from .._redis import redis_server

pytestmark = pytest.mark.devnet

ROOT = Path(__file__).resolve().parents[2]
NEURON = 10**18
CHAT_MODEL = "zerog-devnet/scripted-chat"
EMBED_MODEL = "zerog-devnet/scripted-embed"
PROXY_DEFAULT = "127.0.0.1:8788"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
FENCE = re.compile(r"^```(\w*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*snippet:(?P<body>.*?)-->\s*$")
KNOWN_LANGUAGES = ("python", "bash")
SETUP_FLAGS = ("router", "proxy", "redis")
WALLETS = ("funded", "new", "none")
ZG_ENV = (
    "ZG_PRIVATE_KEY",
    "ZG_NETWORK",
    "ZG_RPC_URL",
    "ZG_DEVNET_FILE",
    "ZG_ROUTER_API_KEY",
    "ZG_ROUTER_URL",
    "ZG_ROUTER_MANAGEMENT_KEY",
)


PRELUDES: dict[str, str] = {
    # the Chat section defines `llm`, and later sections keep using it (and the imports)
    "packages/langchain/README.md": (
        "from langchain_zerog import ChatZeroG, ZeroGEmbeddings\n"
        "llm = ChatZeroG(model='qwen/qwen-2.5-7b-instruct', temperature=0)\n"
    ),
    # the reader example transcribes two audio files that a user would have: two and three seconds of silence
    "packages/llamaindex/README.md": (
        "import wave\n"
        "for name, seconds in (('standup.wav', 2), ('retro.wav', 3)):\n"
        "    with wave.open(name, 'wb') as out:\n"
        "        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)\n"
        "        out.writeframes(bytes(2 * 8000 * seconds))\n"
    ),
}
"""Per file: code run before each of its Python blocks (placeholders are replaced in it too)."""


@dataclass
class Snippet:
    path: str
    line: int
    language: str
    code: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        return self.options.get("reason") if "skip" in self.options else None


def markdown_files() -> list[Path]:
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "packages").glob("*/README.md")),
    ]
    return [f for f in files if f.exists()]


def parse_directive(text: str, where: str) -> dict[str, str]:
    """``skip reason="x" wallet=new router`` → ``{"skip": "", "reason": "x", "wallet": "new", "router": ""}``."""
    options: dict[str, str] = {}
    for token in shlex.split(text):
        name, sep, value = token.partition("=")
        if name not in ("skip", "reason", "wallet", *SETUP_FLAGS) or (sep == "") == (name in ("reason", "wallet")):
            raise ValueError(f"{where}: unknown snippet directive {token!r}")
        options[name] = value
    if "wallet" in options and options["wallet"] not in WALLETS:
        raise ValueError(f"{where}: wallet must be one of {WALLETS}")
    if ("skip" in options) != ("reason" in options):
        raise ValueError(f'{where}: a skip needs a reason="..." (and a reason belongs to a skip)')
    return options


def collect(path: Path) -> list[Snippet]:
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text().splitlines()
    snippets: list[Snippet] = []
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        language, start = opened.group(1), index
        end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{rel}:{start + 1}: unclosed code fence")
        previous = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        match = DIRECTIVE.match(previous)
        options = parse_directive(match.group("body"), f"{rel}:{start}") if match else {}
        if language in KNOWN_LANGUAGES:
            code = "\n".join(lines[start + 1 : end]) + "\n"
            snippets.append(Snippet(rel, start + 1, language, code, options))
        elif options:
            raise ValueError(f"{rel}:{start + 1}: snippet directive on a ```{language} block")
        index = end + 1
    return snippets


def all_snippets() -> list[Snippet]:
    return [s for path in markdown_files() for s in collect(path)]


SNIPPETS = all_snippets()


# ---------------------------------------------------------------------------------------------------- devnet


@pytest.fixture(scope="module")
def net() -> Iterator[Devnet]:
    with Devnet.start(settle_interval=3600) as devnet:  # settlement only when a block asks for it
        names = [p.name for p in devnet.providers]
        devnet.fund(devnet.users[1], names, ledger=30 * NEURON, each=2 * NEURON)
        yield devnet


@dataclass
class Values:
    """Devnet values for the placeholders, directives and the environment."""

    net: Devnet
    description: Path

    def provider(self, name: str) -> str:
        return self.net.provider(name).info.address

    def placeholders(self) -> dict[str, str]:
        """Placeholder → devnet value, for the blocks and the preludes."""
        return {
            "0xPROVIDER": self.provider("chat-a"),
            "0xChatProviderA": self.provider("chat-a"),
            "0xChatProviderB": self.provider("chat-b"),
            "0xEmbeddingProvider": self.provider("embed"),
            "0xSpeechProvider": self.provider("speech"),
            "qwen/qwen-2.5-7b-instruct": CHAT_MODEL,
            "BAAI/bge-m3": self.net.provider("embed").info.model,
            "sk-...": self.net.router.api_keys[0],
        }


def substitute(code: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        code = re.sub(rf"(?<!\w){re.escape(placeholder)}(?!\w)", lambda _match, value=value: value, code)
    return code


@pytest.fixture(scope="module")
def values(net: Devnet, tmp_path_factory: pytest.TempPathFactory) -> Values:
    return Values(net, net.write_description(tmp_path_factory.mktemp("devnet") / "devnet.json"))


@pytest.fixture
def reverted(net: Devnet) -> Iterator[Devnet]:
    snapshot = net.snapshot()
    try:
        yield net
    finally:
        net.revert(snapshot)


def set_environment(monkeypatch: pytest.MonkeyPatch, values: Values, snippet: Snippet) -> None:
    net = values.net
    for name in ZG_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZG_NETWORK", "devnet")
    monkeypatch.setenv("ZG_DEVNET_FILE", str(values.description))
    wallet = snippet.options.get("wallet", "funded")
    if wallet != "none":
        user = net.users[0] if wallet == "new" else net.users[1]
        monkeypatch.setenv("ZG_PRIVATE_KEY", user.private_key)
    if "router" in snippet.options:
        monkeypatch.setenv("ZG_ROUTER_API_KEY", net.router.api_keys[0])
        monkeypatch.setenv("ZG_ROUTER_MANAGEMENT_KEY", net.router.management_keys[0])


@contextlib.contextmanager
def proxy(token_file: Path) -> Iterator[str]:
    """What ``zerog proxy --model <chat> --model <embed> --auto-fund`` runs, on a free port; yields host:port."""
    port = free_port()
    token = new_token()
    write_token_file(token, token_file)
    ready = threading.Event()
    servers: list[uvicorn.Server] = []
    failures: list[BaseException] = []

    def run() -> None:
        async def serve() -> None:
            funding = FundingPolicy.of(min_balance="2", target_balance="3")
            async with AsyncZeroG(funding=funding) as zg:  # key and network from the environment
                config = uvicorn.Config(
                    build_app(zg, model=[CHAT_MODEL, EMBED_MODEL], token=token, port=port),
                    host="127.0.0.1",
                    port=port,
                    log_level="warning",
                )
                server = uvicorn.Server(config)
                servers.append(server)
                task = asyncio.create_task(server.serve())
                while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only this flag
                    await asyncio.sleep(0.01)
                ready.set()
                await task

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="docs-proxy", daemon=True)
    thread.start()
    assert ready.wait(15) and not failures, f"the proxy did not start: {failures}"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(15)


# ---------------------------------------------------------------------------------------------------- python


FIXTURES = ("devnet", "tmp_path")


def run_python(snippet: Snippet, code: str, prelude: str, fixtures: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "__snippet__"}
    if prelude:
        exec(compile(prelude, f"<prelude of {snippet.path}>", "exec"), namespace)
    # padded so that tracebacks show the Markdown file's line numbers
    source = "\n" * snippet.line + code
    compiled = compile(source, str(ROOT / snippet.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # exec, but it returns the coroutine of a block with top-level await
    if inspect.iscoroutine(result):
        asyncio.run(result)
    for name, function in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(function) and function.__module__ == "__snippet__":
            wanted = list(inspect.signature(function).parameters)
            unknown = [p for p in wanted if p not in fixtures]
            assert not unknown, f"{snippet.id}: {name} asks for fixtures {unknown}; available: {FIXTURES}"
            function(**{p: fixtures[p] for p in wanted})


# ---------------------------------------------------------------------------------------------------- bash


class Terminal(io.StringIO):
    """stdin as a person at a terminal who answers every confirmation with "y"."""

    def isatty(self) -> bool:
        return True


def bash_commands(code: str) -> list[list[str]]:
    """The commands of a bash block (continuations joined, comments and blank lines dropped)."""
    commands, pending = [], ""
    for raw in code.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        argv = shlex.split(line, comments=True)
        if argv:
            commands.append(argv)
    return commands


def parse_only(argv: list[str]) -> bool:
    """``zerog proxy`` and ``zerog ui`` serve until Ctrl-C; testnet/mainnet need a real funded key: only parse those."""
    network = argv[argv.index("--network") + 1] if "--network" in argv[:-1] else None
    return "proxy" in argv or "ui" in argv or network in ("testnet", "mainnet")


def run_bash(snippet: Snippet, code: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    commands = bash_commands(code)
    assert commands, f"{snippet.id}: an empty bash block"
    for argv in commands:
        if argv[0] == "export":
            continue
        assert argv[0] == "zerog", (
            f"{snippet.id}: `{shlex.join(argv)}` is not a zerog command: run it here, or mark the block "
            '<!-- snippet: skip reason="..." -->'
        )
        if parse_only(argv):
            build_parser().parse_args(argv[1:])
            continue
        monkeypatch.setattr(sys, "stdin", Terminal("y\n" * 8))
        code_ = zerog_main(argv[1:])
        out, err = capsys.readouterr()
        assert code_ == 0, f"{snippet.id}: `{shlex.join(argv)}` exited {code_}\nstdout:\n{out}\nstderr:\n{err}"


def chat_id(provider: str) -> str:
    """The chat id of a fresh response from ``provider`` (for ``CHAT_ID`` in bash blocks)."""
    with ZeroG() as zg:
        reply = zg.chat.completions.create(provider=provider, messages=[{"role": "user", "content": "What is 2 + 3?"}])
    assert reply.zerog is not None and reply.zerog.chat_id
    return reply.zerog.chat_id


# ---------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_snippet(
    snippet: Snippet,
    values: Values,
    reverted: Devnet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    if snippet.skip_reason is not None:
        assert snippet.skip_reason.strip(), f"{snippet.id}: a skipped snippet needs a reason"
        pytest.skip(f"{snippet.id}: {snippet.skip_reason}")
    set_environment(monkeypatch, values, snippet)
    monkeypatch.chdir(tmp_path)
    replacements = values.placeholders()
    with contextlib.ExitStack() as stack:
        if "proxy" in snippet.options:
            monkeypatch.setenv("HOME", str(tmp_path))
            replacements[PROXY_DEFAULT] = stack.enter_context(proxy(tmp_path / ".zerog" / "proxy-token"))
        if "redis" in snippet.options:
            try:
                replacements[REDIS_DEFAULT] = stack.enter_context(redis_server(tmp_path))
            except LookupError as exc:
                pytest.skip(f"{snippet.id}: {exc}")
        if snippet.language == "bash" and "CHAT_ID" in snippet.code:
            replacements["CHAT_ID"] = chat_id(values.provider("chat-a"))
        code = substitute(snippet.code, replacements)
        if snippet.language == "python":
            prelude = substitute(PRELUDES.get(snippet.path, ""), replacements)
            run_python(snippet, code, prelude, {"devnet": reverted, "tmp_path": tmp_path})
        else:
            run_bash(snippet, code, monkeypatch, capsys)


def test_every_skip_has_a_reason() -> None:
    skipped = [s for s in SNIPPETS if "skip" in s.options]
    for snippet in skipped:
        assert (snippet.skip_reason or "").strip(), f"{snippet.id}: a skipped snippet needs a reason"
    assert len(skipped) < len(SNIPPETS) / 3, "most snippets must run"


def test_snippets_are_collected_from_every_file() -> None:
    files = {s.path for s in SNIPPETS}
    expected = {"README.md", "packages/core/README.md", "packages/langchain/README.md", "packages/llamaindex/README.md"}
    expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert expected <= files, f"no code blocks found in {sorted(expected - files)}"


def test_docs_are_linked() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/index.md" in readme
    index = (ROOT / "docs" / "index.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name}" in index, f"docs/index.md does not link {page.name}"


def test_cli_reference_covers_every_command_and_option() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    parser = build_parser()
    missing: list[str] = []

    def walk(parser: Any, prefix: str) -> None:
        for action in parser._actions:
            missing.extend(o for o in action.option_strings if o.startswith("--") and f"`{o}" not in reference)
            choices: dict[str, Any] | None = getattr(action, "choices", None)
            if action.__class__.__name__ == "_SubParsersAction" and choices:
                for name, sub in choices.items():
                    if f"zerog {prefix}{name}" not in reference:
                        missing.append(f"zerog {prefix}{name}")
                    walk(sub, f"{prefix}{name} ")

    walk(parser, "")
    assert not missing, f"docs/cli.md does not mention {sorted(set(missing))}"
