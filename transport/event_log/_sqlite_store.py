"""The SQL of the sqlite event log: schema, and the blocking calls its worker threads make.

Every function here takes a :class:`sqlite3.Connection` and blocks; the Trio side
(:mod:`transport.event_log.sqlite`) runs them with ``trio.to_thread.run_sync``. The
writer connection is in autocommit mode: the caller brackets a group of writes with
``BEGIN IMMEDIATE`` … ``COMMIT`` (see :func:`commit_jobs`).

The file holds every event's payload, so the writer makes it 0600 before sqlite opens
it (sqlite would create it 0644), and takes group and others' bits off one that an
older version made; sqlite gives its ``-wal`` and ``-shm`` files the database's mode.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from contracts.events import Event

__all__ = [
    "GroupRow",
    "PendingRow",
    "WriteJob",
    "commit_jobs",
    "connect",
    "delete_pending",
    "fetch_after",
    "fetch_ids",
    "first_id_since",
    "insert_event",
    "last_id",
    "load_groups",
    "save_claim",
    "save_group",
    "trim",
]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    correlation_id TEXT,
    payload BLOB NOT NULL,
    metadata BLOB NOT NULL,
    identity_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, id);
CREATE INDEX IF NOT EXISTS events_by_correlation ON events (correlation_id, id);
CREATE INDEX IF NOT EXISTS events_by_created ON events (created);
CREATE TABLE IF NOT EXISTS groups (
    pattern TEXT NOT NULL,
    name TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    PRIMARY KEY (pattern, name)
);
CREATE TABLE IF NOT EXISTS pending (
    pattern TEXT NOT NULL,
    name TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    consumer TEXT NOT NULL,
    deadline REAL NOT NULL,
    PRIMARY KEY (pattern, name, event_id)
);
"""

_COLUMNS: Final = "id, name, correlation_id, payload, metadata, identity_id, created_at"
_METADATA: Final = msgspec.json.Decoder(dict[str, Any])

GroupRow = tuple[str, str, int]
PendingRow = tuple[str, str, int, str, float]


