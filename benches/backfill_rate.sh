#!/usr/bin/env bash
# Messages per second of `spillway backfill submit` against a local moto server, next to a plain
# boto3 script making the same SendMessageBatch calls with the same concurrency.
#
# Usage: benches/backfill_rate.sh [JOBS (default 5000)] [CONCURRENCY (default 8)] [ROUNDS (default 3)]
# Env:   SPILLWAY_BIN=path  use this binary instead of building `cargo build --release --locked`.
#
# Each round resets moto and gives each tool a fresh standard queue, alternating which goes
# first. Both are bound by moto (one Python process, a few ms per request), so the figures
# measure the client's overhead on top of the same server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${1:-5000}"
concurrency="${2:-8}"
rounds="${3:-3}"

scripts/install-test-deps.sh
if [[ -z "${SPILLWAY_BIN:-}" ]]; then
    cargo build --release --locked --bin spillway
    SPILLWAY_BIN="${CARGO_TARGET_DIR:-target}/release/spillway"
fi
python=.venv-moto/bin/python

work="$(mktemp -d)"
trap 'exec 3>&-; rm -rf "$work"' EXIT
mkfifo "$work/moto-stdin"
"$python" scripts/moto_harness.py < "$work/moto-stdin" > "$work/port" &
exec 3> "$work/moto-stdin" # the server lives while this descriptor is open
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
port="$(cat "$work/port")"
endpoint="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

"$python" - "$work/jobs.jsonl" "$jobs" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(1, n + 1):
        f.write(json.dumps({"id": f"job-{i:06d}", "scene": "bench", "frame": i, "duration_s": 30}) + "\n")
PY

new_queue() { # resets moto, prints the URL of a fresh queue
    curl -sf -X POST "$endpoint/moto-api/reset" > /dev/null
    "$python" -c 'import boto3,sys; print(boto3.client("sqs").create_queue(QueueName=sys.argv[1])["QueueUrl"])' "$1"
}
run_spillway() {
    local url; url="$(new_queue "spillway-$1")"
    local start end line
    start="$(date +%s%N)"
    line="$(RUST_LOG=warn "$SPILLWAY_BIN" backfill submit "$work/jobs.jsonl" --queue-url "$url" \
        --concurrency "$concurrency" --checkpoint "$work/ckpt-$1" | grep '^backfill: ')"
    end="$(date +%s%N)"
    echo "spillway: ${line#backfill: } (process wall $(( (end - start) / 1000000 )) ms)"
}
run_boto3() {
    local url; url="$(new_queue "boto3-$1")"
    local start end line
    start="$(date +%s%N)"
    line="$("$python" benches/backfill_boto3.py "$work/jobs.jsonl" --queue-url "$url" --concurrency "$concurrency")"
    end="$(date +%s%N)"
    echo "$line (process wall $(( (end - start) / 1000000 )) ms)"
}

echo "backfill_rate: $jobs jobs, concurrency $concurrency, $rounds rounds, moto on port $port"
for round in $(seq "$rounds"); do
    if (( round % 2 )); then run_spillway "$round"; run_boto3 "$round"
    else run_boto3 "$round"; run_spillway "$round"; fi
done
