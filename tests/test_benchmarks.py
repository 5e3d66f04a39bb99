"""Benchmark scripts run and print their one table (numbers are not asserted: noisy machine)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_validation_benchmark_prints_one_row_per_request_type() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.validation", "--rounds", "1", "--seconds", "0.01"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| bus.inference.")]
    assert len(rows) == 4
    assert all(row.rstrip(" |").endswith("x") for row in rows)


def test_endpoint_benchmark_prints_its_table_and_leaves_no_process() -> None:
    argv = ["--runs", "3", "--streams", "4", "--rounds", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.endpoint", *argv],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]]
    assert names == [
        "direct session (`system.query`), p50 / p99",
        "endpoint added over direct, `http.client` in its own process, p50 / p99",
        "endpoint added over direct, httpx in its own process, p50 / p99",
        "endpoint added over direct, httpx in the server's process, p50 / p99",
        "stream relay, CLI wrote delta → direct session event, p50 / p99",
        "stream relay, CLI wrote delta → bytes at the client's socket (in-process system),"
        " p50 / p99",
        "stream relay, CLI wrote delta → line out of httpx's `aiter_lines` (in-process), p50 / p99",
        "stream relay, CLI wrote delta → bytes at the client's socket (asm serve, its own"
        " process), p50 / p99",
        "stream relay, CLI wrote delta → line out of httpx's `aiter_lines` (asm serve), p50 / p99",
        "4 concurrent streams x 1 rounds via asm serve: completions/s",
        "asm serve RSS at idle (lease made, one completion run)",
        "asm serve RSS under load: peak VmRSS (every 50 ms) / VmHWM",
        "processes of this run left at the end",
    ]
    assert "| 4 finished, 0 failed in " in result.stdout
    assert rows[-1].startswith("| processes of this run left at the end | 0 |")


def test_sessions_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sessions", "--runs", "2"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split(" | ")[0] for line in result.stdout.splitlines() if line.startswith("| ")]
    assert "| first event, warm pool, p50" in rows
    assert "| session actor added, p50" in rows


def test_events_benchmark_prints_one_row_per_store_and_leaves_no_process() -> None:
    argv = ["--publishers", "2", "--count", "5", "--rounds", "1", "--seconds", "0.5"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.events", *argv],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]]
    redis = (
        "redis (local redis-server, appendfsync always)"
        if shutil.which("redis-server")
        else "redis (skipped: redis-server is not on PATH)"
    )
    assert names == [
        "hello-world (bare hypercorn ASGI app, 202)",
        "memory",
        "sqlite (file in a temp dir)",
        redis,
        "processes of this run left at the end",
    ]
    assert rows[1].split(" | ")[2] == "1.00x"  # the baseline's ratio to itself
    store_rows = [row for row in rows[2:-1] if "skipped" not in row]
    assert all(", 0 lost" in row for row in store_rows), store_rows
    assert rows[-1].startswith("| processes of this run left at the end | 0 |")
