"""The conformance table: one row per rule, failures with their counterexample.

    print(render_table(outcomes))

It is a GitHub-flavoured markdown table, readable in a terminal and pastable into an
issue; ``|`` and line breaks inside a cell are escaped so that a counterexample cannot
break the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from transport.conformance._harness import Outcome

__all__ = ["HEADER", "all_passed", "render_table"]

HEADER = ("rule", "examples tried", "result", "first counterexample")


def _cell(text: str | None) -> str:
    return (text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")


def _row(outcome: Outcome) -> tuple[str, str, str, str]:
    match outcome.status:
        case "fail":
            result = "FAIL"
            detail = f"{outcome.counterexample} → {outcome.message}"
        case "skip":
            result = "skip"
            detail = outcome.message or ""
        case _:
            result, detail = "pass", ""
    return (outcome.rule, str(outcome.tried), result, _cell(detail))


def render_table(outcomes: Sequence[Outcome]) -> str:
    """The outcomes as a markdown table, then a one-line summary."""
    rows = [HEADER, *(_row(outcome) for outcome in outcomes)]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[column].ljust(widths[column]) for column in range(3)] + [row[3]]
        lines.append("| " + " | ".join(cells).rstrip() + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in [*widths, 20]) + "|")
    failed = sum(outcome.status == "fail" for outcome in outcomes)
    skipped = sum(outcome.status == "skip" for outcome in outcomes)
    passed = len(outcomes) - failed - skipped
    lines.append("")
    lines.append(f"{passed} passed, {failed} failed, {skipped} skipped")
    return "\n".join(lines)


def all_passed(outcomes: Sequence[Outcome]) -> bool:
    """No rule failed (skips do not fail a run; the table says why they were skipped)."""
    return not any(outcome.status == "fail" for outcome in outcomes)