def connect(path: str, *, writer: bool) -> sqlite3.Connection:
    """A connection to ``path``; the writer also creates the schema and sets WAL mode."""
    if writer:
        _make_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        if writer:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
        else:
            conn.execute("PRAGMA query_only=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _make_private(path: str) -> None:
    """Create ``path`` 0600 if missing; drop group and others' bits from it and its
    ``-wal``/``-shm`` if present. Best effort: sqlite reports what cannot be opened."""
    if path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(name, mode & stat.S_IRWXU)


@dataclass(slots=True, eq=False)
class WriteJob:
    """One caller's writes: applied in a savepoint of a shared transaction."""

    apply: Callable[[sqlite3.Connection], object]
    result: object = None
    error: BaseException | None = None
    taken: bool = False
    done: bool = False


def commit_jobs(conn: sqlite3.Connection, jobs: Sequence[WriteJob]) -> int:
    """Apply ``jobs`` in one transaction and commit once.

    A job that fails is rolled back alone and keeps its error: the batch is then run
    again with a savepoint per job (the usual batch, where every job succeeds, has no
    savepoints to pay for). A failed commit fails them all. Returns the log's last event
    id afterwards.
    """
    try:
        if not _apply_together(conn, jobs):
            _apply_each_in_a_savepoint(conn, jobs)
        conn.execute("COMMIT")
    except sqlite3.Error as error:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        for job in jobs:
            job.result, job.error = None, job.error or error
    finally:
        for job in jobs:
            job.done = True
    with contextlib.suppress(sqlite3.Error):
        return last_id(conn)
    return 0


def _apply_together(conn: sqlite3.Connection, jobs: Sequence[WriteJob]) -> bool:
    """Every job in one open transaction; False (and rolled back) when one of them fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            job.result = job.apply(conn)
    except Exception:
        conn.execute("ROLLBACK")
        return False
    return True


def _apply_each_in_a_savepoint(conn: sqlite3.Connection, jobs: Sequence[WriteJob]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for job in jobs:
        job.result = None
        conn.execute("SAVEPOINT job")
        try:
            job.result = job.apply(conn)
        except Exception as error:
            job.error = error
            conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")


def last_id(conn: sqlite3.Connection) -> int:
    """The highest id ever given (kept by AUTOINCREMENT even when its row is gone)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


def insert_event(conn: sqlite3.Connection, event: Event, created: float) -> int:
    """Store one event (its ``id`` is ignored); the id it was given."""
    cursor = conn.execute(
        "INSERT INTO events (name, correlation_id, payload, metadata, identity_id,"
        " created_at, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            event.name,
            event.correlation_id,
            bytes(event.payload),
            msgspec.json.encode(event.metadata),
            event.identity_id,
            event.created_at,
            created,
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _event(row: tuple[Any, ...]) -> Event:
    event_id, name, correlation, payload, metadata, identity_id, created_at = row
    return Event(
        id=str(event_id),
        name=name,
        payload=msgspec.Raw(payload),
        correlation_id=correlation,
        correlation_id_camel=correlation,
        metadata=_METADATA.decode(metadata),
        identity_id=identity_id,
        created_at=created_at,
    )


def fetch_after(
    conn: sqlite3.Connection,
    *,
    after: int,
    until: int,
    pattern: str,
    correlation_id: str | None,
    count: int,
) -> list[Event]:
    """Up to ``count`` events with ``after < id <= until`` selected by the pattern and
    correlation id, in id order."""
    if pattern.endswith(".*"):
        prefix = pattern[:-1]  # "jobs." selects names in ["jobs.", "jobs/")
        where, params = "name >= ? AND name < ?", [prefix, prefix[:-1] + "/"]
    else:
        where, params = "name = ?", [pattern]
    if correlation_id is not None:
        where += " AND correlation_id = ?"
        params.append(correlation_id)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE id > ? AND id <= ? AND {where} ORDER BY id LIMIT ?",
        [after, until, *params, count],
    ).fetchall()
    return [_event(row) for row in rows]


def fetch_ids(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, Event]:
    """The events of ``ids`` that are still stored, by id."""
    wanted = list(ids)
    marks = ", ".join("?" * len(wanted))
    rows = conn.execute(f"SELECT {_COLUMNS} FROM events WHERE id IN ({marks})", wanted)
    return {int(row[0]): _event(row) for row in rows}


def first_id_since(conn: sqlite3.Connection, seconds: float) -> int | None:
    """The lowest id of the events created at or after ``seconds``, if any."""
    row = conn.execute("SELECT min(id) FROM events WHERE created >= ?", (seconds,)).fetchone()
    return None if row[0] is None else int(row[0])


def load_groups(conn: sqlite3.Connection) -> tuple[list[GroupRow], list[PendingRow]]:
    """Every unicast group's cursor and every pending explicit-ack delivery."""
    groups = conn.execute("SELECT pattern, name, cursor FROM groups").fetchall()
    pending = conn.execute(
        "SELECT pattern, name, event_id, consumer, deadline FROM pending"
    ).fetchall()
    return groups, pending


def save_group(conn: sqlite3.Connection, pattern: str, name: str, cursor: int) -> None:
    """Create the group or move its cursor forward (never back)."""
    conn.execute(
        "INSERT INTO groups (pattern, name, cursor) VALUES (?, ?, ?)"
        " ON CONFLICT (pattern, name) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
        (pattern, name, cursor),
    )


def save_claim(
    conn: sqlite3.Connection,
    pattern: str,
    name: str,
    *,
    cursor: int,
    event_id: int,
    pending: tuple[str, float] | None,
) -> None:
    """A delivery: the group's cursor, and the pending entry (explicit) or none (auto)."""
    save_group(conn, pattern, name, cursor)
    if pending is None:
        delete_pending(conn, [(pattern, name, event_id)])
        return
    conn.execute(
        "INSERT OR REPLACE INTO pending (pattern, name, event_id, consumer, deadline)"
        " VALUES (?, ?, ?, ?, ?)",
        (pattern, name, event_id, *pending),
    )


def delete_pending(conn: sqlite3.Connection, keys: Iterable[tuple[str, str, int]]) -> None:
    conn.executemany(
        "DELETE FROM pending WHERE pattern = ? AND name = ? AND event_id = ?", list(keys)
    )


def trim(
    conn: sqlite3.Connection,
    *,
    older_than: float,
    keep: int,
    names: Iterable[str] | None,
) -> None:
    """Delete events created before ``older_than``, and all but the newest ``keep`` of
    each of ``names`` (None: of every name)."""
    conn.execute("DELETE FROM events WHERE created < ?", (older_than,))
    if names is None:
        rows = conn.execute(
            "SELECT name FROM events GROUP BY name HAVING count(*) > ?", (keep,)
        ).fetchall()
        names = [row[0] for row in rows]
    for name in names:
        conn.execute(
            "DELETE FROM events WHERE name = ? AND id <= (SELECT id FROM events"
            " WHERE name = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (name, name, keep),
        )
