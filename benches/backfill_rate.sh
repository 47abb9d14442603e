#!/usr/bin/env bash
# Messages per second of `spillway backfill submit` against a local moto server, next to a plain
# boto3 script making the same SendMessageBatch calls (10 entries, same attributes) with the same
# concurrency (benches/backfill_boto3.py).
#
# Usage: benches/backfill_rate.sh [JOBS (5000)] [CONCURRENCY (8)] [ROUNDS (3)] [CHUNK (100)]
# Env:   SPILLWAY_BIN=path  use this binary instead of `cargo build --release --locked`.
#
# moto's SendMessage reads the queue's attributes for every message, which walks every message
# already in the queue: a send costs O(queue depth) and filling one queue with 5,000 messages
# takes minutes whatever the client (quadratic). To measure the clients rather than that, the
# job file is cut into CHUNK-line files, each sent to a fresh queue after a moto reset; both
# tools get the same chunks, taking turns chunk by chunk. Rates are messages over the summed send time each tool reports
# (first call to last acknowledgement); the process wall time (with start-up) is shown too.
# CHUNK=JOBS sends the whole file to one queue.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${1:-5000}"
concurrency="${2:-8}"
rounds="${3:-3}"
chunk="${4:-100}"

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

"$python" - "$work" "$jobs" "$chunk" <<'PY'
import json, sys
work, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [json.dumps({"id": f"job-{i:06d}", "scene": "bench", "frame": i, "duration_s": 30})
         for i in range(1, n + 1)]
for k in range(0, n, chunk):
    with open(f"{work}/chunk-{k // chunk:04d}.jsonl", "w") as f:
        f.write("\n".join(lines[k:k + chunk]) + "\n")
PY

new_queue() { # resets moto, prints the URL of a fresh queue
    curl -sf -X POST "$endpoint/moto-api/reset" > /dev/null
    "$python" -c 'import boto3,sys; print(boto3.client("sqs").create_queue(QueueName=sys.argv[1])["QueueUrl"])' "$1"
}

# one TOOL FILE ROUND: sends FILE to a fresh queue, appends "sent send_seconds wall_ns" to
# $work/figures-TOOL.
one() {
    local tool="$1" file="$2" round="$3" url out start end
    url="$(new_queue "$tool-$round")"
    start="$(date +%s%N)"
    if [[ "$tool" == spillway ]]; then
        out="$(RUST_LOG=warn "$SPILLWAY_BIN" backfill submit "$file" --queue-url "$url" \
            --concurrency "$concurrency" --checkpoint "$work/ckpt-$round-$(basename "$file")")"
    else
        out="$("$python" benches/backfill_boto3.py "$file" --queue-url "$url" --concurrency "$concurrency")"
    fi
    end="$(date +%s%N)"
    # Both tools print "... sent N, ... elapsed T s, ...".
    echo "$(echo "$out" | sed -n 's/.*sent \([0-9]*\),.*elapsed \([0-9.]*\) s.*/\1 \2/p') $(( end - start ))" \
        >> "$work/figures-$tool"
}

# report TOOL: one line of totals for the round.
report() {
    "$python" - "$1" "$work/figures-$1" <<'PY'
import sys
tool, rows = sys.argv[1], [line.split() for line in open(sys.argv[2]) if line.strip()]
sent = sum(int(r[0]) for r in rows)
send = sum(float(r[1]) for r in rows)
wall = sum(int(r[2]) for r in rows) / 1e9
print(f"{tool:8}: sent {sent} in {len(rows)} queues, send time {send:.2f} s, "
      f"{sent / send:.1f} messages/s (process wall {wall:.2f} s, {sent / wall:.1f} messages/s)")
PY
}

echo "backfill_rate: $jobs jobs in chunks of $chunk, concurrency $concurrency, $rounds rounds, moto on port $port"
# The tools take turns chunk by chunk (alternating who goes first), so a change in the machine's
# load during a round affects both alike.
for round in $(seq "$rounds"); do
    : > "$work/figures-spillway"
    : > "$work/figures-boto3"
    i=0
    for file in "$work"/chunk-*.jsonl; do
        if (( (i + round) % 2 )); then one spillway "$file" "$round"; one boto3 "$file" "$round"
        else one boto3 "$file" "$round"; one spillway "$file" "$round"; fi
        i=$(( i + 1 ))
    done
    echo "round $round:"
    report spillway
    report boto3
done
