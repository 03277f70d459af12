"""Per-turn latency of the default composer, warm, and the first reply of a fresh process.

    .venv/bin/python scripts/bench_latency.py                    # seed index + MedQuAD sample
    .venv/bin/python scripts/bench_latency.py --medquad-state .state/bench/full

Seed index: every turn of data/eval/seeds.jsonl (follow-ups, emergencies, out-of-scope
included), three passes after a warm-up pass. MedQuAD index: 300 templated questions,
the patient-style questions, and a follow-up ("What causes it?" / "How is it treated?")
after 100 of them. "First reply" is the wall time of `python -m chatbot ask` in a new
process: imports, model load, index load and the answer (five runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from scripts.bench_common import CORPUS, REPO, link_articles, machine, sample_names, write


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "turns": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
    }


def timed_turns(bot: Any, conversations: list[list[str]]) -> list[float]:
    times = []
    for i, turns in enumerate(conversations):
        session = f"bench-{i}-{time.monotonic_ns()}"
        for question in turns:
            started = time.perf_counter()
            bot.ask(question, session_id=session)
            times.append((time.perf_counter() - started) * 1000)
        bot.reset(session)
    return times


def first_reply(store: Path, question: str) -> list[float]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CHATBOT_MODEL_CACHE_DIR": str(REPO / ".state" / "models"),
    }
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "chatbot", "ask", question, "--store", str(store), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
        )
        runs.append(round(time.perf_counter() - started, 2))
        assert run.returncode == 0 and json.loads(run.stdout)["kind"] == "answer", run.stderr
    return runs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--medquad-state",
        type=Path,
        default=REPO / ".state" / "bench" / "sample",
        help="state dir of a MedQuAD index (built from the sample if missing)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "latency.json")
    args = parser.parse_args()

    from chatbot.chain import build_chatbot
    from chatbot.config import get_settings
    from chatbot.embed import load_encoder, load_serving_encoder
    from ingest.sync import sync

    cache = REPO / ".state" / "models"
    seeds_state = REPO / ".state" / "bench" / "seeds"
    seed_settings = get_settings(
        data_dir=REPO / "data", state_dir=seeds_state, model_cache_dir=cache
    )
    sync(seed_settings, encoder=load_encoder(seed_settings))  # exports the int8 model
    encoder = load_serving_encoder(seed_settings)  # what the app and the CLI answer with
    seed_bot = build_chatbot(seed_settings, encoder=encoder)
    conversations = [
        [t["q"] for t in json.loads(line)["turns"]]
        for line in (REPO / "data" / "eval" / "seeds.jsonl").read_text().splitlines()
        if line.strip()
    ]
    timed_turns(seed_bot, conversations)  # warm-up
    seed_times = timed_turns(seed_bot, conversations * 3)
    # hostile sizes (issue 11): a reply to 100 kB and 1 MB pastes must stay a refusal in
    # well under a second, whatever the message says
    oversized = {}
    for name, text in {
        "100_kB_ms": "no chest pain, " * 7_000,
        "1_MB_ms": "no chest pain, " * 70_000,
    }.items():
        started = time.perf_counter()
        reply = seed_bot.ask(text)
        oversized[name] = round((time.perf_counter() - started) * 1000, 1)
        assert "too long" in reply.answer, reply.answer

    medquad_settings = get_settings(
        data_dir=args.medquad_state.parent / f"{args.medquad_state.name}-data",
        state_dir=args.medquad_state,
        model_cache_dir=cache,
    )
    if not (medquad_settings.index_dir / "CURRENT.json").exists():
        link_articles(medquad_settings.data_dir, sample_names())
        sync(medquad_settings, encoder=encoder, show_progress=True)
    med_bot = build_chatbot(medquad_settings, encoder=encoder)
    started = time.perf_counter()
    snapshot = med_bot.retriever.reader.snapshot()
    med_bot.warm()  # BM25 index
    load_s = time.perf_counter() - started
    articles = {str(m["article_id"]) for m in snapshot.metadatas}
    questions = [
        json.loads(line)["question"]
        for line in (CORPUS / "questions.jsonl").read_text().splitlines()
        if json.loads(line)["article"] in articles
    ]
    rng = random.Random(11)
    picked = rng.sample(questions, min(300, len(questions)))
    patients = [
        json.loads(line)["question"]
        for line in (REPO / "data" / "benchmarks" / "patient_questions.jsonl")
        .read_text()
        .splitlines()
        if line.strip()
    ]
    med_conversations = [[q] for q in picked[100:] + patients] + [
        [q, rng.choice(["What causes it?", "How is it treated?", "What are the symptoms?"])]
        for q in picked[:100]
    ]
    timed_turns(med_bot, med_conversations[:20])  # warm-up
    med_times = timed_turns(med_bot, med_conversations)

    result = {
        "command": "python scripts/bench_latency.py",
        "machine": machine(),
        "seed_index": {
            "chunks": len(seed_bot.retriever.reader.snapshot().ids),
            **percentiles(seed_times),
        },
        "oversized_message_refusal": oversized,
        "medquad_index": {
            "articles": len(articles),
            "chunks": len(snapshot.ids),
            "index_load_s": round(load_s, 2),  # chunk table + BM25, this process
            "from_reader_files": snapshot.files is not None,
            **percentiles(med_times),
        },
        "first_reply_fresh_process_s": {
            "seed_index": first_reply(seed_settings.index_dir, "What is a muscle spasm?"),
            "medquad_index": first_reply(medquad_settings.index_dir, picked[0]),
        },
    }
    print(json.dumps(result, indent=2))
    write(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
