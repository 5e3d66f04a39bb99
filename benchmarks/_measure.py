"""What every benchmark here needs: a quantile, a process's memory from /proc, and the
one table it prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["print_table", "quantile", "status_kib"]


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile: ``quantile([1, 2, 3], 0.5)`` → 2."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (``VmRSS``, ``VmHWM``); 0 once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def print_table(title: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """Print ``title`` and a markdown table of (measurement, value, ratio) rows."""
    print(title)
    print("| measurement | value | ratio |")
    print("|---|---|---|")
    for name, value, ratio in rows:
        print(f"| {name} | {value} | {ratio} |")
