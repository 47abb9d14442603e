"""Baseline for `spillway backfill submit`: the same SendMessageBatch calls made with boto3.

Reads a JSON Lines job file, sends every non-blank line as a message body in batches of 10 with
the same two message attributes spillway adds, `--concurrency` batches in flight (a thread pool),
resending only the failed entries of a batch. Prints one line:
`boto3: sent N, elapsed T s, R messages/s`. The endpoint comes from AWS_ENDPOINT_URL.

Usage: .venv-moto/bin/python benches/backfill_boto3.py JOBS --queue-url URL [--concurrency 8]
"""

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def batches(lines, source):
    batch = []
    for number, body in lines:
        try:
            job_id = str(json.loads(body).get("id", f"line-{number}"))
        except ValueError:
            job_id = f"line-{number}"
        batch.append(
            {
                "Id": str(len(batch)),
                "MessageBody": body,
                "MessageAttributes": {
                    "spillway-backfill": {"DataType": "String", "StringValue": source},
                    "spillway-job-id": {"DataType": "String", "StringValue": job_id},
                },
            }
        )
        if len(batch) == 10:
            yield batch
            batch = []
    if batch:
        yield batch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs")
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    with open(args.jobs, encoding="utf-8") as f:
        lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(f, 1) if line.strip()]
    client = boto3.client(
        "sqs",
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(max_pool_connections=args.concurrency, retries={"max_attempts": 3}),
    )

    def send(entries):
        sent = 0
        for _ in range(8):
            reply = client.send_message_batch(QueueUrl=args.queue_url, Entries=entries)
            sent += len(reply.get("Successful", []))
            failed = {f["Id"] for f in reply.get("Failed", []) if not f["SenderFault"]}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        return sent

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        sent = sum(pool.map(send, batches(lines, os.path.basename(args.jobs))))
    elapsed = time.monotonic() - start
    print(f"boto3: sent {sent}, elapsed {elapsed:.2f} s, {sent / elapsed:.1f} messages/s")


if __name__ == "__main__":
    main()
