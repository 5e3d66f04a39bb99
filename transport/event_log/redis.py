"""The Redis Streams event log: one bus shared by several ``asm serve`` processes.

::

    async with open_redis_log("redis://127.0.0.1:6379/0") as log:
        [event] = await log.append([PublishEnvelope(name="jobs.new")], identity_id="alice")
        query = ListenQuery(pattern="jobs.*", delivery="unicast", group="workers")
        async with log.listen(query) as stream:
            event = await stream.receive()

How it maps onto Redis (7.0 or later), through coredis on Trio:

- **One stream for the whole bus**, key ``<namespace>:events``. Each entry has the
  fields ``name``, ``payload`` (the raw JSON bytes), ``correlation_id`` (empty: none),
  ``metadata`` (JSON), ``identity_id``, ``created_at`` and ``created`` (the log clock's
  seconds). An event's id is its entry id ``"<ms>-<seq>"``; ids increase in log order.
- **Ids follow the log's clock**: ``append`` adds at ``<ms>-*`` with ``ms`` the clock's
  milliseconds, so ``since`` and retention are measured on the same clock as
  ``created_at`` (and an injected test clock drives all three). When another writer is
  ahead (its clock runs faster, or a concurrent append took a later millisecond), the
  append takes that writer's millisecond instead: one Lua script reads the stream's last
  id and adds, atomically, so ids increase and never repeat without any retry.
- **append** is all or nothing: the XADDs of a batch run in that one script and share
  their ``ms``, so either every XADD is accepted or none is. With ``appendfsync always``
  on the server, an answered EXEC is on disk.
- **Retention**: every XADD carries ``MAXLEN ~`` :data:`RETENTION_COUNT`, and the
  transaction ends with ``XTRIM MINID ~`` (now − :data:`RETENTION_SECONDS`). A single
  stream cannot cap the count *per name*: the count limit applies to the whole bus.
  ``~`` lets Redis trim whole nodes only, so a few more events may stay a while.
- **broadcast**: XREAD BLOCK from the start position (``after`` exclusive, ``replay``
  from ``0-0``, ``since`` N from the id of (now − N) s, default 60 s; ``since=0`` from
  the last id). Filtering by pattern and ``correlation_id`` happens here.
- **unicast**: one consumer group per (pattern, group), named ``<group>|<pattern>``
  (a pattern never holds ``|``), created with XGROUP CREATE … MKSTREAM at the start
  position on first use; XREADGROUP ``>`` one entry at a time, so a consumer never
  holds events another could take. Entries the pattern or correlation filter rejects
  are XACKed and passed over. Auto ack: XACK when ``receive`` returns the event.
  Explicit ack: the entry stays pending; XAUTOCLAIM with min-idle ``ack_wait`` hands it
  to whichever consumer of the group asks next (redeliveries go first).
  :meth:`RedisEventLog.ack` XACKs the id in every group ``<group>|…`` where it is
  pending *for that consumer* (one Lua script, so a concurrent claim cannot slip in).
- **follow=False** ends (:class:`trio.EndOfChannel`) once the entries up to the last id
  at opening are delivered (unicast: once the group has nothing more to give).
- **Cancel-safety**: a broadcast stream keeps its cursor locally, so a cancelled XREAD
  takes nothing. A unicast read changes the group on the server, so it runs shielded
  with a short BLOCK (≤ 0.5 s) and keeps what it got for the next ``receive``; a
  cancelled ``receive`` therefore returns up to that much later, having taken nothing.
  (coredis runs a client's connections in the nursery where the client was entered: a
  stream closed while it reads loses that read's connection, and an entry Redis had
  just handed to it stays pending until another consumer claims it after ``ack_wait``.)
- Each stream reads over a client of its own (a blocking read holds its connection);
  appends, acks and claims share the log's client. Connection failures raise
  :class:`StoreError`; a malformed ``after`` raises :class:`CursorError`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Final
from urllib.parse import urlsplit

from coredis.exceptions import ResponseError, StreamDuplicateConsumerGroupError

from contracts.events import Event, ListenQuery, PublishEnvelope, format_timestamp, stored_event
from transport.event_log._redis_client import Client, open_client, store_errors
from transport.event_log._redis_entries import (
    StreamId,
    encode_fields,
    format_stream_id,
    ms_of,
    parse_stream_id,
    start_before_ms,
)
from transport.event_log._redis_stream import RedisBroadcastStream, RedisUnicastStream
from transport.event_log.base import (
    RETENTION_COUNT,
    RETENTION_SECONDS,
    CursorError,
    EventStream,
)

__all__ = ["RedisEventLog", "open_redis_log"]

Clock = Callable[[], float]

_APPEND_SCRIPT: Final = """
local ms = tonumber(ARGV[1])
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if ok then
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local top = tonumber(string.match(info[i + 1], '^(%d+)-'))
      if top > ms then ms = top end
    end
  end
end
local ids = {}
local at = 4
for n = 1, tonumber(ARGV[3]) do
  local count = tonumber(ARGV[at])
  local fields = {}
  for k = 1, count do fields[k] = ARGV[at + k] end
  at = at + count + 1
  ids[n] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], ms .. '-*', unpack(fields))
