#!/usr/bin/env bash
# SIPp-driven load harness: the highest call rate with zero failed calls for
#   direct    SIPp uac -> SIPp uas                       (the load generator's ceiling)
#   kamailio  SIPp uac -> Kamailio (tm + rr) -> SIPp uas (the peer to match)
#   switch    SIPp uac (trunk) -> switchyard -> SIPp uas (the agent's phone)
# in one run, then registrations/s with MD5 digest (switch vs Kamailio's registrar)
# and the switch's signalling memory per active call. Prints tables with ratios.
#
# Usage: benches/load/run.sh                 # ~15 min
#        QUICK=1 benches/load/run.sh         # smoke run, < 2 min
# Knobs (env): SECS (30) RATES ("1000 2000 3000 4000 5000 6000") CALL_MS (0)
#   REG_SECS (10) REG_RATES ("3000 6000 9000 12000 15000") AGENTS (10000)
#   MEM_CALLS (5000) MEM_RATE (500) MEM_HOLD_MS (20000) KAM_CHILDREN (4)
#   SETTLE_MAX_S (45: wait for the switch's transactions to expire between rates; QUICK 0)
#   SWITCH_LOG (RUST_LOG for the switch, default "warn") SETUPS ("direct kamailio switch"; empty: none, e.g. for REG alone)
#   SKIP_BUILD=1 (use the release binary as built) SWITCH_BIN=/path (run that build instead) PEERS (default <checkout>/../shared/peers)
#   SIP_WORKERS=N (the switch's SIP shard threads; default one per core)
#   MEM=0 (skip the memory run) REG=0 (skip the registration search)
#   KEEP_WORK=1 (keep the work dir's binary copy and call-record store; by default they go at the end)
# The "overload" setup (after "switch" in SETUPS, or with OVERLOAD_BASE=calls/s) drives the
# switch at OVERLOAD_FACTOR (2) x its highest zero-failure rate for OVERLOAD_SECS (30) with
# uac-overload.xml (503 is a refusal, not a failure), then idles OVERLOAD_IDLE_S (60):
# goodput, failed admitted calls, 503s, RSS before / at peak / after.
# Loopback only; every process started is recorded by PID and killed by PID on
# exit (../shared/peers/lib.sh). Loops are bounded by the rate lists and timeouts.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel) || { echo "not in a git checkout" >&2; exit 1; }
# The peers' harness sits beside the checkout; PEERS= points elsewhere (a worktree).
PEERS=$(cd "${PEERS:-$REPO/../shared/peers}" 2>/dev/null && pwd) || {
  echo "${PEERS:-$REPO/../shared/peers} is absent: the harness reuses its lib.sh and Kamailio config" >&2
  exit 1
}

if [ "${QUICK:-0}" = 1 ]; then
  SECS=${SECS:-5}; RATES=${RATES:-"500 1000"}
  REG_SECS=${REG_SECS:-5}; REG_RATES=${REG_RATES:-"1000 2000"}
  AGENTS=${AGENTS:-2000}; MEM_CALLS=${MEM_CALLS:-1000}; MEM_HOLD_MS=${MEM_HOLD_MS:-8000}
  SETTLE_MAX_S=${SETTLE_MAX_S:-0}
fi
SETTLE_MAX_S=${SETTLE_MAX_S:-45}
SECS=${SECS:-30}; RATES=${RATES:-"1000 2000 3000 4000 5000 6000"}; CALL_MS=${CALL_MS:-0}
REG_SECS=${REG_SECS:-10}; REG_RATES=${REG_RATES:-"3000 6000 9000 12000 15000"}
AGENTS=${AGENTS:-10000}
MEM_CALLS=${MEM_CALLS:-5000}; MEM_RATE=${MEM_RATE:-500}; MEM_HOLD_MS=${MEM_HOLD_MS:-20000}
KAM_CHILDREN=${KAM_CHILDREN:-4}
SETUPS=${SETUPS-"direct kamailio switch"}
MEM=${MEM:-1}; REG=${REG:-1}
OVERLOAD_FACTOR=${OVERLOAD_FACTOR:-2}; OVERLOAD_SECS=${OVERLOAD_SECS:-30}; OVERLOAD_IDLE_S=${OVERLOAD_IDLE_S:-60}
SIPP_OPTS=${SIPP_OPTS:-"-buff_size 4194304"}
# The config refuses more agents than src/config AGENTS_MAX (20 000).
AGENTS_MAX=20000
[ "$AGENTS" -ge 1 ] && [ "$AGENTS" -le "$AGENTS_MAX" ] || { echo "AGENTS must be 1..$AGENTS_MAX" >&2; exit 1; }
[ "$MEM_CALLS" -le "$AGENTS" ] || { echo "MEM_CALLS must be <= AGENTS (one call per agent)" >&2; exit 1; }

