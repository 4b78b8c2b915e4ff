#!/usr/bin/env bash
# tether's benchmarks, side by side with Node socket.io, in one command:
#
#   bench/run.sh                 # full run (release build), prints one markdown table
#   bench/run.sh --smoke         # tiny run (N=50, 1 s phases), well under a minute once built
#   bench/run.sh --recovery      # recovery on vs off (tether), and the jitter scenario
#   bench/run.sh --storm         # a reconnect storm: 10,000 sockets whose node is killed
#   bench/run.sh --storm --recovery  # the storm, then tether's with recovery on: events lost?
#
# It builds the bench server and the load generator in release mode, starts its own
# redis-server on a free loopback port, then for each implementation (tether's bench-server,
# the Node socket.io baseline in bench/node, plain socketioxide / socketioxide-redis) starts one
# node and runs every scenario, then two nodes through Redis and runs the cross-node
# scenarios. Every process it starts is stopped when it exits, whatever happens.
#
# With --recovery it runs the recovery suite instead: the closed-loop unicast and fan-out on
# tether with recovery off (`/bench`) and on (`/bench-recovery`), one node and two through Redis (with
# Redis's CPU); then the jitter scenario (bench/node/jitter.mjs, the stock socket.io-client):
# tether with recovery on (one node; two nodes, every reconnect to the other) and off, and Node
# socket.io without and with its own connection state recovery. --smoke adds the one-node
# recovery on/off check to the tiny run.
#
# With --storm --recovery it runs the storm suite (tether, and the baselines unless
# --tether-only), then tether's storm once more on `/bench-recovery` (storm-tether-recovery.json,
# a column beside storm-tether.json): every socket reconnects with `auth.recover` while a feeder
# on the survivor sends the storm's users events from 1 s before the kill to 1 s after the
# storm; reported: received exactly once, lost, duplicated, reconnects told recovered. Tether
# only: the baselines have no recovery across nodes in this bench (the Node server's
# connectionStateRecovery is in-memory only, one node; plain socketioxide has none).
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
#   --recovery          the recovery suite (above) instead of the main one; with --storm,
#                       adds tether's storm with recovery on
#   --jitter-users U    users in the jitter scenario (default 200; 10 events/s each)
#   --jitter-duration S seconds of jitter (default 20)
#   --repeat R          recovery off/on unicast pairs per node count, interleaved (default 1)
#   --storm             the reconnect storm instead of the main suite
#   --storm-n N         sockets in the storm (default 10000)
#   -- ARGS..           extra loadgen arguments (e.g. -- --rate 5000; with --storm, storm ones:
#                       -- --feed-rate 5000 --deadline 30; its size is --storm-n, not --n)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=0 TETHER_ONLY=0 NO_CLUSTER=0 PIN=0 RECOVERY=0 STORM=0 STORM_N=10000
BIN_DIR="" N="" DURATION="" OUT="" JITTER_USERS=200 JITTER_DURATION=20 REPEAT=1
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --tether-only) TETHER_ONLY=1 ;;
    --no-cluster) NO_CLUSTER=1 ;;
    --pin) PIN=1 ;;
    --recovery) RECOVERY=1 ;;
    --storm) STORM=1 ;;
    --storm-n) STORM_N=$2; shift ;;
    --jitter-users) JITTER_USERS=$2; shift ;;
    --jitter-duration) JITTER_DURATION=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --bin-dir) BIN_DIR=$2; shift ;;
    --n) N=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --out) OUT=$2; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
# The storm's size is --storm-n: the load generator refuses a second `--n`.
if [ "$STORM" = 1 ]; then
  for a in "${EXTRA[@]}"; do
    case "$a" in
      --n|--n=*) echo "run.sh: with --storm, size the storm with --storm-n, not -- --n" >&2; exit 2 ;;
    esac
  done
fi

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
# The storm's sockets are in separate processes: the load generator's side, then one server's.
if [ "$STORM" = 1 ]; then want=$((STORM_N + 512)); fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" -lt "$want" ]; then
    echo "run.sh: open files limit $(ulimit -n) < $want needed for these sockets; lower --n (or --storm-n)" >&2
    exit 1
  fi
fi

# --- build ----------------------------------------------------------------------------------
if [ -z "$BIN_DIR" ]; then
  echo "== cargo build --release (bench server, load generator)" >&2
  cargo build --release -p tether-bench-server -p tether-loadgen >&2
  BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
fi
LOADGEN=$BIN_DIR/loadgen
for b in bench-server loadgen; do
  [ -x "$BIN_DIR/$b" ] || { echo "run.sh: $BIN_DIR/$b is missing" >&2; exit 1; }
