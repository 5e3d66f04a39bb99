#!/usr/bin/env bash
# The README's first session on a fresh clone, as a new user meets it: clone this repo to
# a temporary directory, run the session's first block (`make serve ARGS=…` with the fake
# claude: it creates .venv and installs asm-trio from the package registry) in the
# background, wait for its ready line, run the second block in a fresh shell (no venv on
# PATH), check what it printed, stop the server as Ctrl-C does, and fail if any process of
# the session is left. The blocks are read from README.md, never copied here.
# Needs 127.0.0.1:8787 free (the README serves there). Run by .ci/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
clone=$work/asm-trio
sid=""

say() { echo "fresh_clone: $*" >&2; }
members() { # pids of the server's session, and of anything running from the clone
  { ps -eo pid=,sid=,stat= | awk -v s="$sid" '$2 == s && $3 !~ /^Z/ {print $1}'
    pgrep -f -- "$clone" || true; } | sort -u
}
cleanup() {
  local code=$?
  if [ -n "$sid" ] && [ -n "$(members)" ]; then
    kill -TERM -- "-$sid" 2>/dev/null || true
    sleep 5
    for pid in $(members); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$work"
  exit "$code"
}
trap cleanup EXIT

if (exec 3<>/dev/tcp/127.0.0.1/8787) 2>/dev/null; then
  say "127.0.0.1:8787 is in use; the README's first session serves there"; exit 1
fi
git clone -q "$root" "$clone"
cd "$clone"
python3 - README.md "$work" <<'PY'
import pathlib, re, sys
text = pathlib.Path(sys.argv[1]).read_text()
start = text.index("\n## A first session\n")
end = text.find("\n## ", start + 1)
server, client = re.findall(r"```sh\n(.*?)```", text[start:end], re.S)[:2]
pathlib.Path(sys.argv[2], "server.sh").write_text(server)
pathlib.Path(sys.argv[2], "client.sh").write_text(client)
PY

# A fresh shell: the caller's environment without a venv, ASM_* or BUS_* variables.
fresh_path=$(printf %s "$PATH" | tr : '\n' | grep -v -e '/\.venv/bin$' -e "^$root/" | paste -sd: -)
fresh=(env -u VIRTUAL_ENV PATH="$fresh_path")
for name in $(env | sed -n 's/^\(\(ASM\|BUS\)_[A-Za-z0-9_]*\)=.*/\1/p'); do fresh+=(-u "$name"); done

say "terminal 1: $(cat "$work/server.sh")"
"${fresh[@]}" setsid bash "$work/server.sh" >"$work/server.log" 2>&1 &
server=$!
sleep 0.5
sid=$(ps -o sid= -p "$server" | tr -d ' ')
for _ in $(seq 1200); do # make creates .venv and installs first: up to 10 minutes
  grep -q "asm: serving on http://127.0.0.1:8787" "$work/server.log" && break
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log" >&2; say "make serve ended"; exit 1; fi
  sleep 0.5
done
grep -q "asm: serving on" "$work/server.log" || { cat "$work/server.log" >&2; say "never ready"; exit 1; }
[ -n "$(members)" ] || { say "cannot see the server's processes (session $sid)"; exit 1; }

say "terminal 2: the README's second block"
if ! "${fresh[@]}" bash -euo pipefail "$work/client.sh" >"$work/client.out" 2>"$work/client.err"; then
  cat "$work/client.out" "$work/client.err" >&2; say "the second block failed"; exit 1
fi
python3 - "$work/client.out" <<'PY'
import json, pathlib, sys
completion, receipt, event = map(json.loads, pathlib.Path(sys.argv[1]).read_text().splitlines())
assert completion["choices"][0]["message"]["content"] == "Hello from fake claude. You said: Say hi", completion
assert (receipt["accepted"], receipt["name"]) == (True, "demo.hello"), receipt
assert (event["id"], event["name"], event["payload"]) == (receipt["id"], "demo.hello", {"n": 1}), event
PY

say "Ctrl-C in terminal 1"
kill -INT -- "-$sid"
for _ in $(seq 300); do [ -z "$(members)" ] && break; sleep 0.1; done
if [ -n "$(members)" ]; then
  ps -o pid,sid,args -p "$(members | paste -sd, -)" >&2 || true
  say "processes outlived the server"; exit 1
fi
wait "$server" || true
grep -q "asm: SIGINT, stopping" "$work/server.log" || { cat "$work/server.log" >&2; say "no clean stop"; exit 1; }
say "OK: the README's first session ran on a fresh clone; no process left"