source "$PEERS/lib.sh"   # WORK, PIDS, track, cleanup trap, run_uac, start_sipp_uas, start_kamailio

# A target directory shared by several checkouts may get another branch's binary
# at any time: build, then run a copy taken at once.
# SWITCH_BIN=/path runs that build instead (an older commit's, for a before/after).
TARGET_BIN=${SWITCH_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/switchyard}
if [ "${SKIP_BUILD:-0}" != 1 ] && [ -z "${SWITCH_BIN:-}" ]; then
  log "building the release binary (cargo build --release)"
  (cd "$REPO" && cargo build --release --quiet) || { log "release build failed"; exit 1; }
fi
BIN=$WORK/switchyard
cp "$TARGET_BIN" "$BIN" || { log "no switch binary at $TARGET_BIN"; exit 1; }
need_pkgs sip-tester kamailio
T_START=$(date +%s)
RESULTS="$WORK/results.txt"

field() { # field KEY "line" -> value of KEY=value
  grep -o "\b$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2; }

sustained() { # sustained "run_uac line": failed=0, every call ok, rate within 5%
  local l=$1 ok fl ach tgt n
  ok=$(field ok "$l"); fl=$(field failed "$l"); ach=$(field achieved_cps "$l")
  tgt=$(field target_cps "$l"); n=$(field calls "$l")
  [ -n "$ok" ] && [ -n "$fl" ] && [ -n "$ach" ] || return 1
  [ "$fl" = 0 ] && [ "$ok" = "$n" ] && [ $((ach * 100)) -ge $((tgt * 95)) ]
}

# search NAME TARGET SECS "RATES" [sipp args...]: steps up through RATES, stops at the
# first rate not sustained. Sets BEST (rate) and BEST_CPU (server CPU% at it).
search() {
  local name=$1 target=$2 secs=$3 rates=$4; shift 4
  local r line
  BEST=0; BEST_CPU=-
  for r in $rates; do
    line=$(run_uac "$target" "$r" "$secs" "$CALL_MS" "$@")
    echo "$name $line" | tee -a "$RESULTS"
    if sustained "$line"; then BEST=$r; BEST_CPU=$(field 'srv_cpu%' "$line"); else break; fi
    sleep 2; ${SETTLE:-:}
  done
  log "$name: max sustained $BEST/s (server CPU ${BEST_CPU}%)"
}

# --- Fixtures: config, injection files ------------------------------------------
UAS_PORT=$(pick_port 25060)
# All three setups answer with the peers' uas-no180.xml (a multi-process proxy may
# reorder 180 and 200), so every setup carries the same messages.
UAS_SCEN=$PEERS/uas-no180.xml start_sipp_uas "$UAS_PORT" $SIPP_OPTS || exit 1
log "sipp UAS pid $UAS_PID on $LOOP:$UAS_PORT; work dir $WORK"

cp "$HERE/switch.toml" "$WORK/switch.toml"
# SIP_WORKERS=N: that many SIP shard threads (default: one per core).
[ -n "${SIP_WORKERS:-}" ] && sed -i "s/^\[switch\]$/[switch]\nsip_workers = $SIP_WORKERS/" "$WORK/switch.toml"
{
  echo "SEQUENTIAL" >"$WORK/agents.csv"
  echo "SEQUENTIAL" >"$WORK/dids.csv"
  echo
  for i in $(seq 1 "$AGENTS"); do
    printf '[[agents]]\nid = "u%d"\npassword = "pw-u%d"\n' "$i" "$i"
    printf 'u%d;[authentication username=u%d password=pw-u%d];%s:%d\n' "$i" "$i" "$i" "$LOOP" "$UAS_PORT" >>"$WORK/agents.csv"
    echo $((9000000 + i)) >>"$WORK/dids.csv"
  done
  echo
  echo "[dids]"
  for i in $(seq 1 "$AGENTS"); do printf '"%d" = { agent = "u%d" }\n' $((9000000 + i)) "$i"; done
} >>"$WORK/switch.toml"
"$BIN" check "$WORK/switch.toml" 2>&1 | grep -q ': ok$' || { log "the switch refused the config: $BIN check $WORK/switch.toml"; exit 1; }

# --- The switch: start, register the agents, idle RSS ---------------------------
RUST_LOG=${SWITCH_LOG:-warn} "$BIN" run --config "$WORK/switch.toml" >"$WORK/switch.out" 2>"$WORK/switch.err" &
SW_PID=$!; track "$SW_PID"
for _ in $(seq 1 300); do grep -q '^switchyard listening' "$WORK/switch.out" && break; sleep 0.1; done
SW_LINE=$(grep '^switchyard listening' "$WORK/switch.out") || { log "switch did not start"; tail "$WORK/switch.err" >&2; exit 1; }
SW_SIP=$(field sip "$SW_LINE"); SW_HTTP=$(field http "$SW_LINE")
log "switch pid $SW_PID sip=$SW_SIP http=$SW_HTTP, $AGENTS agents, log=${SWITCH_LOG:-warn}"
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
metric() { curl -s --max-time 1 "http://$SW_HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Finished calls leave their transactions for 64*T1 = 32 s (Timers J, L, M), in a table
# bounded by TRANSACTIONS_MAX (200 000): wait for them to expire (at most SETTLE_MAX_S), so
# each rate starts from the same state rather than from the previous rate's leftovers.
switch_settle() {
  local t=0 n=?
  for t in $(seq 1 "$SETTLE_MAX_S"); do
    n=$(metric switchyard_sip_transactions_active)
    [ "${n:-0}" -lt 1000 ] 2>/dev/null && break
    sleep 1
  done
  log "switch settled ${t}s: transactions_active=$n calls_active=$(metric switchyard_calls_active)"
}
calls_active() { curl -s --max-time 1 "http://$SW_HTTP/healthz" | grep -o '"calls_active":[0-9]*' | cut -d: -f2; }

SERVER_PIDS=("$SW_PID")
reg_secs=$(( (AGENTS + 1999) / 2000 ))
line=$(run_uac "$SW_SIP" 2000 "$reg_secs" 0 -sf "$HERE/reg-agent.xml" -inf "$WORK/agents.csv" $SIPP_OPTS)
echo "switch-register-agents $line" | tee -a "$RESULTS"
[ "$(field failed "$line")" = 0 ] || { log "agents did not all register: see $WORK/uac.last.out"; exit 1; }
sleep 2
RSS_IDLE=$(rss_kib "$SW_PID")

# --- Memory per active call: MEM_CALLS calls held MEM_HOLD_MS ------------------------
if [ "$MEM" = 1 ]; then
[ "$MEM_RATE" -le "$MEM_CALLS" ] || MEM_RATE=$MEM_CALLS
mem_secs=$(( (MEM_CALLS + MEM_RATE - 1) / MEM_RATE ))
(
  for _ in $(seq 1 $(( (mem_secs + MEM_HOLD_MS / 1000 + 10) * 2 ))); do
    echo "$(calls_active) $(rss_kib "$SW_PID")"; sleep 0.5
  done
) >"$WORK/mem.samples" &
track $!
SAMPLER=$!
line=$(run_uac "$SW_SIP" "$MEM_RATE" "$mem_secs" "$MEM_HOLD_MS" -sf "$HERE/uac-did.xml" -inf "$WORK/dids.csv" $SIPP_OPTS)
kill "$SAMPLER" 2>/dev/null
echo "switch-hold-calls $line" | tee -a "$RESULTS"
# The sample with the most calls up; ties: the later one (RSS settled).
read -r MEM_N MEM_RSS < <(awk '$1 ~ /^[0-9]+$/ && $1 >= n {n=$1; r=$2} END {print n+0, r+0}' "$WORK/mem.samples")
switch_settle
fi

# --- Overload: OVERLOAD_FACTOR x the zero-failure rate, then idle ----------------------
metric_sum() { curl -s --max-time 1 "http://$SW_HTTP/metrics" | awk -v m="$1" 'index($1, m) == 1 {s += $2} END {print s+0}'; }
overload_run() {
  local base=${OVERLOAD_BASE:-${CPS[switch]:-0}} line
  [ "${base:-0}" -gt 0 ] 2>/dev/null || { log "overload: no zero-failure rate to start from (SETUPS=\"switch overload\" or OVERLOAD_BASE)"; return 1; }
  OV_BASE=$base; OV_RATE=$((base * OVERLOAD_FACTOR))
  switch_settle
  OV_RSS_BEFORE=$(rss_kib "$SW_PID")
  local r0 c0 s0 r1 c1 s1
  r0=$(metric_sum switchyard_calls_refused_overload_total); s0=$(metric_sum switchyard_calls_started_total)
  c0=$(metric_sum 'switchyard_calls_total{outcome="completed"}')
  (
    for _ in $(seq 1 $(( (OVERLOAD_SECS * 3 + 40) * 2 ))); do
      echo "$(rss_kib "$SW_PID") $(metric switchyard_overload_shedding)"; sleep 0.5
    done
  ) >"$WORK/overload.samples" &
  track $!
  local sampler=$!
  line=$(run_uac "$SW_SIP" "$OV_RATE" "$OVERLOAD_SECS" "$CALL_MS" -sf "$HERE/uac-overload.xml" -inf "$WORK/dids.csv" $SIPP_OPTS)
  kill "$sampler" 2>/dev/null
  echo "switch-overload $line" | tee -a "$RESULTS"
  r1=$(metric_sum switchyard_calls_refused_overload_total); s1=$(metric_sum switchyard_calls_started_total)
  c1=$(metric_sum 'switchyard_calls_total{outcome="completed"}')
  OV_503=$((r1 - r0)); OV_STARTED=$((s1 - s0)); OV_COMPLETED=$((c1 - c0))
  OV_OK=$(field ok "$line"); OV_FAILED=$(field failed "$line"); OV_WALL=$(field wall_s "$line")
  OV_PEAK=$(awk '$1 > p {p = $1} END {print p+0}' "$WORK/overload.samples")
  OV_SHED=$(awk '$2 == 1 {n++} END {printf "%.1f", n / 2}' "$WORK/overload.samples")
  curl -s --max-time 2 "http://$SW_HTTP/metrics" >"$WORK/metrics.after-overload.txt"
  log "overload: idling ${OVERLOAD_IDLE_S}s before reading RSS again"
  sleep "$OVERLOAD_IDLE_S"
  OV_RSS_AFTER=$(rss_kib "$SW_PID")
  OV_ACTIVE=$(calls_active)
  echo "switch-overload-after idle_s=$OVERLOAD_IDLE_S rss_kib=$OV_RSS_AFTER calls_active=$OV_ACTIVE transactions_active=$(metric switchyard_sip_transactions_active)" | tee -a "$RESULTS"
}

# --- Call rate search, the three setups -----------------------------------------
declare -A CPS CPU
for s in $SETUPS; do
  case $s in
    direct)
      SERVER_PIDS=("$UAS_PID")
      search direct "$LOOP:$UAS_PORT" "$SECS" "$RATES" -sf "$HERE/uac-did.xml" -inf "$WORK/dids.csv" $SIPP_OPTS ;;
    kamailio)
      KAM_PORT=$(pick_port 25070)
      start_kamailio "$KAM_PORT" "$KAM_CHILDREN" -A "UAS=\"sip:$LOOP:$UAS_PORT\"" || exit 1
      SERVER_PIDS=("${KAM_PIDS[@]}")
      log "$(kamailio -v | head -1 | cut -d' ' -f1-3) proxy, ${#KAM_PIDS[@]} procs on $LOOP:$KAM_PORT"
      search kamailio "$LOOP:$KAM_PORT" "$SECS" "$RATES" -sf "$HERE/uac-did.xml" -inf "$WORK/dids.csv" $SIPP_OPTS
      kill "${KAM_PIDS[@]}" 2>/dev/null; sleep 1 ;;
    switch)
      SERVER_PIDS=("$SW_PID")
      SETTLE=switch_settle search switch "$SW_SIP" "$SECS" "$RATES" -sf "$HERE/uac-did.xml" -inf "$WORK/dids.csv" $SIPP_OPTS
      curl -s --max-time 2 "http://$SW_HTTP/metrics" >"$WORK/metrics.after-calls.txt" ;;
    overload)
      SERVER_PIDS=("$SW_PID")
      overload_run || true
      continue ;;
    *)
      echo "unknown setup \"$s\" in SETUPS (direct kamailio switch overload)" >&2
      exit 2 ;;
  esac
  CPS[$s]=$BEST; CPU[$s]=$BEST_CPU
