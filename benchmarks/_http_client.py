"""An HTTP client in its own process, for ``benchmarks/endpoint.py``.

One non-streaming chat completion per line read on stdin; each answer line is the
seconds it took as this process saw it (-1 for a failure). The URL is argv[1]; the
bearer token comes from ``ASM_BENCH_TOKEN`` (never argv, which other users can read).
"""

from __future__ import annotations

import os
import sys
import time

import httpx


def main() -> None:
    url = sys.argv[1]
    headers = {"authorization": f"Bearer {os.environ['ASM_BENCH_TOKEN']}"}
    body = {"model": sys.argv[2], "messages": [{"role": "user", "content": sys.argv[3]}]}
    with httpx.Client(timeout=60, headers=headers) as client:
        for _ in sys.stdin:
            start = time.perf_counter()
            response = client.post(url, json=body)
            elapsed = time.perf_counter() - start
            ok = response.status_code == 200
            ok = ok and response.json()["choices"][0]["finish_reason"] == "stop"
            print(elapsed if ok else -1, flush=True)


if __name__ == "__main__":
    main()
