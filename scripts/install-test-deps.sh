#!/usr/bin/env bash
# Installs what the test suite needs besides Rust: a Python venv `.venv-moto` in the repo root
# holding the pinned moto server (scripts/requirements-test.txt), and promtool (Debian's
# `prometheus` package) for the alert rules' tests.
#
# Idempotent: when the venv exists and was built from the current requirements file (a stamp
# records the file's hash), and promtool is on the PATH, it returns at once. Needs network
# only to reach PyPI and Debian's packages.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-moto"
reqs="$root/scripts/requirements-test.txt"
stamp="$venv/.requirements-sha256"
python="${PYTHON:-python3}"

if ! command -v promtool > /dev/null; then
    echo "install-test-deps: installing promtool (Debian package prometheus)" >&2
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends prometheus > /dev/null \
        || { $sudo apt-get update > /dev/null && $sudo apt-get install -y --no-install-recommends prometheus > /dev/null; }
    # The package starts a Prometheus server where systemd runs; the tests need only promtool.
    $sudo systemctl disable --now prometheus > /dev/null 2>&1 || true
    promtool --version > /dev/null
fi

want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

echo "install-test-deps: building $venv from scripts/requirements-test.txt" >&2
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
# Fail here, not in the first test, if the server cannot be imported.
"$venv/bin/python" -c 'import moto, moto.server, flask, flask_cors, boto3; print("install-test-deps: moto", moto.__version__, file=__import__("sys").stderr)'
echo "$want" > "$stamp"
