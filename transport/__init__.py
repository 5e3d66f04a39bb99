"""The edges: ASGI apps, SSE/NDJSON framing, auth, event-log backends, HTTP clients."""
