#!/usr/bin/env bash
# tether's benchmarks, side by side with Node socket.io, in one command:
#
#   bench/run.sh                 # full run (release build), prints one markdown table
#   bench/run.sh --smoke         # tiny run (N=50, 1 s phases), well under a minute once built
#
# It builds the bench server and the load generator in release mode, starts its own
# redis-server on a free loopback port, then for each implementation (tether's bench-server,
# the Node socket.io baseline in bench/node, plain socketioxide / socketioxide-redis) starts one
# node and runs every scenario, then two nodes through Redis and runs the cross-node
# scenarios. Every process it starts is stopped when it exits, whatever happens.
#
# Options:
#   --smoke             N=50, 1 s phases, small fan-out and rate
#   --tether-only       skip the Node and socketioxide baselines (no npm needed)
#   --no-cluster        skip the two-node runs of tether (rows say "cluster mode pending")
#   --bin-dir DIR       use prebuilt bench-server/bench-socketioxide/loadgen from DIR (no build)
#   --n N               sockets held (default 4000)
#   --duration SECS     per timed phase (default 8)
#   --out DIR           where results go (default target/bench/<time>)
#   --pin               servers (and redis) on CPU 0, the load generator on CPU 1 (taskset)
#   -- ARGS..           extra loadgen arguments (e.g. -- --rate 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=0 TETHER_ONLY=0 NO_CLUSTER=0 PIN=0
BIN_DIR="" N="" DURATION="" OUT=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --tether-only) TETHER_ONLY=1 ;;
    --no-cluster) NO_CLUSTER=1 ;;
    --pin) PIN=1 ;;
    --bin-dir) BIN_DIR=$2; shift ;;
    --n) N=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --out) OUT=$2; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$SMOKE" = 1 ]; then
  N=${N:-50} DURATION=${DURATION:-1}
  SIZING=(--settle 0.2 --drain 1 --fanout 10 --rate 100 --churn-cycles 2 --churn-batch 20 --window 100)
else
  N=${N:-4000} DURATION=${DURATION:-8}
  SIZING=(--settle 1 --drain 3 --fanout 500 --rate 2000 --churn-cycles 5 --churn-batch 500 --window 200)
fi
OUT=${OUT:-$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

# --- everything started here is stopped at exit -------------------------------------------
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Bounded: a process that ignores SIGTERM for 5 s is killed.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() { # stop the given pids now
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  local keep=() p
  for p in "${PIDS[@]}"; do
    case " $* " in *" $p "*) ;; *) keep+=("$p") ;; esac
  done
  PIDS=("${keep[@]}")
}

# Two sockets per connection on loopback (client + server side), plus slack.
want=$((2 * N + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" -lt "$want" ]; then
    echo "run.sh: open files limit $(ulimit -n) < $want needed for N=$N; lower --n" >&2
    exit 1
  fi
fi

# --- build ----------------------------------------------------------------------------------
if [ -z "$BIN_DIR" ]; then
  echo "== cargo build --release (bench server, load generator)" >&2
  cargo build --release -p tether-bench-server -p tether-loadgen >&2
  BIN_DIR=$ROOT/target/release
fi
LOADGEN=$BIN_DIR/loadgen
for b in bench-server loadgen; do
  [ -x "$BIN_DIR/$b" ] || { echo "run.sh: $BIN_DIR/$b is missing" >&2; exit 1; }
done
if [ "$TETHER_ONLY" = 0 ]; then
  command -v node >/dev/null || { echo "run.sh: node is needed for the baseline (or --tether-only)" >&2; exit 1; }
  if [ ! -d bench/node/node_modules ]; then
    npm ci --prefix bench/node --no-audit --no-fund --loglevel=error >&2
  fi
fi

SERVER_CPU=() LOADGEN_CPU=()
if [ "$PIN" = 1 ] && command -v taskset >/dev/null; then
  SERVER_CPU=(taskset -c 0) LOADGEN_CPU=(taskset -c 1)
fi

BENCH_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
export BENCH_KEY

# --- redis ----------------------------------------------------------------------------------
REDIS_URL_ALL=""
REDIS_PORT=""
if command -v redis-server >/dev/null; then
  REDIS_PORT=$("$LOADGEN" free-port)
  "${SERVER_CPU[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --loglevel warning >"$OUT/redis.log" 2>&1 &
  PIDS+=($!)
  "$LOADGEN" wait-port "127.0.0.1:$REDIS_PORT" --timeout 10
  REDIS_URL_ALL="redis://127.0.0.1:$REDIS_PORT"
fi

# --- one run --------------------------------------------------------------------------------
MISSING=()
# start IMPL REDIS_URL LOG: starts one node on a free port; prints "PORT PID".
start() {
  local impl=$1 redis=$2 log=$3 port pid
  port=$("$LOADGEN" free-port)
  case "$impl" in
    tether) PORT=$port REDIS_URL=$redis "${SERVER_CPU[@]}" "$BIN_DIR/bench-server" >"$log" 2>&1 & pid=$! ;;
    socketioxide) PORT=$port REDIS_URL=$redis "${SERVER_CPU[@]}" "$BIN_DIR/bench-socketioxide" >"$log" 2>&1 & pid=$! ;;
    node) PORT=$port REDIS_URL=$redis "${SERVER_CPU[@]}" node "$ROOT/bench/node/server.mjs" >"$log" 2>&1 & pid=$! ;;
  esac
  echo "$port $pid"
}

