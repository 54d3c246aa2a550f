"""Moving funds from the Account page: a form becomes a :class:`Move`, a confirmation shows it, a job sends it.

:func:`parse_move` validates the form (pure); :func:`plan` reads the balances now and says exactly what will move
from where to where, and what each balance becomes (or why the move cannot be made); :class:`Jobs` runs a
confirmed move in the background so the page can show its progress while the transaction confirms.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..client import AsyncZeroG
from ..errors import ConfigurationError, ZeroGError
from ..ledger import MIN_LEDGER, MIN_NEW_SUB_ACCOUNT
from ..services import checksum
from ..units import format_0g, to_neuron
from .views import AccountView, account_view

Action = Literal["deposit", "transfer", "refund", "retrieve"]
ACTIONS: tuple[Action, ...] = ("deposit", "transfer", "refund", "retrieve")
MAX_JOBS = 50


@dataclass(frozen=True)
class Move:
    """A fund move the user asked for: ``amount`` in neuron (None for retrieve), ``providers`` for transfer/retrieve."""

    action: Action
    amount: int | None = None
    providers: tuple[str, ...] = ()

    def fields(self) -> list[tuple[str, str]]:
        """The hidden form fields that carry this move from the confirmation to its execution."""
        pairs: list[tuple[str, str]] = [("action", self.action)]
        if self.amount is not None:
            pairs.append(("amount", format_0g(self.amount)[: -len(" 0G")]))
        pairs += [("provider", p) for p in self.providers]
        return pairs


def parse_move(form: Mapping[str, Sequence[str]]) -> Move:
    """The move a form asks for; bad input: :class:`ConfigurationError` saying what to fix."""
    action = _one(form, "action")
    if action not in ACTIONS:
        raise ConfigurationError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    providers = tuple(checksum(p.strip(), name="provider") for p in form.get("provider", ()) if p.strip())
    if action == "retrieve":
        return Move("retrieve", None, providers)
    amount = to_neuron(_one(form, "amount").strip(), name="amount")
    if action == "transfer":
        if len(providers) != 1:
            raise ConfigurationError("a transfer needs exactly one provider address")
        return Move("transfer", amount, providers)
    return Move(action, amount)


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or []
    if len(values) != 1:
        raise ConfigurationError(f"the form needs one {name!r} field")
    return values[0]


@dataclass
class Plan:
    """What a confirmed move will do: ``lines`` (from, to, amount), ``after`` (balance → new value), ``problem``."""

    move: Move
    title: str
    lines: list[dict[str, str]] = field(default_factory=list)
    after: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: str | None = None


def _g(neuron: int) -> str:
    return format_0g(neuron)


def plan_for(move: Move, view: AccountView) -> Plan:
    """Exactly what ``move`` moves given the balances in ``view`` (pure)."""
    ledger = view.ledger
    accounts = {a.provider: a for a in view.accounts}
    amount = move.amount or 0
    if move.action == "deposit":
        plan = Plan(move, "Deposit into the ledger")
        plan.lines.append({"from": f"wallet {view.address}", "to": "ledger", "amount": _g(amount)})
        plan.after.append(("wallet", _g(view.wallet), f"about {_g(view.wallet - amount)} (less gas)"))
        before = ledger.available if ledger else 0
        plan.after.append(("ledger available", _g(before) if ledger else "no ledger", _g(before + amount)))
        if ledger is None:
            plan.notes.append("There is no ledger yet: this creates it (at least 3 0G).")
            if amount < MIN_LEDGER:
                plan.problem = f"creating the ledger needs at least 3 0G, not {_g(amount)}"
        if amount > view.wallet:
            plan.problem = f"the wallet holds only {_g(view.wallet)}"
        return plan
    if ledger is None and move.action != "retrieve":
        return Plan(move, move.action.capitalize(), problem="there is no ledger yet: deposit at least 3 0G first")
    if move.action == "refund":
        assert ledger is not None
        plan = Plan(move, "Refund from the ledger to the wallet")
        plan.lines.append({"from": "ledger (available)", "to": f"wallet {view.address}", "amount": _g(amount)})
        plan.after.append(("ledger available", _g(ledger.available), _g(ledger.available - amount)))
        plan.after.append(("wallet", _g(view.wallet), f"about {_g(view.wallet + amount)} (less gas)"))
        remaining = ledger.total - amount
        if amount > ledger.available:
            plan.problem = f"the ledger has only {_g(ledger.available)} available: retrieve from sub-accounts first"
        elif 0 < remaining < MIN_LEDGER:
            plan.problem = f"a ledger keeps 0 or at least 3 0G; this would leave {_g(remaining)}"
        return plan
    if move.action == "transfer":
        assert ledger is not None
        provider = move.providers[0]
        account = accounts.get(provider)
        plan = Plan(move, "Transfer to a provider's sub-account")
        plan.lines.append({"from": "ledger (available)", "to": f"sub-account with {provider}", "amount": _g(amount)})
        plan.after.append(("ledger available", _g(ledger.available), _g(ledger.available - amount)))
        current = account.balance if account else 0
        plan.after.append((f"sub-account {provider}", _g(current) if account else "none yet", _g(current + amount)))
        plan.notes.append("The provider is paid from this sub-account; retrieve requests the rest back.")
        if amount > ledger.available:
            plan.problem = f"the ledger has only {_g(ledger.available)} available"
        elif account is None and amount < MIN_NEW_SUB_ACCOUNT:
            plan.problem = f"a new sub-account needs at least 1 0G, not {_g(amount)}"
        return plan
    return _retrieve_plan(move, view)


def _retrieve_plan(move: Move, view: AccountView) -> Plan:
    accounts = {a.provider: a for a in view.accounts}
    targets = list(move.providers) or list(accounts)
    plan = Plan(move, "Request refunds from sub-accounts")
    for provider in targets:
        account = accounts.get(provider)
        if account is None:
            plan.problem = f"there is no sub-account with {provider}"
            continue
        asked = account.balance - account.pending_refund
        line = {"from": f"sub-account with {provider}", "to": "ledger (after the lock time)", "amount": _g(asked)}
        plan.lines.append(line)
    if not targets:
        plan.problem = "there are no sub-accounts to retrieve from"
    plan.notes.append(
        "Refunds unlock after the contract's lock time; refunds already unlocked move back to the ledger now. "
        "Retrieve again after the lock time to move the rest."
    )
    return plan


async def plan(zg: AsyncZeroG, move: Move) -> Plan:
    """Read the balances now and plan ``move`` against them."""
    return plan_for(move, await account_view(zg))


# ---------------------------------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """A confirmed move being sent: ``state`` goes pending → confirmed or failed."""

    id: str
    plan: Plan
    started: float
    state: Literal["pending", "confirmed", "failed"] = "pending"
    message: str = ""
    finished: float | None = None

    def summary(self) -> dict[str, Any]:
        elapsed = (self.finished or time.monotonic()) - self.started
        return {"id": self.id, "state": self.state, "message": self.message, "elapsed_s": round(elapsed, 1)}


class Jobs:
    """The moves of this UI process, newest last (at most :data:`MAX_JOBS` kept)."""

    def __init__(self, zg: AsyncZeroG) -> None:
        self.zg = zg
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def start(self, plan: Plan) -> Job:
        job = Job(secrets.token_urlsafe(12), plan, time.monotonic())
        self._jobs[job.id] = job
        while len(self._jobs) > MAX_JOBS:
            self._jobs.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job) -> None:
        try:
            job.message = await self._send(job.plan.move)
            job.state = "confirmed"
        except ZeroGError as exc:
            job.state, job.message = "failed", str(exc)
        except Exception as exc:  # shown on the page: the job must end, whatever happened
            job.state, job.message = "failed", f"unexpected error: {type(exc).__name__}"
        finally:
            job.finished = time.monotonic()

    async def _send(self, move: Move) -> str:
        ledger = self.zg.ledger
        if move.action == "deposit":
            info = await ledger.deposit(move.amount or 0)
            return f"Deposited {_g(move.amount or 0)}; the ledger has {_g(info.available)} available."
        if move.action == "refund":
            info = await ledger.refund(move.amount or 0)
            return f"Refunded {_g(move.amount or 0)}; the ledger has {_g(info.available)} available."
        if move.action == "transfer":
            account = await ledger.transfer(move.providers[0], move.amount or 0)
            return f"Transferred {_g(move.amount or 0)}; the sub-account holds {_g(account.balance)}."
        accounts = await ledger.retrieve(list(move.providers) or None)
        pending = sum(a.pending_refund for a in accounts)
        return f"Refunds requested from {len(accounts)} sub-account(s); {_g(pending)} pending."
