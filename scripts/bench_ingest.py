"""Ingest benchmark: MedQuAD into a fresh store, against the bare fp32 encoder.

    .venv/bin/python scripts/bench_ingest.py                 # whole corpus (6,164 articles)
    .venv/bin/python scripts/bench_ingest.py --limit 1000    # a quick sample while working

Records articles/s, chunks/s and peak memory of the pipeline (int8 ONNX encoder), the
no-op re-sync time of `python -m ingest` in a fresh process, and, in the same run on a
random sample of the same chunks, the throughput of the bare fp32 and int8
`SentenceTransformer.encode`.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from scripts.bench_common import REPO, link_articles, machine, write


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="first N articles (0 = all)")
    parser.add_argument(
        "--encode-sample", type=int, default=2000, help="chunks for the bare encoders"
    )
    parser.add_argument("--keep", type=Path, help="keep the built state dir here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from chatbot.config import get_settings
    from chatbot.embed import load_encoder
    from chatbot.store import IndexReader, LocalBackend
    from ingest.sync import sync

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    names = sorted(os.listdir(REPO / ".." / "shared" / "corpus" / "medquad" / "articles"))
    if args.limit:
        names = names[: args.limit]
    # With --keep, the layout bench_retrieval.py and bench_latency.py reuse: STATE, STATE-data.
    state = args.keep or work / "state"
    data = link_articles(state.parent / f"{state.name}-data", names)
    if state.exists():
        shutil.rmtree(state)
    settings = get_settings(
        data_dir=data, state_dir=state, model_cache_dir=REPO / ".state" / "models"
    )
    load_started = time.perf_counter()
    encoder = load_encoder(settings)
    load_s = time.perf_counter() - load_started

    started = time.perf_counter()
    report = sync(settings, encoder=encoder, show_progress=True)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert report.ok, report.failed[:5]

    env = {
        **os.environ,
        "CHATBOT_DATA_DIR": str(data),
        "CHATBOT_STATE_DIR": str(state),
        "CHATBOT_MODEL_CACHE_DIR": str(REPO / ".state" / "models"),
        "PYTHONPATH": str(REPO),
    }
    noop = []
    for _ in range(3):
        t = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "ingest", "--json"],
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        noop.append(time.perf_counter() - t)
        assert run.returncode == 0, run.stderr

    texts = IndexReader(LocalBackend(settings.index_dir), encoder.identity).snapshot().texts
    sample = random.Random(7).sample(texts, min(args.encode_sample, len(texts)))
    from sentence_transformers import SentenceTransformer

    fp32 = SentenceTransformer(str(settings.resolved_model_path), device="cpu")
    fp32.encode(sample[:32])
    t = time.perf_counter()
    fp32.encode(sample, batch_size=32)
    fp32_rate = len(sample) / (time.perf_counter() - t)
    encoder.model.encode(sample[:32])
    t = time.perf_counter()
    encoder.model.encode(sample, batch_size=32)
    int8_rate = len(sample) / (time.perf_counter() - t)

    result = {
        "command": "python scripts/bench_ingest.py"
        + (f" --limit {args.limit}" if args.limit else ""),
        "machine": machine(),
        "articles": len(report.added),
        "chunks": report.chunks,
        "failed": len(report.failed),
        "encoder_load_s": round(load_s, 2),
        "ingest_s": round(seconds, 1),
        "articles_per_s": round(len(report.added) / seconds, 1),
        "chunks_per_s": round(report.chunks / seconds, 1),
        "peak_rss_mb_during_ingest": round(peak_mb),
        "noop_resync_s_fresh_process": [round(x, 2) for x in noop],
        "bare_encode_sample_chunks": len(sample),
        "bare_fp32_chunks_per_s": round(fp32_rate, 1),
        "bare_int8_chunks_per_s": round(int8_rate, 1),
        "pipeline_vs_bare_fp32": round((report.chunks / seconds) / fp32_rate, 2),
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    out = args.out or REPO / "docs" / "bench" / (
        f"ingest-{args.limit}.json" if args.limit else "ingest-full.json"
    )
    write(out, result)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