done
# The jitter scenario's client is Node too (the stock socket.io-client), even with --tether-only.
JITTER=0
if [ "$RECOVERY" = 1 ] && [ "$SMOKE" = 0 ] && [ "$STORM" = 0 ]; then JITTER=1; fi
if [ "$TETHER_ONLY" = 0 ] || [ "$JITTER" = 1 ]; then
  command -v node >/dev/null || { echo "run.sh: node is needed for the baseline and the jitter client (or --tether-only)" >&2; exit 1; }
  if [ ! -d bench/node/node_modules/socket.io-client ]; then
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
REDIS_PORT="" REDIS_PID=""
if command -v redis-server >/dev/null; then
  REDIS_PORT=$("$LOADGEN" free-port)
  "${SERVER_CPU[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --loglevel warning >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  "$LOADGEN" wait-port "127.0.0.1:$REDIS_PORT" --timeout 10
  REDIS_URL_ALL="redis://127.0.0.1:$REDIS_PORT"
fi

# --- one run --------------------------------------------------------------------------------
MISSING=()
# start IMPL REDIS_URL LOG [RECOVERY]: starts one node on a free port; prints "PORT PID".
# RECOVERY=1 turns on the Node server's connection state recovery (tether has a namespace).
start() {
  local impl=$1 redis=$2 log=$3 recovery=${4:-0} port pid
  port=$("$LOADGEN" free-port)
  case "$impl" in
    tether) PORT=$port REDIS_URL=$redis "${SERVER_CPU[@]}" "$BIN_DIR/bench-server" >"$log" 2>&1 & pid=$! ;;
    socketioxide) PORT=$port REDIS_URL=$redis "${SERVER_CPU[@]}" "$BIN_DIR/bench-socketioxide" >"$log" 2>&1 & pid=$! ;;
    node) PORT=$port REDIS_URL=$redis RECOVERY=$recovery "${SERVER_CPU[@]}" node "$ROOT/bench/node/server.mjs" >"$log" 2>&1 & pid=$! ;;
  esac
  echo "$port $pid"
}

