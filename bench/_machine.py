"""What every benchmark prints first and last: when, on what, and how busy the machine was."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages ([] where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def snapshot() -> dict[str, Any]:
    """Date, load average, CPUs, kernel and Python of this machine, now."""
    return {
        "date": now_utc(),
        "load_avg": load_average(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def describe(info: dict[str, Any]) -> str:
    """One line: ``2026-11-27 04:39:00 UTC, load average 0.49 0.64 0.33 (1/5/15 min), 2 CPUs (...), ...``."""
    load = " ".join(f"{x:.2f}" for x in info["load_avg"]) or "n/a"
    return (
        f"{info['date']}, load average {load} (1/5/15 min), {info['cpus']} CPUs ({info['cpu_model']}), "
        f"{info['system']}, Python {info['python']}"
    )


def describe_end() -> tuple[str, dict[str, Any]]:
    """The closing line (date and load average at the end of the run) and its data."""
    end = {"date": now_utc(), "load_avg": load_average()}
    load = " ".join(f"{x:.2f}" for x in end["load_avg"]) or "n/a"
    return f"finished {end['date']}, load average {load}", end
