# Shared by demos/echo/run_demo.sh and bench/echo: start an echo server, drive it with
# bench/loadgen, and measure what the report shows. Source it; it defines functions only.
# Every server started here is killed by stop_server (and by the caller's EXIT trap).

BUILD=${BUILD:-build}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
SERVER_PID=
SERVER_PORT=

# start_server NAME CMD...: starts CMD pinned on SERVER_CPU; waits for "listening on PORT".
start_server() {
  local name=$1; shift
  local out; out=$(mktemp)
  taskset -c "$SERVER_CPU" "$@" >"$out" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    SERVER_PORT=$(sed -n 's/^listening on //p' "$out")
    [ -n "$SERVER_PORT" ] && break
    sleep 0.05
  done
  rm -f "$out"
  if [ -z "$SERVER_PORT" ]; then echo "$name: server did not start" >&2; stop_server; return 1; fi
  # greenrun execs the server: the pid is the server's own.
  return 0
}

stop_server() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}

used_kib() { awk '/^MemTotal:/{t=$2} /^MemAvailable:/{a=$2} END{print t-a}' /proc/meminfo; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tasks_of() { ls "/proc/$1/task" | wc -l; }

# measure CONNS DURATION [BURST]: drives the running server; sets RESULT_* variables.
measure() {
  local conns=$1 duration=$2 burst=${3:-0}
  local before_mem; before_mem=$(used_kib)
  local out; out=$(mktemp)
  local t0; t0=$(cpu_ticks "$SERVER_PID")
  taskset -c "$LOAD_CPU" "$BUILD/bench/loadgen" --port="$SERVER_PORT" --conns="$conns" \
    --size=64 --warmup=1 --duration="$duration" --burst="$burst" >"$out" 2>&1 &
  local lg=$!
  # Sample memory and threads once every connection is up and echoing.
  sleep 0.8
  local peak_mem=0 peak_tasks=0
  while kill -0 "$lg" 2>/dev/null; do
    local m; m=$(used_kib); [ "$m" -gt "$peak_mem" ] && peak_mem=$m
    local k; k=$(tasks_of "$SERVER_PID" 2>/dev/null || echo 0); [ "$k" -gt "$peak_tasks" ] && peak_tasks=$k
    sleep 0.25
  done
  wait "$lg"; RESULT_RC=$?
  local t1; t1=$(cpu_ticks "$SERVER_PID")
  RESULT_LINE=$(grep '^conns=' "$out")
  RESULT_BURST=$(sed -n 's/.*burst_seconds=\([0-9.]*\).*/\1/p' "$out")
  [ "$RESULT_RC" -ne 0 ] && cat "$out" >&2
  rm -f "$out"
  RESULT_RT=$(sed -n 's/.*rt_per_s=\([0-9]*\).*/\1/p' <<<"$RESULT_LINE")
  RESULT_P99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$RESULT_LINE")
  RESULT_ERR=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$RESULT_LINE")
  RESULT_TASKS=$peak_tasks
  local hz; hz=$(getconf CLK_TCK)
  RESULT_CPU=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')
  RESULT_MEM_PER_CONN=$(awk -v a="$before_mem" -v b="$peak_mem" -v c="$conns" 'BEGIN{v=(b-a)/c; if (v<0) v=0; printf "%.1f", v}')
}
