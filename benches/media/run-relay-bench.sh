#!/usr/bin/env bash
# Relay benchmark on loopback: switchyard's relay (benches/relay.rs) beside
# rtpengine (userspace, --table=-1) in the same run, driven by the shared
# udpbench load generator: N G.711 calls, 50 packets/s each way, 172-byte RTP.
#
# Usage (from the repo root):
#   CALLS_LIST="100 500 1000" SECS=20 REPS=1 TARGETS="direct switchyard rtpengine" benches/media/run-relay-bench.sh
# Targets udpbench-mmsg and udpbench-tokio are bare relay loops (the floor of syscall cost).
# Target `direct` runs the same load with no relay (each call's endpoints send to each
# other): the generator's own latency on this box, the baseline that "added" latency
# (relay p99 minus direct p99, medians) is measured against.
# Target `switchyard-base` runs another build of the relay bench, SY_BASE=/path/to/relay-bench
# (an older commit's `cargo bench --bench relay --no-run`), for a before/after in one run.
# Knobs: WORKERS (the bench's control runtime threads), THREADS (relay threads, 0 = 1;
#        a build from before the epoll threads took 0 as "on that runtime"), PPS, RTPE_THREADS,
#        RELAY_CPU / LOAD_CPU (taskset pinning), PEERS_DIR (default /work/shared/peers).
# Per line: loss, one-way latency p50/p99 through the relay (µs), the relay's CPU%
# over the load window, CPU µs per relayed packet and CPU% per 1000 calls. After each
# N, the ratio switchyard/rtpengine of CPU per packet (target <= 0.6).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PEERS_DIR=${PEERS_DIR:-/work/shared/peers}
source "$PEERS_DIR/lib.sh"
TARGETS=${TARGETS:-"direct switchyard rtpengine"}; CALLS_LIST=${CALLS_LIST:-"100 500 1000"}
SECS=${SECS:-20}; REPS=${REPS:-1}; PPS=${PPS:-50}; RTPE_THREADS=${RTPE_THREADS:-2}; WORKERS=${WORKERS:-1}; THREADS=${THREADS:-1}
EP_BASE=${EP_BASE:-10000} # 4 per call, below rtpengine's ng port and the ephemeral range (32768+) other tests bind
PIN_RELAY=(); PIN_LOAD=()
[ -n "${RELAY_CPU:-}" ] && PIN_RELAY=(taskset -c "$RELAY_CPU")
[ -n "${LOAD_CPU:-}" ] && PIN_LOAD=(taskset -c "$LOAD_CPU")
case " $TARGETS " in *" rtpengine "*) need_pkgs rtpengine-daemon python3 ;; esac

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
( cd "$PEERS_DIR/udpbench" && cargo build --release -q ) || { log "udpbench build failed"; exit 1; }
UB="$CARGO_TARGET_DIR/release/udpbench"
SY=$(cd "$REPO" && cargo bench --bench relay --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
# Cargo names the executable relative to the repo when the target dir is inside it.
case $SY in /*|"") ;; *) SY="$REPO/$SY" ;; esac
[ -x "$SY" ] || { log "switchyard relay bench build failed"; exit 1; }

sys_ticks() { awk '{print $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # kernel share of cpu_ticks
measure() { # measure LABEL N PID load-args... : run the load, report the relay's CPU over it
  local label=$1 n=$2 pid=$3; shift 3
  local c0 c1 t0 t1 out la s0 s1
  la=$(cut -d' ' -f1 /proc/loadavg)
  s0=$(sys_ticks "$pid"); c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  out=$(timeout $((SECS + 30)) "${PIN_LOAD[@]}" "$UB" load pps="$PPS" secs="$SECS" "$@")
  c1=$(cpu_ticks "$pid"); s1=$(sys_ticks "$pid"); t1=$(date +%s.%N)
  # Resident memory of the relay process with all calls up (per call: compare two builds).
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  python3 - "$label" "$n" "$out" "$((c1 - c0))" "$HZ" "$t0" "$t1" "$la" "$((s1 - s0))" "${rss:-0}" <<'PY'
import sys
label, n, out, ticks, hz, t0, t1, la, sys_ticks, rss = sys.argv[1:]
kv = dict(x.split("=", 1) for x in out.split()[1:])
cpu_s = int(ticks) / float(hz); el = float(t1) - float(t0)
recv = int(kv["recv"]); pct = 100 * cpu_s / el
print(f"relay={label} calls={n} loss_pct={kv['loss_pct']} lat_us_p50={kv['lat_us_p50']} p99={kv['p99']} "
      f"recv_pps={recv / el:.0f} relay_cpu%={pct:.1f} cpu_us_per_pkt={1e6 * cpu_s / max(recv, 1):.2f} "
      f"cpu%_per_1000_calls={1000 * pct / int(n):.1f} sys_us_per_pkt={1e6 * int(sys_ticks) / float(hz) / max(recv, 1):.2f} max_us={kv['max']} load1_before={la} rss_kb={rss}")
PY
}

RESULTS="$WORK/results.txt"; : >"$RESULTS"
for n in $CALLS_LIST; do
  for t in $TARGETS; do
    for i in $(seq 1 "$REPS"); do
      case $t in
        direct)
          # Endpoint A sends straight to endpoint B and back: no relay, no relay CPU.
          for c in $(seq 0 $((n - 1))); do
            echo "$((EP_BASE + 4 * c)) $((EP_BASE + 4 * c + 2)) $((EP_BASE + 4 * c + 2)) $((EP_BASE + 4 * c))"
          done >"$WORK/direct.map"
          echo "rep=$i $(measure direct "$n" $$ map="$WORK/direct.map")" | sed 's/rss_kb=[^ ]*/rss_kb=0/; s/relay_cpu%=[^ ]*/relay_cpu%=0/; s/cpu_us_per_pkt=[^ ]*/cpu_us_per_pkt=0/; s/cpu%_per_1000_calls=[^ ]*/cpu%_per_1000_calls=0/; s/sys_us_per_pkt=[^ ]*/sys_us_per_pkt=0/' | tee -a "$RESULTS" ;;
        udpbench-mmsg|udpbench-tokio)
          # Floors: a bare relay loop (epoll + recvmmsg + sendmmsg, or one tokio task per
          # socket) with no latching, rewriting or control plane, under the same load.
          "${PIN_RELAY[@]}" "$UB" relay mode="${t#udpbench-}" base=40000 calls="$n" endpoints=$EP_BASE \
            secs=$((SECS + 20)) >"$WORK/$t.$n.$i.log" 2>&1 &
          rp=$!; track "$rp"; sleep 1
          echo "rep=$i $(measure "$t" "$n" "$rp" calls="$n" relay=40000 endpoints=$EP_BASE)" | tee -a "$RESULTS"
          kill "$rp"; wait "$rp" 2>/dev/null ;;
        switchyard|switchyard-base)
          bin=$SY
          if [ "$t" = switchyard-base ]; then
            bin=${SY_BASE:?SY_BASE names the baseline relay bench binary}
          fi
          rm -f "$WORK/sy.map"
          "${PIN_RELAY[@]}" "$bin" calls="$n" endpoints=$EP_BASE port_min=30000 port_max=39999 \
            secs=$((SECS + 20)) workers="$WORKERS" threads="$THREADS" map="$WORK/sy.map" >"$WORK/sy.$n.$i.log" 2>&1 &
          rp=$!; track "$rp"
          for _ in $(seq 100); do grep -q ready "$WORK/sy.$n.$i.log" 2>/dev/null && break; sleep 0.1; done
          grep -q ready "$WORK/sy.$n.$i.log" || { log "switchyard relay did not start"; cat "$WORK/sy.$n.$i.log"; exit 1; }
          echo "rep=$i $(measure "$t" "$n" "$rp" map="$WORK/sy.map")" | tee -a "$RESULTS"
          kill "$rp"; wait "$rp" 2>/dev/null ;;
        rtpengine)
          ng=$(pick_port 22222)
          "${PIN_RELAY[@]}" rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 \
            --interface=$LOOP --listen-ng=$LOOP:$ng --port-min=30000 --port-max=39999 \
            --num-threads="$RTPE_THREADS" --timeout=120 --delete-delay=0 \
            >"$WORK/rtpengine.$n.$i.log" 2>&1 &
          rp=$!; track "$rp"; sleep 1
          kill -0 "$rp" 2>/dev/null || { log "rtpengine failed"; tail "$WORK/rtpengine.$n.$i.log"; exit 1; }
          python3 "$PEERS_DIR/rtpengine-ng.py" setup "$ng" "$n" "$EP_BASE" >"$WORK/map.txt" || exit 1
          echo "rep=$i $(measure rtpengine "$n" "$rp" map="$WORK/map.txt")" | tee -a "$RESULTS"
          python3 "$PEERS_DIR/rtpengine-ng.py" delete "$ng" "$n"
          kill "$rp"; wait "$rp" 2>/dev/null ;;
      esac
      sleep 1
    done
  done
  python3 - "$n" "$RESULTS" <<'PY'
