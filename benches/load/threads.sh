#!/usr/bin/env bash
# Per-thread CPU and context switches of the switch under SIPp load: runs
# run.sh's "switch" setup at one call rate and, once the calls have run for
# WARM_S seconds, reads /proc/<pid>/task/*/{stat,status} twice, SAMPLE_S apart.
# It prints one line per thread: its share of a core, and how often it slept
# (voluntary switches) or was preempted (involuntary) per second.
#
# Usage: benches/load/threads.sh [RATE]          # default 5000 calls/s
#        SWITCH_BIN=/path benches/load/threads.sh 5000   # another build
# Knobs (env): SECS (25: the call step's length) WARM_S (8) SAMPLE_S (5),
#   and run.sh's own (SWITCH_BIN, SIP_WORKERS, PEERS, ...).
# Loopback only: run.sh starts its processes and ends them by PID. Bounded:
# at most 300 s waiting for the call step, then the harness's own bounds.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
RATE=${1:-5000}
SECS=${SECS:-25}; WARM_S=${WARM_S:-8}; SAMPLE_S=${SAMPLE_S:-5}
if [ $((WARM_S + SAMPLE_S + 5)) -gt "$SECS" ]; then
  echo "SECS ($SECS) must be at least WARM_S + SAMPLE_S + 5" >&2
  exit 2
fi
TICKS=$(getconf CLK_TCK)
LOG=$(mktemp)

SETUPS=switch RATES="$RATE" SECS="$SECS" MEM=0 REG=0 "$HERE/run.sh" > "$LOG" 2>&1 &
harness=$!

# The call step starts right after the agents have registered.
for _ in $(seq 1 600); do
  grep -q '^switch-register-agents' "$LOG" && break
  kill -0 "$harness" 2>/dev/null || break
  sleep 0.5
done
pid=$(grep -o 'switch pid [0-9]*' "$LOG" | head -n 1 | awk '{print $3}')
if [ -z "$pid" ] || ! grep -q '^switch-register-agents' "$LOG"; then
  echo "the harness did not reach the call step; its output:" >&2
  cat "$LOG" >&2
  wait "$harness"
  exit 1
fi
sleep "$WARM_S"

# tid comm voluntary involuntary cpu-ticks, one line per thread.
snap() {
  for t in /proc/"$pid"/task/*; do
    [ -r "$t/status" ] || continue
    printf '%s %s %s %s\n' "$(basename "$t")" "$(cat "$t/comm")" \
      "$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' "$t/status")" \
      "$(awk '{print $14 + $15}' "$t/stat")"
  done 2>/dev/null | sort
}
before=$(snap)
sleep "$SAMPLE_S"
after=$(snap)

printf '%-18s %6s %10s %10s\n' thread 'cpu%' 'sleeps/s' 'preempt/s'
join <(echo "$before") <(echo "$after") | awk -v s="$SAMPLE_S" -v hz="$TICKS" '{
    # join gives: tid, then comm v n ticks before, then comm v n ticks after.
    cpu = ($9 - $5) / hz / s * 100; v = ($7 - $3) / s; n = ($8 - $4) / s
    total += cpu
    if (cpu >= 0.5 || v + n >= 10) printf "%-18s %6.0f %10.0f %10.0f\n", $2, cpu, v, n
  } END { printf "%-18s %6.0f\n", "all threads", total }'

wait "$harness"
grep '^switch target_cps' "$LOG" | tail -n 1
rm -f "$LOG"
