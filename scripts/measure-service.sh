#!/usr/bin/env bash
# Measures `spillway run` against a local moto: resident memory of an idle service, and CPU
# time per tick with N simulated workers heartbeating (examples/heartbeat_load/, one new
# connection per heartbeat). For the heartbeat latency and drop figures see scripts/load-test.
# Loopback only; every process it starts is stopped at the end.
#
# Usage: scripts/measure-service.sh [WORKERS=1000] [SECONDS=60]
# Needs: scripts/install-test-deps.sh, and
#   cargo build --release --locked --bin spillway --example heartbeat_load
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
workers="${1:-1000}"
seconds="${2:-60}"
target="${CARGO_TARGET_DIR:-target}/release"
interval=1s window=5s
source scripts/start-local-service.sh
sleep 5
echo "idle RSS: $(ps -o rss= -p "$svc") KiB"

cpu() { awk '{print $14 + $15}' "/proc/$svc/stat"; }
ticks() { curl -sf "127.0.0.1:$port_svc/metrics" | awk '/^spillway_ticks_total/ {print $2}'; }
hz="$(getconf CLK_TCK)"

c0=$(cpu); t0=$(ticks)
sleep 20
c1=$(cpu); t1=$(ticks)
echo "no load: $((t1 - t0)) ticks, $(( (c1 - c0) * 1000 / hz )) ms CPU, $(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", c * 1000 / hz / t}') ms CPU per tick"

"$target/examples/heartbeat_load" --service "127.0.0.1:$port_svc" --pool datacenter \
    --workers "$workers" --every 5 --duration "$((seconds + 15))" --connections 0 > "$tmp/load.out" &
pids+=($!)
sleep 10   # every worker has reported
c0=$(cpu); t0=$(ticks)
sleep "$seconds"
c1=$(cpu); t1=$(ticks)
echo "$workers workers heartbeating every 5 s: $((t1 - t0)) ticks, $(( (c1 - c0) * 1000 / hz )) ms CPU, $(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", c * 1000 / hz / t}') ms CPU per tick"
echo "RSS under load: $(ps -o rss= -p "$svc") KiB"
curl -sf "127.0.0.1:$port_svc/status" | .venv-moto/bin/python -c "import json,sys; s=json.load(sys.stdin); print('workers seen:', s['last']['workers'])"
curl -sf "127.0.0.1:$port_svc/metrics" | grep -E '^spillway_decide_seconds_(sum|count)|^spillway_heartbeats_total'
wait "${pids[-1]}" || true
cat "$tmp/load.out"
