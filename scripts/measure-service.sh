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
port_moto=5077
port_svc=9477
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

mkfifo "$tmp/hold"
.venv-moto/bin/python scripts/moto_harness.py --port "$port_moto" < "$tmp/hold" > "$tmp/moto.port" &
pids+=($!)
exec 3> "$tmp/hold"   # moto lives while this descriptor is open
until [[ -s "$tmp/moto.port" ]]; do sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port_moto" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
       AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true SPILLWAY_TOKEN=measure-token
queue_url="$(.venv-moto/bin/python -c "import boto3; print(boto3.client('sqs').create_queue(QueueName='measure')['QueueUrl'])")"
cat > "$tmp/policy.toml" <<TOML
name = "measure"
[control]
interval = "1s"
window = "5s"
[target]
free_busy_ratio = 0.25
min_free = 2
wait_slo = "30s"
[[pool]]
name = "datacenter"
kind = "static"
workers = $workers
[[pool]]
name = "ec2"
kind = "ec2"
max = 10
image_id = "ami-12c6146b"
instance_types = ["c5.large"]
[[queue]]
name = "jobs"
url = "$queue_url"
class = "interactive"
[heartbeat]
token_env = "SPILLWAY_TOKEN"
lost_after = "60s"
TOML
RUST_LOG=warn "$target/spillway" run --policy "$tmp/policy.toml" --metrics-addr "127.0.0.1:$port_svc" &
svc=$!
pids+=($svc)
until curl -sf "127.0.0.1:$port_svc/metrics" > /dev/null; do sleep 0.1; done
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
