#!/usr/bin/env bash
# The README's first command: install what is needed, build the index if it is missing,
# then start the Streamlit app on 127.0.0.1 (usage statistics off). Extra arguments go
# to `streamlit run` (e.g. --server.port 8600).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
if ! .venv/bin/python -m chatbot status --quiet; then
    echo "app: building the index from data/articles" >&2
    .venv/bin/python -m ingest
fi
exec .venv/bin/streamlit run app.py \
    --server.address 127.0.0.1 --server.headless true \
    --browser.gatherUsageStats false "$@"
