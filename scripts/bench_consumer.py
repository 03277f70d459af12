"""Retrieval and answers on real consumer questions (MEDIQA 2019), against the tutorial.

    .venv/bin/python scripts/bench_consumer.py --state .state/bench/full \
        --data .state/bench/full-data

Needs the whole MedQuAD corpus ingested in STATE (``scripts/bench_ingest.py --keep``, or
``python -m ingest`` with CHATBOT_DATA_DIR/CHATBOT_STATE_DIR). Scores, with
``../shared/corpus/medquad/score_consumer.py``'s grading, on the 174 consumer questions
(all, in-corpus, and the dev/test halves: weights are chosen on dev, reported on test):

* ours: whole sections (what the chain answers from), ranked by their best chunk;
* ours, chunks: the hybrid retriever's chunks as they are;
* dense only: the same index, cosine only (no BM25, no section boost);
* the LangChain tutorial retriever (RecursiveCharacterTextSplitter 1000/200 over the raw
  article text, Chroma, similarity_search), same encoder; its store is built once in
  STATE/tutorial-chroma and reused;
* composed answers: the chain's reply (no disclaimer, no citation markers) graded as one
  rank-1 result.

Also the templated questions' held-out half (section-level recall@5 / MRR@10, as in
``bench_retrieval.py``) for the same retrievers. Writes ``docs/bench/consumer.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from scripts.bench_common import CORPUS, REPO, machine, tutorial_documents, write

Texts = list[str]


def load_scorer() -> Any:
    spec = importlib.util.spec_from_file_location("score_consumer", CORPUS / "score_consumer.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_dev(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0


def score_rows(scorer: Any, gold: list[dict[str, Any]], results: list[Texts]) -> dict[str, float]:
    """avgScore / MRR@10 / Success@5 exactly as score_consumer.py computes them."""
    avg = mrr = s5 = 0.0
    for g, texts in zip(gold, results, strict=True):
        for j in g["judged"]:
            j["_n"] = scorer.norm(j["text"])
        grades = [scorer.grade(t, g["judged"]) for t in texts[:10]]
        avg += grades[0] - 1 if grades else 0
        first = next((i for i, x in enumerate(grades) if x >= 3), None)
        mrr += 1 / (first + 1) if first is not None else 0
        s5 += first is not None and first < 5
    n = max(len(gold), 1)
    return {
        "n": len(gold),
        "avgScore": round(avg / n, 3),
        "MRR@10": round(mrr / n, 3),
        "Success@5": round(s5 / n, 3),
    }


def subsets(gold: list[dict[str, Any]]) -> dict[str, list[int]]:
    return {
        "all": list(range(len(gold))),
        "in_corpus": [i for i, g in enumerate(gold) if g["in_corpus"]],
        "dev": [i for i, g in enumerate(gold) if is_dev(g["id"])],
        "test": [i for i, g in enumerate(gold) if not is_dev(g["id"])],
    }


def tutorial_store(state: Path, encoder: Any) -> Any:
    """The LangChain tutorial pipeline over the raw articles, persisted once."""
    import chromadb
    from langchain_chroma import Chroma

    from chatbot.store import chroma_settings

    folder = state / "tutorial-chroma"
    client = chromadb.PersistentClient(path=str(folder), settings=chroma_settings())
    store = Chroma(
        client=client, collection_name="tutorial", embedding_function=encoder.as_langchain()
    )
    if store._collection.count() > 0:
        return store
    docs = tutorial_documents(sorted(os.listdir(CORPUS / "articles")))
    started = time.perf_counter()
    for i in range(0, len(docs), 2000):
        store.add_documents(docs[i : i + 2000])
    print(f"tutorial: {len(docs)} chunks embedded in {time.perf_counter() - started:.0f}s")
    return store


def templated_heldout(limit: int) -> list[dict[str, Any]]:
    rows = []
    with open(CORPUS / "questions.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if not is_dev(row["id"]):
                rows.append(row)
    rows.sort(key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
    return rows[:limit] if limit else rows


Located = list[tuple[str, set[str]]]  # (article id, section parts) per rank


def templated_score(
    rows: list[dict[str, Any]], search: Callable[[str], Located]
) -> dict[str, float]:
    found5 = 0
    rr = 0.0
    for row in rows:
        for rank, (article, sections) in enumerate(search(row["question"])[:10], start=1):
            if article == row["article"] and row["heading"] in sections:
                found5 += rank <= 5
                rr += 1 / rank
                break
    n = max(len(rows), 1)
    return {"n": len(rows), "recall@5": round(found5 / n, 3), "MRR@10": round(rr / n, 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, default=REPO / ".state" / "bench" / "full")
    parser.add_argument("--data", type=Path, default=REPO / ".state" / "bench" / "full-data")
    parser.add_argument(
        "--templated", type=int, default=3000, help="held-out templated questions (0: none)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "consumer.json")
    args = parser.parse_args()

    from chatbot.answer import strip_source_markers
    from chatbot.chain import build_chatbot
    from chatbot.config import get_settings
    from chatbot.embed import load_serving_encoder
    from chatbot.evaluate import answer_body
    from chatbot.understand import load_question_types

    settings = get_settings(
        data_dir=args.data, state_dir=args.state, model_cache_dir=REPO / ".state" / "models"
    )
    encoder = load_serving_encoder(settings)
    bot = build_chatbot(settings, encoder=encoder)
    retriever = bot.retriever
    retriever.warm()
    scorer = load_scorer()
    with open(CORPUS / "consumer_questions.jsonl", encoding="utf-8") as handle:
        gold = [json.loads(line) for line in handle]
    parts = subsets(gold)

    types = load_question_types(settings.question_types_file)

    def section_hits(question: str, **kw: Any) -> list[Any]:
        # as the chain searches: the section boost only for a confident question type
        if "section_boost" not in kw and not types.understand(question).confident:
            kw["section_boost"] = 0.0
        return retriever.search_sections(question, 10, **kw)

    def section_texts(question: str, **kw: Any) -> Texts:
        return [h.text for h in section_hits(question, **kw)]

    def chunk_texts(question: str, **kw: Any) -> Texts:
        return [h.text for h in retriever.search(question, 10, **kw)]

    runs: dict[str, Callable[[str], Texts]] = {
        "ours: sections": section_texts,
        "ours: chunks": chunk_texts,
        "ours: sections, no section boost": lambda q: section_texts(q, section_boost=0.0),
        "ours: sections, no title boost": lambda q: section_texts(q, title_boost=0.0),
        "dense only: sections": lambda q: section_texts(
            q, bm25_weight=0.0, section_boost=0.0, title_boost=0.0
        ),
        "dense only: chunks": lambda q: chunk_texts(
            q, bm25_weight=0.0, section_boost=0.0, title_boost=0.0
        ),
    }
    tutorial = None if args.no_baseline else tutorial_store(args.state, encoder)
    if tutorial is not None:
        runs["LangChain tutorial (1000/200, similarity_search)"] = lambda q: [
            d.page_content for d in tutorial.similarity_search(q, k=10)
        ]

    report: dict[str, Any] = {"machine": machine(), "consumer": {}, "templated_heldout": {}}
    for name, run in runs.items():
        started = time.perf_counter()
        results = [run(g["question"]) for g in gold]
        ms = (time.perf_counter() - started) * 1000 / len(gold)
        report["consumer"][name] = {
            part: score_rows(scorer, [gold[i] for i in idx], [results[i] for i in idx])
            for part, idx in parts.items()
        } | {"ms_per_question": round(ms, 1)}
        print(name, report["consumer"][name]["all"], report["consumer"][name]["test"])

    # the composed answer, graded as one rank-1 result
    answers: list[Texts] = []
    times: list[float] = []
    for g in gold:
        started = time.perf_counter()
        reply = bot.ask(g["question"], session_id=g["id"])
        times.append((time.perf_counter() - started) * 1000)
        body = strip_source_markers(answer_body(reply)) if reply.kind == "answer" else ""
        answers.append([re.sub(r"\s*\[\d+\]", "", body)])
    report["consumer"]["composed answer (chain)"] = {
        part: score_rows(scorer, [gold[i] for i in idx], [answers[i] for i in idx])
        for part, idx in parts.items()
    } | {"answered": sum(bool(a[0]) for a in answers)}
    print("composed", report["consumer"]["composed answer (chain)"]["all"])
    report["turn_ms"] = {
        "p50": round(statistics.median(times), 1),
        "p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1),
    }

    rows = templated_heldout(args.templated) if args.templated else []

    def locate(hits: Any) -> Located:
        return [
            (
                str(h.metadata.get("article_id", "")),
                {p.strip() for p in str(h.metadata.get("section", "")).split(">")},
            )
            for h in hits
        ]

    templated: dict[str, Callable[[str], Located]] = {
        "ours: sections": lambda q: locate(section_hits(q)),
        "ours: chunks": lambda q: locate(retriever.search(q, 10)),
        "dense only: chunks": lambda q: locate(
            retriever.search(q, 10, bm25_weight=0.0, section_boost=0.0, title_boost=0.0)
        ),
    }
    if tutorial is not None:
        templated["LangChain tutorial (1000/200, similarity_search)"] = lambda q: [
            (d.metadata["article"], set(d.metadata["sections"].split("\x1f")))
            for d in tutorial.similarity_search(q, k=10)
        ]
    for name, search in templated.items() if rows else []:
        report["templated_heldout"][name] = templated_score(rows, search)
        print("templated", name, report["templated_heldout"][name])
    write(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
