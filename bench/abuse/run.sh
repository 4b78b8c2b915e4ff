#!/usr/bin/env bash
# What a hostile client does to the chat demo: bench/abuse/run.sh PATH/TO/chat [SCENARIO ...]
#
# Runs each scenario (idle, handshakes, flood, joins, joins-event; all by default) RUNS times (default 3),
# each against a fresh server process on a free loopback port, and prints one `RESULT` line per
# run (keys in README.md), each preceded by a `# ` line with the run's number, the load and the
# binary. The server's log goes to $OUT (default a temporary folder, printed at the end).
# ABUSE_ARGS passes options to abuse.js (e.g. `--probe-ms 25`, `--waves 2`; see README.md).
#
# Needs Node 20 and the `ws` package: NODE_PATH defaults to tests/js/node_modules of this
# checkout (`npm ci --prefix tests/js` installs it).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/chat [idle|handshakes|flood|joins|joins-event ...]   (env: RUNS=3, OUT=dir, ABUSE_ARGS, NODELAY=1)" >&2
    exit 2
fi
BIN=$(realpath "$1")
shift
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(idle handshakes flood joins joins-event)
RUNS=${RUNS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export NODE_PATH=${NODE_PATH:-$REPO/tests/js/node_modules}
if [ ! -d "$NODE_PATH/ws" ]; then
    echo "no \`ws\` in NODE_PATH=$NODE_PATH: run \`npm ci --prefix tests/js\`" >&2
    exit 2
fi
OUT=${OUT:-$(mktemp -d /tmp/abuse.XXXXXX)}
mkdir -p "$OUT"
# 9,000 sockets on each side (the server's and the client's file descriptors).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10000 ]; then
    echo "need at least 10000 open files (ulimit -n), have $(ulimit -n)" >&2
    exit 2
fi

# NODELAY=1: the server's accepted sockets get TCP_NODELAY (an LD_PRELOAD shim, nodelay.c), to
# see its latencies without Nagle's algorithm; the demo itself does not set it.
PRELOAD=
if [ "${NODELAY:-0}" = 1 ]; then
    cc -shared -fPIC -O2 -o "$OUT/nodelay.so" "$HERE/nodelay.c" -ldl
    PRELOAD=$OUT/nodelay.so
fi

KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
SERVER_PID=

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -INT "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    [ -z "$SERVER_PID" ] || wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap stop_server EXIT

for run in $(seq "$RUNS"); do
    for scenario in "${SCENARIOS[@]}"; do
        log="$OUT/server-$scenario-$run.log"
        # PORT=0: the server picks a free port and logs it. NOTIFY_SECRET is ignored by older
        # builds of the demo, which did not have it.
        PORT=0 HOST=127.0.0.1 TETHER_KEY="$KEY" NOTIFY_SECRET=x NO_COLOR=1 LD_PRELOAD=$PRELOAD \
            "$BIN" >"$log" 2>&1 &
        SERVER_PID=$!
        port=
        for _ in $(seq 100); do
            port=$(grep -o 'chat demo on http://127\.0\.0\.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
            [ -n "$port" ] && break
            sleep 0.1
        done
        if [ -z "$port" ]; then
            echo "server did not start; its log:" >&2
            cat "$log" >&2
            exit 1
        fi
        echo "# run=$run scenario=$scenario bin=$BIN nodelay=${NODELAY:-0} load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
        # shellcheck disable=SC2086 # ABUSE_ARGS: more options for abuse.js, split on spaces
        node "$HERE/abuse.js" "$scenario" --url "http://127.0.0.1:$port" --pid "$SERVER_PID" ${ABUSE_ARGS:-} ||
            echo "RESULT $scenario error=node_exit_$?"
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "# the server is gone: tail of its log:"
            tail -5 "$log" | sed 's/^/#   /'
        fi
        stop_server
    done
done
echo "# server logs in $OUT"
