#!/bin/sh
# Fake Ollama installer: ollama_install.sh PREFIX
#
# Stands in for the official Linux installer (https://ollama.com/install.sh): prints its
# ">>> ..." status lines on stderr and "installs" the fake ollama (tests/fakes/bin/ollama)
# as PREFIX/bin/ollama, a two-line wrapper that runs it. It changes nothing outside PREFIX.
#
# Environment:
#   OLLAMA_VERSION                  pin, as the real installer reads it: the installed
#                                   ollama then reports this version (FAKE_OLLAMA_VERSION).
#   FAKE_OLLAMA_INSTALL_FAIL=1      the download fails: an ERROR line, exit 1, no binary.
#   FAKE_OLLAMA_INSTALL_DELAY_MS    how long the "download" takes (default 0); it draws
#                                   curl's --progress-bar on stderr as it goes, redrawn
#                                   with carriage returns (25%, 50%, 75%, 100%).
set -eu

status() { echo ">>> $*" >&2; }
error() { echo "ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || error "usage: $0 PREFIX"
PREFIX=$1
FAKE=$(cd "$(dirname "$0")" && pwd)/bin/ollama
[ -x "$FAKE" ] || error "the fake ollama is missing at $FAKE"

status "Installing ollama to $PREFIX"
mkdir -p "$PREFIX/bin" "$PREFIX/lib/ollama"
status "Downloading Linux amd64 bundle${OLLAMA_VERSION:+ (version $OLLAMA_VERSION)}"
delay=${FAKE_OLLAMA_INSTALL_DELAY_MS:-0}
quarter=$(awk "BEGIN { print $delay / 4000 }")
for bar in '##########                               25.0%' \
           '####################                     50.0%' \
           '##############################           75.0%' \
           '######################################## 100.0%'; do
    [ "$delay" -eq 0 ] || sleep "$quarter"
    printf '\r%s' "$bar" >&2
done
printf '\n' >&2
if [ "${FAKE_OLLAMA_INSTALL_FAIL:-}" = "1" ]; then
    error "curl: (22) The requested URL returned error: 503"
fi

{
    echo '#!/bin/sh'
    [ -z "${OLLAMA_VERSION:-}" ] || echo "FAKE_OLLAMA_VERSION='$OLLAMA_VERSION'; export FAKE_OLLAMA_VERSION"
    echo "exec '$FAKE' \"\$@\""
} > "$PREFIX/bin/ollama.partial"
chmod 755 "$PREFIX/bin/ollama.partial"
mv "$PREFIX/bin/ollama.partial" "$PREFIX/bin/ollama"

status 'The Ollama API is now available at 127.0.0.1:11434.'
status 'Install complete. Run "ollama" from the command line.'