import sys, statistics
n, path = sys.argv[1], sys.argv[2]
per, p99 = {}, {}
for line in open(path):
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    if kv.get("calls") == n:
        per.setdefault(kv["relay"], []).append(float(kv["cpu_us_per_pkt"]))
        p99.setdefault(kv["relay"], []).append(float(kv["p99"]))
if "direct" in p99:
    base = statistics.median(p99["direct"])
    for r in ("switchyard", "switchyard-base", "rtpengine", "udpbench-mmsg", "udpbench-tokio"):
        if r in p99:
            added = statistics.median(p99[r]) - base
            print(f"added calls={n} relay={r} p99_us={statistics.median(p99[r]):.0f} direct_p99_us={base:.0f} "
                  f"added_p99_us={added:.0f} target<2000 {'ok' if added < 2000 else 'MISSED'}")
for floor in ("udpbench-mmsg", "udpbench-tokio"):
    if floor in per and "rtpengine" in per:
        f = statistics.median(per[floor]) / statistics.median(per["rtpengine"])
        print(f"floor calls={n} relay={floor} cpu_us_per_pkt={statistics.median(per[floor]):.2f} ratio_to_rtpengine={f:.2f}")
if "switchyard" in per and "switchyard-base" in per:
    sy, base = statistics.median(per["switchyard"]), statistics.median(per["switchyard-base"])
    print(f"before_after calls={n} switchyard_cpu_us_per_pkt={sy:.2f} base={base:.2f} ratio={sy / base:.2f}")
if "switchyard" in per and "rtpengine" in per:
    sy, re_ = statistics.median(per["switchyard"]), statistics.median(per["rtpengine"])
    print(f"ratio calls={n} switchyard_cpu_us_per_pkt={sy:.2f} rtpengine={re_:.2f} "
          f"ratio={sy / re_:.2f} target<=0.60 {'ok' if sy / re_ <= 0.6 else 'MISSED'}")
PY
done