done

# --- Registrations/s with digest auth: switch, then Kamailio's registrar --------------
REG_SW=-; REG_SW_CPU=-; REG_KAM=-; REG_KAM_CPU=-
if [ "$REG" = 1 ]; then
SERVER_PIDS=("$SW_PID")
switch_settle
SETTLE=switch_settle search switch-register "$SW_SIP" "$REG_SECS" "$REG_RATES" -sf "$HERE/reg-agent.xml" -inf "$WORK/agents.csv" $SIPP_OPTS
REG_SW=$BEST; REG_SW_CPU=$BEST_CPU
curl -s --max-time 2 "http://$SW_HTTP/metrics" >"$WORK/metrics.after-register.txt"
KAM_PORT=$(pick_port 25090)
start_kamailio "$KAM_PORT" "$KAM_CHILDREN" -A WITH_REGISTRAR -A WITH_AUTH || exit 1
SERVER_PIDS=("${KAM_PIDS[@]}")
search kamailio-register "$LOOP:$KAM_PORT" "$REG_SECS" "$REG_RATES" -sf "$PEERS/reg-auth.xml" -au bench -ap secret $SIPP_OPTS
REG_KAM=$BEST; REG_KAM_CPU=$BEST_CPU
fi

# --- Tables ------------------------------------------------------------------------
ratio() { [ "${2:-0}" -gt 0 ] 2>/dev/null && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}' || echo "-"; }
{
  echo
  echo "load1 at end: $(cut -d' ' -f1-3 /proc/loadavg)   SECS=$SECS RATES=\"$RATES\" CALL_MS=$CALL_MS wall=$(( $(date +%s) - T_START ))s"
  echo
  echo "| setup | max sustained calls/s | server CPU% | vs Kamailio | vs direct |"
  echo "|---|---|---|---|---|"
  for s in $SETUPS; do
    [ "$s" = overload ] && continue
    echo "| $s | ${CPS[$s]} | ${CPU[$s]} | $(ratio "${CPS[$s]}" "${CPS[kamailio]:-0}") | $(ratio "${CPS[$s]}" "${CPS[direct]:-0}") |"
  done
  echo
  echo "| registrar (MD5 digest, 401 then 200) | max sustained registrations/s | server CPU% | vs Kamailio |"
  echo "|---|---|---|---|"
  echo "| switch ($AGENTS agents, refreshes) | $REG_SW | $REG_SW_CPU | $(ratio "$REG_SW" "$REG_KAM") |"
  echo "| kamailio (new AORs u1..) | $REG_KAM | $REG_KAM_CPU | 1.00 |"
  echo
  if [ -n "${OV_RATE:-}" ]; then
    good=$(awk -v ok="${OV_OK:-0}" -v r="$OV_503" -v w="${OV_WALL:-1}" 'BEGIN {printf "%.0f", (ok - r) / w}')
    echo "| overload: ${OVERLOAD_FACTOR}x ${OV_BASE}/s = ${OV_RATE}/s for ${OVERLOAD_SECS}s | value | target |"
    echo "|---|---|---|"
    echo "| goodput (completed calls/s) | $good ($(awk -v g="$good" -v b="$OV_BASE" 'BEGIN {printf "%.0f", 100 * g / b}')% of $OV_BASE) | >= 90% |"
    echo "| failed admitted calls (SIPp failed) | ${OV_FAILED:-?} (switch: $((OV_STARTED - OV_COMPLETED)) started, not completed) | 0 |"
    echo "| refused 503 | $OV_503 (shedding ${OV_SHED}s) | - |"
    echo "| RSS before / peak / ${OVERLOAD_IDLE_S}s after | ${OV_RSS_BEFORE} / ${OV_PEAK} / ${OV_RSS_AFTER} KiB ($(awk -v a="$OV_RSS_AFTER" -v b="$OV_RSS_BEFORE" 'BEGIN {printf "%+.0f", 100 * (a - b) / b}')%) | within 20% |"
    echo
  fi
  if [ "${MEM_N:-0}" -gt 0 ]; then
    per=$(( (MEM_RSS - RSS_IDLE) * 1024 / MEM_N ))
    echo "switch memory: idle RSS ${RSS_IDLE} KiB (agents registered), ${MEM_RSS} KiB with ${MEM_N} calls up"
    echo "  -> $per bytes per active call ($(awk -v b="$per" 'BEGIN {printf "%.1f", b/1024}') KiB; goal < 16 KiB)"
  else
    echo "switch memory: no sample with calls up (see $WORK/mem.samples)"
  fi
} | tee -a "$RESULTS"
log "raw lines and samples in $WORK"
# The binary's copy and the record store are most of the work dir (over
# 1 GB after an overload run; a day of runs filled this box's disk).
if [ "${KEEP_WORK:-0}" != 1 ]; then
  rm -f "$BIN" "$WORK"/load-cdr.sqlite*
fi
