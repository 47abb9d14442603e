# Sourced by scripts/load-test and scripts/measure-service.sh: starts moto and the release
# `spillway run` on loopback with a policy of one static pool of $workers workers
# ("datacenter"), one EC2 pool and one queue, control interval $interval (default 10s) and
# window $window (default: the interval).
# Sets $tmp (a scratch directory), $svc (the service's pid), $port_svc, SPILLWAY_TOKEN, and a
# trap that stops every process started here and removes $tmp. Needs $target (the release
# directory) and scripts/install-test-deps.sh run. With REPLICAS=2, two replicas share a
# [lease] (a DynamoDB table on moto): the first leads ($leader, $port_leader) and $svc /
# $port_svc are the follower, which passes every heartbeat on to the leader.
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

mkfifo "$tmp/hold"
.venv-moto/bin/python scripts/moto_harness.py < "$tmp/hold" > "$tmp/moto.port" &
pids+=($!)
exec 3> "$tmp/hold"   # moto lives while this descriptor is open
until [[ -s "$tmp/moto.port" ]]; do sleep 0.1; done
port_moto="$(cat "$tmp/moto.port")"
port_svc="$(.venv-moto/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port_moto" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
       AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
       SPILLWAY_TOKEN="local-token-$RANDOM$RANDOM"
queue_url="$(.venv-moto/bin/python -c "import boto3; print(boto3.client('sqs').create_queue(QueueName='local')['QueueUrl'])")"
cat > "$tmp/policy.toml" <<TOML
name = "local"
[control]
interval = "${interval:-10s}"
window = "${window:-${interval:-10s}}"
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
if [[ "${REPLICAS:-1}" == 2 ]]; then
    .venv-moto/bin/python -c "import boto3; boto3.client('dynamodb').create_table(TableName='leases', \
        AttributeDefinitions=[{'AttributeName': 'lease', 'AttributeType': 'S'}], \
        KeySchema=[{'AttributeName': 'lease', 'KeyType': 'HASH'}], BillingMode='PAY_PER_REQUEST')"
    printf '[lease]\ntable = "leases"\nduration = "15s"\n' >> "$tmp/policy.toml"
    port_leader="$(.venv-moto/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    RUST_LOG=warn "$target/spillway" run --policy "$tmp/policy.toml" --replica-id leader \
        --metrics-addr "127.0.0.1:$port_leader" &
    leader=$!
    pids+=($leader)
    until curl -sf "127.0.0.1:$port_leader/metrics" | grep -q '^spillway_leader 1'; do sleep 0.1; done
fi
RUST_LOG=warn "$target/spillway" run --policy "$tmp/policy.toml" --replica-id follower \
    --metrics-addr "127.0.0.1:$port_svc" &
svc=$!
pids+=($svc)
until curl -sf "127.0.0.1:$port_svc/metrics" > /dev/null; do sleep 0.1; done
