#!/usr/bin/env bash
# Create .venv and install the locked dependencies (hash-checked). Idempotent and quick
# when nothing changed.
#   scripts/setup.sh        what the app needs (requirements.lock)
#   scripts/setup.sh --dev  that plus the test and lint tools (requirements-dev.lock)
# pip is upgraded first (the venv's bundled pip can be old); torch 2.13.0 (CPU build) goes
# next: any other torch would drag in GBs of CUDA packages. Re-lock with scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
lock=requirements.lock
if [ "${1:-}" = "--dev" ]; then
    lock=requirements-dev.lock
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$python" -m venv .venv
fi
stamp_of() { echo ".venv/.installed-$1-$(cat "$1" pyproject.toml | sha256sum | cut -c1-16)"; }
# the dev lock has every runtime pin, so a dev install also satisfies the app
if [ ! -f "$(stamp_of "$lock")" ] && { [ "$lock" = requirements-dev.lock ] \
        || [ ! -f "$(stamp_of requirements-dev.lock)" ]; }; then
    echo "setup: installing $lock (first run takes a few minutes)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    .venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
    rm -f .venv/.installed-*
    touch "$(stamp_of "$lock")"
fi
