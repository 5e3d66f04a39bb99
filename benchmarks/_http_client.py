"""An HTTP client in its own process, for ``benchmarks/endpoint.py``.

One non-streaming chat completion per line read on stdin; each answer line is the
seconds it took as this process saw it (-1 for a failure). argv: URL, model, prompt and
the client library: ``stdlib`` (``http.client``, the least a client can add, so what is
left is the endpoint's) or ``httpx`` (what an application using httpx sees). The bearer
token comes from ``ASM_BENCH_TOKEN`` (never argv, which other users can read).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx


def _stdlib(url: str, headers: dict[str, str], body: bytes) -> Callable[[], bool]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)

    def post() -> bool:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        return response.status == 200 and answer["choices"][0]["finish_reason"] == "stop"

    return post


def _httpx(url: str, headers: dict[str, str], body: bytes) -> Callable[[], bool]:
    client = httpx.Client(timeout=60, headers=headers)

    def post() -> bool:
        response = client.post(url, content=body)
        ok = response.status_code == 200
        return ok and response.json()["choices"][0]["finish_reason"] == "stop"

    return post


def main() -> None:
    url, model, prompt, kind = sys.argv[1:5]
    headers = {
        "authorization": f"Bearer {os.environ['ASM_BENCH_TOKEN']}",
        "content-type": "application/json",
    }
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}]})
    post = {"stdlib": _stdlib, "httpx": _httpx}[kind](url, headers, body.encode())
    for _ in sys.stdin:
        start = time.perf_counter()
        ok = post()
        elapsed = time.perf_counter() - start
        print(elapsed if ok else -1, flush=True)


if __name__ == "__main__":
    main()