# run IMPL NODES: starts the nodes, runs the load generator, stops them.
run() {
  local impl=$1 nodes=$2 redis="" urls=() pids=() i port pid scenarios=all
  if [ "$nodes" -gt 1 ]; then
    redis=$REDIS_URL_ALL
    scenarios=unicast,fanout,latency
  fi
  echo "== $impl × $nodes node(s)   load: $(uptime | sed 's/.*load average: //')" >&2
  echo "$impl-$nodes: $(uptime)" >>"$OUT/uptime.txt"
  # With Redis, one more node joins the cluster and holds no socket: the work it does is work
  # for messages none of its sockets receive (`--bystander-pid`).
  local total=$nodes
  if [ "$nodes" -gt 1 ]; then total=$((nodes + 1)); fi
  for i in $(seq "$total"); do
    read -r port pid < <(start "$impl" "$redis" "$OUT/$impl-$nodes-node$i.log")
    PIDS+=("$pid"); pids+=("$pid")
    if [ "$i" -le "$nodes" ]; then
      urls+=(--url "127.0.0.1:$port" --pid "$pid")
    else
      urls+=(--bystander-pid "$pid")
    fi
    if ! "$LOADGEN" wait-port "127.0.0.1:$port" --timeout 30; then
      echo "run.sh: $impl node $i did not start; see $OUT/$impl-$nodes-node$i.log" >&2
      stop "${pids[@]}"
      MISSING+=(--missing "$impl:$nodes=did not start")
      return 0
    fi
  done
  if ! timeout 900 "${LOADGEN_CPU[@]}" "$LOADGEN" run --impl "$impl" "${urls[@]}" --n "$N" \
      --duration "$DURATION" --scenarios "$scenarios" "${SIZING[@]}" "${EXTRA[@]}" \
      --out "$OUT/$impl-$nodes.json" >/dev/null 2>"$OUT/$impl-$nodes.loadgen.log"; then
    echo "run.sh: the $impl × $nodes run failed; see $OUT/$impl-$nodes.loadgen.log" >&2
    tail -3 "$OUT/$impl-$nodes.loadgen.log" >&2 || true
    MISSING+=(--missing "$impl:$nodes=run failed")
  fi
  stop "${pids[@]}"
  if [ -n "$redis" ] && command -v redis-cli >/dev/null; then
    redis-cli -p "$REDIS_PORT" flushall >/dev/null 2>&1 || true
  fi
}

IMPLS=(tether)
if [ "$TETHER_ONLY" = 0 ]; then
  IMPLS+=(node)
  if [ -x "$BIN_DIR/bench-socketioxide" ]; then IMPLS+=(socketioxide); fi
fi
for impl in "${IMPLS[@]}"; do
  run "$impl" 1
done
for impl in "${IMPLS[@]}"; do
  if [ -z "$REDIS_URL_ALL" ]; then
    MISSING+=(--missing "$impl:2=no redis-server")
  elif [ "$impl" = tether ] && [ "$NO_CLUSTER" = 1 ]; then
    MISSING+=(--missing "tether:2=cluster mode pending")
  else
    run "$impl" 2
  fi
done

# --- the table ------------------------------------------------------------------------------
shopt -s nullglob
results=("$OUT"/*-[12].json)
if [ ${#results[@]} -eq 0 ]; then
  echo "run.sh: no results" >&2
  exit 1
fi
{
  echo "## tether vs Node socket.io — N=$N sockets, ${DURATION} s per phase$([ "$SMOKE" = 1 ] && echo ' (smoke)')"
  echo
  echo "Machine: $(nproc) cores, $(free -h | awk '/^Mem:/ {print $2}') RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'). Ratios: how many times better tether is (>1 = better; latency ratios on p99)."
  echo
  "$LOADGEN" report "${MISSING[@]}" "${results[@]}"
} | tee "$OUT/table.md"
echo "results: $OUT" >&2
