"""The soak test's report: markdown tables of traffic per fault mode, events, processes.

Everything a row claims is asserted by ``test_soak`` (the numbers come from the same
objects). Rendered with :func:`render`::

    text = render(traffic.tallies, events_result, processes, heading="...")
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.soak.events_load import EventsResult
from tests.soak.traffic import EXPECTED, ModeTally

MIB = 1024 * 1024


@dataclass
class ProcessResult:
    """The processes and memory part of the report (RSS in bytes)."""

    killed_tree: int  # processes of the killed server's tree (itself excluded) at the kill
    swept: int  # killed by the restart's sweep of the process ledger (its log line)
    alive_after_restart: int  # of those, still running once the restarted server served
    clis_at_settle: int  # CLI processes of the restarted server once the load settled
    parked: int  # how many the warm pools should hold then
    zombies_at_settle: int  # dead children the restarted server had not reaped
    left_after_stop: int  # processes of the test still running after the final stop
    stop_exit_code: int | None  # the restarted server's exit code after SIGTERM
    adopted_reaped: int  # dead orphans re-parented to the test runner, reaped by it
    stale_session_dirs: int  # ``$TMPDIR/asm-sessions-*`` left after the final stop
    log_tracebacks: int  # "Traceback" in the servers' stderr
    rss_first: int  # the first server, idle, leases ensured
    rss_start: int  # the restarted server after warm-up under load
    rss_peak: int
    rss_end: int  # after the load stopped and settled

    @property
    def rss_limit(self) -> int:
        """The tolerance: the end may be 1.5 x the start plus 20 MiB."""
        return int(self.rss_start * 1.5) + 20 * MIB


def _expected(mode: str) -> str:
    rule = EXPECTED[mode]
    if rule.code is None:
        return "200"
    in_band = f"; streamed: 200 + in-band {rule.code}" if rule.in_band else ""
    return f"{rule.status} {rule.code}{in_band}"


def _statuses(tally: ModeTally) -> str:
    seen = sorted(tally.statuses.items())
    return " ".join(f"{status or 'gone'}×{count}" for status, count in seen)


def traffic_table(tallies: dict[str, ModeTally]) -> list[str]:
    rows = [
        "| fault mode | expected | requests | 200 complete | expected errors (in-band) "
        "| unexpected | client disconnects | cut by kill -9 | statuses seen |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    total = ModeTally()
    for mode, tally in tallies.items():
        rows.append(
            f"| {mode} | {_expected(mode)} | {tally.requests} | {tally.complete} "
            f"| {tally.expected_errors} ({tally.in_band}) | {tally.unexpected} "
            f"| {tally.disconnects} | {tally.cut_by_kill} | {_statuses(tally)} |"
        )
        for name in ("requests", "complete", "expected_errors", "in_band", "unexpected"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
        total.disconnects += tally.disconnects
        total.cut_by_kill += tally.cut_by_kill
    rows.append(
        f"| **all** | | {total.requests} | {total.complete} "
        f"| {total.expected_errors} ({total.in_band}) | {total.unexpected} "
        f"| {total.disconnects} | {total.cut_by_kill} | |"
    )
    return rows


def events_table(result: EventsResult) -> list[str]:
    return [
        "| published | acked (202) | unacked at kill -9 | refused (503, retry-after) "
        "| other answers | stored after restart "
        "| acked lost | listener received | listener missed | duplicates | out of order "
        "| listener reconnect attempts |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| {result.published} | {result.acked} | {result.unacked_at_kill} | {result.refused} "
        f"| {len(result.unexpected)} | {result.stored} | {result.lost} | {result.received} "
        f"| {result.listener_missed} | {result.duplicates} | {result.out_of_order} "
        f"| {result.reconnects} |",
    ]


def process_table(result: ProcessResult) -> list[str]:
    def mib(value: int) -> str:
        return f"{value / MIB:.1f}"

    return [
        "| killed server's CLI processes | swept by the restart | alive after restart "
        "| CLIs at settle (parked) | zombies at settle | left after stop | stop exit "
        "| dead orphans reaped by pytest | session dirs left in TMPDIR | tracebacks in server log "
        "| RSS MiB first / start / peak / end | end limit MiB |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
        f"| {result.killed_tree} | {result.swept} | {result.alive_after_restart} "
        f"| {result.clis_at_settle} ({result.parked}) | {result.zombies_at_settle} "
        f"| {result.left_after_stop} | {result.stop_exit_code} | {result.adopted_reaped} "
        f"| {result.stale_session_dirs} | {result.log_tracebacks} "
        f"| {mib(result.rss_first)} / {mib(result.rss_start)} / {mib(result.rss_peak)} "
        f"/ {mib(result.rss_end)} | {mib(result.rss_limit)} |",
    ]


def render(
    tallies: dict[str, ModeTally], events: EventsResult, processes: ProcessResult, heading: str
) -> str:
    """The whole report, markdown."""
    lines = [heading, "", *traffic_table(tallies), "", *events_table(events), ""]
    lines += [*process_table(processes), ""]
    return "\n".join(lines)