end
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[at])
return ids
"""
_ACK_SCRIPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local prefix = ARGV[1] .. '|'
local acked = 0
for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name = ''
  for i = 1, #info, 2 do
    if info[i] == 'name' then name = info[i + 1] end
  end
  local pattern = string.sub(name, #prefix + 1)
  if string.sub(name, 1, #prefix) == prefix and not string.find(pattern, '|', 1, true) then
    local pending = redis.call('XPENDING', KEYS[1], name, ARGV[3], ARGV[3], 1, ARGV[2])
    if #pending > 0 then
      acked = acked + redis.call('XACK', KEYS[1], name, ARGV[3])
    end
  end
end
return acked
"""


@asynccontextmanager
async def open_redis_log(
    url: str, *, clock: Clock = time.time, namespace: str = "asm"
) -> AsyncIterator[RedisEventLog]:
    """The log kept in the Redis at ``url`` (``redis://HOST:PORT/DB``).

    Raises :class:`StoreError` when the server does not answer.
    """
    async with open_client(url) as client:
        async with store_errors(f"redis at {_location(url)} does not answer"):
            await client.ping()
        yield RedisEventLog(url, client, clock=clock, namespace=namespace)


class RedisEventLog:
    """The :class:`~transport.event_log.EventLog` kept in one Redis stream."""

    def __init__(self, url: str, client: Client, *, clock: Clock, namespace: str) -> None:
        self._url = url
        self._client = client
        self._clock = clock
        self.key: Final = f"{namespace}:events"

    @property
    def backend(self) -> str:
        return "redis"

    async def append(
        self, envelopes: Sequence[PublishEnvelope], *, identity_id: str
    ) -> list[Event]:
        now = self._clock()
        created_at = format_timestamp(now)
        fields = [
            encode_fields(envelope, identity_id=identity_id, created_at=created_at, created=now)
            for envelope in envelopes
        ]
        if not fields:
            return []
        args: list[str | bytes | int] = [ms_of(now), RETENTION_COUNT, len(fields)]
        for entry in fields:
            args.append(2 * len(entry))
            for name, value in entry.items():
                args += [name, value]
        args.append(ms_of(now - RETENTION_SECONDS))
        async with store_errors("redis did not store the events"):
            ids = await self._client.eval(_APPEND_SCRIPT, keys=[self.key], args=args)
        assert isinstance(ids, list) and len(ids) == len(envelopes), ids
        return [
            stored_event(
                envelope, event_id=_text(event_id), identity_id=identity_id, created_at=created_at
            )
            for envelope, event_id in zip(envelopes, ids, strict=True)
        ]

    async def last_id(self) -> StreamId:
        """The id of the latest entry ever added (``0-0`` for a stream never written)."""
        try:
            info = await self._client.xinfo_stream(self.key)
        except ResponseError as error:
            if "no such key" in str(error).lower():
                return (0, 0)
            raise
        return parse_stream_id(_text(info["last-generated-id"]))

    def listen(self, query: ListenQuery) -> AbstractAsyncContextManager[EventStream]:
        return self._listen(query)

    @asynccontextmanager
    async def _listen(self, query: ListenQuery) -> AsyncIterator[EventStream]:
        after = None if query.after is None else parse_stream_id(query.after)
        async with store_errors("redis cannot open the stream"):
            last = await self.last_id()
            start = self._start(query, after, last)
            group = f"{query.group}|{query.pattern}"
            if query.delivery == "unicast":
                await self._create_group(group, start)
        end = None if query.follow else last
        async with open_client(self._url) as reader:
            if query.delivery == "unicast":
                yield RedisUnicastStream(self._client, reader, self.key, group, query, end=end)
            else:
                yield RedisBroadcastStream(reader, self.key, query, start=start, end=end)

    def _start(self, query: ListenQuery, after: StreamId | None, last: StreamId) -> StreamId:
        """The id a new stream (or a new group) starts after."""
        if after is not None:
            return min(after, last)
        seconds_back = query.start_seconds_back()
        if seconds_back is None:  # replay
            return (0, 0)
        if seconds_back == 0:
            return last
        return min(start_before_ms(ms_of(self._clock() - seconds_back)), last)

    async def _create_group(self, group: str, start: StreamId) -> None:
        # When the group exists already, its own cursor applies.
        with suppress(StreamDuplicateConsumerGroupError):
            await self._client.xgroup_create(
                self.key, group, format_stream_id(start), mkstream=True
            )

    async def ack(self, group: str, consumer: str, event_id: str) -> bool:
        try:
            stream_id = format_stream_id(parse_stream_id(event_id))
        except CursorError:
            return False
        async with store_errors("redis did not take the ack"):
            acked = await self._client.eval(
                _ACK_SCRIPT, keys=[self.key], args=[group, consumer, stream_id]
            )
        return bool(acked)


def _location(url: str) -> str:
    """``url`` without its credentials, for messages."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