# run IMPL NODES [NAME [LOADGEN ARGS..]]: starts the nodes, runs the load generator (results in
# NAME.json, default IMPL-NODES), stops them. The extra arguments come last, so they win. With
# more than one node, BYSTANDERS (default 1) more nodes join the cluster and hold no socket.
run() {
  local impl=$1 nodes=$2 name=${3:-$1-$2} redis="" urls=() pids=() i port pid scenarios=all
  shift $(($# < 3 ? $# : 3))
  local args=("$@")
  if [ "$nodes" -gt 1 ]; then
    redis=$REDIS_URL_ALL
    scenarios=unicast,fanout,latency
  fi
  # The load generator adds up repeated `--scenarios`: one given here replaces the default.
  if [[ " ${args[*]} " == *" --scenarios "* ]]; then scenarios=""; fi
  if [ -n "$REDIS_PID" ]; then args=(--redis-pid "$REDIS_PID" "${args[@]}"); fi
  echo "== $name: $impl × $nodes node(s)   load: $(uptime | sed 's/.*load average: //')" >&2
  echo "$name: $(uptime)" >>"$OUT/uptime.txt"
  # With Redis, one more node joins the cluster and holds no socket: the work it does is work
  # for messages none of its sockets receive (`--bystander-pid`).
  local total=$nodes
  if [ "$nodes" -gt 1 ]; then total=$((nodes + ${BYSTANDERS:-1})); fi
  for i in $(seq "$total"); do
    read -r port pid < <(start "$impl" "$redis" "$OUT/$name-node$i.log")
    PIDS+=("$pid"); pids+=("$pid")
    if [ "$i" -le "$nodes" ]; then
      urls+=(--url "127.0.0.1:$port" --pid "$pid")
    else
      urls+=(--bystander-pid "$pid")
    fi
    if ! "$LOADGEN" wait-port "127.0.0.1:$port" --timeout 30; then
      echo "run.sh: $impl node $i did not start; see $OUT/$name-node$i.log" >&2
      stop "${pids[@]}"
      MISSING+=(--missing "$impl:$nodes=did not start")
      return 0
    fi
  done
  if ! timeout 900 "${LOADGEN_CPU[@]}" "$LOADGEN" run --impl "$impl" "${urls[@]}" --n "$N" \
      --duration "$DURATION" ${scenarios:+--scenarios "$scenarios"} "${SIZING[@]}" "${EXTRA[@]}" "${args[@]}" \
      --out "$OUT/$name.json" >/dev/null 2>"$OUT/$name.loadgen.log"; then
    echo "run.sh: the $name run failed; see $OUT/$name.loadgen.log" >&2
    tail -3 "$OUT/$name.loadgen.log" >&2 || true
    MISSING+=(--missing "$impl:$nodes=run failed")
  fi
  stop "${pids[@]}"
  if [ -n "$redis" ]; then flush_redis; fi
}

flush_redis() {
  if [ -n "$REDIS_PORT" ] && command -v redis-cli >/dev/null; then
    redis-cli -p "$REDIS_PORT" flushall >/dev/null 2>&1 || true
  fi
}

# --- the main suite -------------------------------------------------------------------------
main_suite() {
  local impls=(tether) impl results
  if [ "$TETHER_ONLY" = 0 ]; then
    impls+=(node)
    if [ -x "$BIN_DIR/bench-socketioxide" ]; then impls+=(socketioxide); fi
  fi
  for impl in "${impls[@]}"; do
    run "$impl" 1
  done
  for impl in "${impls[@]}"; do
    if [ -z "$REDIS_URL_ALL" ]; then
      MISSING+=(--missing "$impl:2=no redis-server")
    elif [ "$impl" = tether ] && [ "$NO_CLUSTER" = 1 ]; then
      MISSING+=(--missing "tether:2=cluster mode pending")
    else
      run "$impl" 2
    fi
  done
  # Scale-out: the same two nodes holding sockets, with two nodes holding none; the cluster's
  # CPU per delivery should not grow with nodes that hold no recipient.
  if [ "$SMOKE" = 0 ] && [ -n "$REDIS_URL_ALL" ]; then
    for impl in "${impls[@]}"; do
      if [ "$impl" = tether ] && [ "$NO_CLUSTER" = 1 ]; then continue; fi
      BYSTANDERS=2 run "$impl" 2 "$impl-4" --scenarios unicast,fanout
    done
  fi

  shopt -s nullglob
  results=("$OUT"/*-[124].json)
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
}

# --- the recovery suite ---------------------------------------------------------------------
# jitter TAG IMPL NODES LABEL MODE NS [RECOVERY]: starts the nodes, runs bench/node/jitter.mjs
# (results in jitter-TAG.json), stops them.
jitter() {
  local tag=$1 impl=$2 nodes=$3 label=$4 mode=$5 ns=$6 recovery=${7:-0} redis="" args=() pids=()
  local i port pid
  if [ "$nodes" -gt 1 ]; then redis=$REDIS_URL_ALL; fi
  if [ -n "$REDIS_PID" ]; then args+=(--redis-pid "$REDIS_PID"); fi
  echo "== jitter-$tag: $impl × $nodes node(s), recovery $label   load: $(uptime | sed 's/.*load average: //')" >&2
  echo "jitter-$tag: $(uptime)" >>"$OUT/uptime.txt"
  for i in $(seq "$nodes"); do
    read -r port pid < <(start "$impl" "$redis" "$OUT/jitter-$tag-node$i.log" "$recovery")
    PIDS+=("$pid"); pids+=("$pid")
    args+=(--url "http://127.0.0.1:$port" --pid "$pid")
    if ! "$LOADGEN" wait-port "127.0.0.1:$port" --timeout 30; then
      echo "run.sh: $impl node $i did not start; see $OUT/jitter-$tag-node$i.log" >&2
      stop "${pids[@]}"
      return 0
    fi
  done
  if ! timeout 600 "${LOADGEN_CPU[@]}" node "$ROOT/bench/node/jitter.mjs" --impl "$impl" \
      --label "$label" --mode "$mode" --ns "$ns" --users "$JITTER_USERS" \
      --duration "$JITTER_DURATION" "${args[@]}" --out "$OUT/jitter-$tag.json" \
      >/dev/null 2>"$OUT/jitter-$tag.log"; then
    echo "run.sh: jitter-$tag failed; see $OUT/jitter-$tag.log" >&2
    tail -3 "$OUT/jitter-$tag.log" >&2 || true
  fi
  stop "${pids[@]}"
  flush_redis
}

recovery_suite() {
  local nodes two=0 results r tag
  if [ "$SMOKE" = 0 ] && [ -n "$REDIS_URL_ALL" ] && [ "$NO_CLUSTER" = 0 ]; then two=1; fi
  for nodes in 1 2; do
    if [ "$nodes" = 2 ] && [ "$two" = 0 ]; then continue; fi
    for r in $(seq "$REPEAT"); do
      tag=""
      if [ "$REPEAT" -gt 1 ]; then tag=r$r; fi
      run tether "$nodes" "recovery-tether-$nodes-off$tag" --scenarios unicast,fanout \
        --tag "$tag"
      run tether "$nodes" "recovery-tether-$nodes-on$tag" --scenarios unicast,fanout \
        --tag "$tag" --ns /bench-recovery
    done
  done
  if [ "$JITTER" = 1 ]; then
    jitter 1 tether 1 "on" readme /bench-recovery
    if [ "$two" = 1 ]; then
      jitter 2 tether 2 "on, each reconnect to the other node" readme /bench-recovery
    fi
    jitter 3 tether 1 "off" none /bench
    if [ "$TETHER_ONLY" = 0 ]; then
      jitter 4 node 1 "off" none /bench
      jitter 5 node 1 "connectionStateRecovery" native /bench 1
    fi
  fi

  shopt -s nullglob
  results=("$OUT"/recovery-*.json "$OUT"/jitter-[0-9].json)
  if [ ${#results[@]} -eq 0 ]; then
    echo "run.sh: no recovery results" >&2
    exit 1
  fi
  {
    echo "## Recovery: on vs off, and under jitter — N=$N sockets, ${DURATION} s unicast and fan-out$([ "$JITTER" = 1 ] && echo "; jitter: $JITTER_USERS users × 10 events/s for $JITTER_DURATION s")$([ "$SMOKE" = 1 ] && echo ' (smoke)')"
    echo
    echo "Machine: $(nproc) cores; load before each run in $OUT/uptime.txt."
    echo
    "$LOADGEN" recovery-report "${results[@]}"
  } | tee "$OUT/recovery.md"
}

# --- the reconnect storm --------------------------------------------------------------------
# storm IMPL [recovery]: two nodes sharing Redis; STORM_N sockets on the first, which is killed
# (SIGKILL); every socket connects again to the second at once (results in storm-IMPL.json).
# With `recovery` (tether only), the same on /bench-recovery with the load generator's
# `--recovery`: the sockets recover what a feeder sent them meanwhile (storm-IMPL-recovery.json).
storm() {
  local impl=$1 name=storm-$1 args=() urls=() pids=() i port pid
  if [ "${2:-}" = recovery ]; then name=storm-$impl-recovery args=(--recovery); fi
  echo "== $name: $impl, $STORM_N sockets   load: $(uptime | sed 's/.*load average: //')" >&2
  echo "$name: $(uptime)" >>"$OUT/uptime.txt"
  for i in 1 2; do
    read -r port pid < <(start "$impl" "$REDIS_URL_ALL" "$OUT/$name-node$i.log")
    PIDS+=("$pid"); pids+=("$pid")
    urls+=(--url "127.0.0.1:$port" --pid "$pid")
    if ! "$LOADGEN" wait-port "127.0.0.1:$port" --timeout 30; then
      echo "run.sh: $impl node $i did not start; see $OUT/$name-node$i.log" >&2
      stop "${pids[@]}"
      return 0
    fi
  done
  if ! timeout 900 "${LOADGEN_CPU[@]}" "$LOADGEN" storm --impl "$impl" "${urls[@]}" "${EXTRA[@]}" \
      --n "$STORM_N" "${args[@]}" --out "$OUT/$name.json" >/dev/null 2>"$OUT/$name.log"; then
    echo "run.sh: $name failed; see $OUT/$name.log" >&2
    tail -3 "$OUT/$name.log" >&2 || true
  fi
  stop "${pids[@]}"
  flush_redis
}

storm_suite() {
  local impls=(tether) impl results
  if [ -z "$REDIS_URL_ALL" ]; then
    echo "run.sh: the storm needs redis-server" >&2
    exit 1
  fi
  if [ "$TETHER_ONLY" = 0 ]; then
    impls+=(node)
    if [ -x "$BIN_DIR/bench-socketioxide" ]; then impls+=(socketioxide); fi
  fi
  for impl in "${impls[@]}"; do storm "$impl"; done
  # Recovery across nodes is tether's alone: the baselines have no recovery storm.
  if [ "$RECOVERY" = 1 ]; then storm tether recovery; fi
  shopt -s nullglob
  results=("$OUT"/storm-*.json)
  if [ ${#results[@]} -eq 0 ]; then
    echo "run.sh: no storm results" >&2
    exit 1
  fi
  {
    echo "## Reconnect storm: $STORM_N sockets, their node killed, all reconnecting to the other at once"
    if [ "$RECOVERY" = 1 ]; then
      echo
      echo "With recovery on (tether, \`/bench-recovery\`): a feeder on the survivor sends the storm's users events from 1 s before the kill to 1 s after the storm; every socket reconnects with \`auth.recover\`."
    fi
    echo
    echo "Machine: $(nproc) cores; load before each run in $OUT/uptime.txt."
    echo
    "$LOADGEN" storm-report "${results[@]}"
  } | tee "$OUT/storm.md"
}

if [ "$STORM" = 1 ]; then
  storm_suite
  echo "results: $OUT" >&2
  exit 0
fi
if [ "$RECOVERY" = 0 ]; then main_suite; fi
if [ "$RECOVERY" = 1 ] || [ "$SMOKE" = 1 ]; then
  echo
  recovery_suite
fi
echo "results: $OUT" >&2
