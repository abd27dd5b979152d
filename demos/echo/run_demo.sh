#!/usr/bin/env bash
# make demo: the plain pthreads echo server (demos/echo/threaded_echo.c) at 2 000
# concurrent connections, converted by greenshim and then with real threads, side by side.
set -u
cd "$(dirname "$0")/../.."
. bench/echo_lib.sh
CONNS=${CONNS:-2000}
DURATION=${DURATION:-3}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
trap stop_server EXIT
status=0
declare -A R
for mode in greenshim threads; do
  if [ "$mode" = greenshim ]; then
    start_server "$mode" "$BUILD/bin/greenrun" "$BUILD/demos/echo/threaded_echo" 0 || exit 1
  else
    start_server "$mode" "$BUILD/demos/echo/threaded_echo" 0 || exit 1
  fi
  echo "== $mode: threaded_echo (pid $SERVER_PID, port $SERVER_PORT), $CONNS connections, ${DURATION}s"
  measure "$CONNS" "$DURATION"
  echo "   $RESULT_LINE"
  stop_server
  if [ "$RESULT_RC" -ne 0 ] || [ "${RESULT_ERR:-1}" != 0 ]; then
    echo "   FAILED: load generator reported errors (exit $RESULT_RC)"; status=1
  fi
  R[$mode,rt]=$RESULT_RT; R[$mode,p99]=$RESULT_P99; R[$mode,tasks]=$RESULT_TASKS
  R[$mode,mem]=$RESULT_MEM_PER_CONN; R[$mode,cpu]=$RESULT_CPU; R[$mode,err]=$RESULT_ERR
done
if [ "${R[greenshim,tasks]}" != 1 ]; then
  echo "FAILED: under greenshim the server ran ${R[greenshim,tasks]} OS threads, expected 1"; status=1
fi
echo
echo "threaded_echo.c, unmodified, at $CONNS concurrent connections (64-byte echoes, every byte verified)"
printf "%-34s %14s %14s\n" "" "greenshim" "real threads"
printf "%-34s %14s %14s\n" "round trips/s" "${R[greenshim,rt]}" "${R[threads,rt]}"
printf "%-34s %14s %14s\n" "p99 latency (µs)" "${R[greenshim,p99]}" "${R[threads,p99]}"
printf "%-34s %14s %14s\n" "server OS threads" "${R[greenshim,tasks]}" "${R[threads,tasks]}"
printf "%-34s %14s %14s\n" "server CPU seconds" "${R[greenshim,cpu]}" "${R[threads,cpu]}"
printf "%-34s %14s %14s\n" "machine memory per connection (KiB)" "${R[greenshim,mem]}" "${R[threads,mem]}"
printf "%-34s %14s %14s\n" "errors" "${R[greenshim,err]}" "${R[threads,err]}"
echo "(memory: the machine's used memory while connected minus before, per connection;"
echo " it includes the load generator's share, the same in both columns)"
exit $status
