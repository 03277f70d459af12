#!/usr/bin/env bash
# Re-lock the dependencies, with hashes, after changing pyproject.toml:
#   requirements.lock      what the app needs (scripts/app.sh installs it)
#   requirements-dev.lock  that plus the test and lint tools (scripts/test.sh), same pins
# Existing pins are kept unless you pass pip-compile options such as
# `--upgrade-package streamlit` (or --upgrade). pip-tools runs from its own venv, so the
# project's .venv does not change.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.state/pip-tools
if [ ! -x "$tools/bin/pip-compile" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --upgrade pip pip-tools
fi
export CUSTOM_COMPILE_COMMAND="scripts/lock.sh"
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links)
"$tools/bin/pip-compile" "${common[@]}" "$@" -o requirements.lock pyproject.toml
"$tools/bin/pip-compile" "${common[@]}" "$@" --extra dev -c requirements.lock \
    -o requirements-dev.lock pyproject.toml
