"""Run a moto server for tests and benchmarks, tied to the lifetime of its parent.

Starts moto (EC2, SQS, DynamoDB on one port) on 127.0.0.1 and a free port (or --port), waits
until `GET /moto-api/` answers, prints the port on stdout as one line, then serves until its
stdin closes. The parent keeps a pipe to our stdin open for as long as it wants the server; when
the parent exits or is killed the pipe closes and this process exits with the server in it, so a
killed test run leaves no stray server.

Usage: .venv-moto/bin/python scripts/moto_harness.py [--port N]
"""

import argparse
import logging
import os
import sys
import time
import urllib.request

from moto.server import ThreadedMotoServer


def wait_ready(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{port}/moto-api/"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"moto_harness: server on port {port} did not answer {url}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    args = parser.parse_args()

    # One log line per request would flood the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    wait_ready(port)
    print(port, flush=True)

    # Block until the parent closes our stdin (or dies), then take the server down with us.
    while sys.stdin.buffer.read(65536):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
