"""Retrieval quality on MedQuAD, at section level, against the LangChain tutorial retriever.

    .venv/bin/python scripts/bench_retrieval.py            # fixed 1,028-article sample
    .venv/bin/python scripts/bench_retrieval.py --all      # the whole corpus, for the record

A question counts as found at rank r when the r-th result comes from the article and
section that answer it (MedQuAD's questions.jsonl says which). Reports Recall@5 and
MRR@10 for: ours (hybrid, weights chosen on a dev half of the questions, reported on
the other half), ours dense only, BM25 only, and the plain tutorial pipeline
(RecursiveCharacterTextSplitter(1000, 200), Chroma.from_documents, similarity_search),
all with the same int8 encoder. Also on data/benchmarks/patient_questions.jsonl: long,
chatty questions written the way patients write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from scripts.bench_common import (
    CORPUS,
    REPO,
    link_articles,
    machine,
    sample_names,
    tutorial_documents,
    write,
)

Result = list[tuple[str, str]]  # (article id, section heading) per rank


def load_questions(articles: set[str]) -> list[dict[str, Any]]:
    rows = []
    with open(CORPUS / "questions.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["article"] in articles:
                rows.append(row)
    return rows


def is_dev(row: dict[str, Any]) -> bool:
    return int(hashlib.sha1(row["id"].encode()).hexdigest(), 16) % 2 == 0


def score(rows: list[dict[str, Any]], search: Callable[[str], Result]) -> dict[str, float]:
    found5 = 0
    rr = 0.0
    started = time.perf_counter()
    for row in rows:
        results = search(row["question"])[:10]
        for rank, (article, sections) in enumerate(results, start=1):
            if article == row["article"] and row["heading"] in sections:
                found5 += rank <= 5
                rr += 1 / rank
                break
    n = max(len(rows), 1)
    return {
        "recall@5": round(found5 / n, 4),
        "mrr@10": round(rr / n, 4),
        "n": len(rows),
        "ms_per_query": round((time.perf_counter() - started) * 1000 / n, 2),
    }


def section_parts(section: str) -> set[str]:
    return {part.strip() for part in section.split(">")}


def tutorial_retriever(names: list[str], encoder: Any) -> Callable[[str], Result]:
    """The LangChain RAG tutorial: split the raw text, embed, similarity_search."""
    import chromadb
    from langchain_chroma import Chroma

    from chatbot.store import chroma_settings

    docs = tutorial_documents(names)
    client = chromadb.EphemeralClient(settings=chroma_settings())
    started = time.perf_counter()
    store = Chroma.from_documents(
        docs, encoder.as_langchain(), client=client, collection_name="tutorial"
    )
    print(f"tutorial baseline: {len(docs)} chunks embedded in {time.perf_counter() - started:.0f}s")

    def search(question: str) -> Result:
        return [
            (d.metadata["article"], set(d.metadata["sections"].split("\x1f")))
            for d in store.similarity_search(question, k=10)
        ]

    return search  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--all", action="store_true", help="the whole corpus, not the sample")
    parser.add_argument("--state", type=Path, help="state dir to build or reuse the index in")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from chatbot.config import get_settings
    from chatbot.embed import load_encoder
    from chatbot.retrieve import HybridRetriever
    from chatbot.store import IndexReader, LocalBackend
    from ingest.sync import sync

    names = sorted(os.listdir(CORPUS / "articles")) if args.all else sample_names()
    tag = "full" if args.all else "sample"
    state = args.state or REPO / ".state" / "bench" / tag
    data = link_articles(state.parent / f"{tag}-data", names)
    settings = get_settings(
        data_dir=data, state_dir=state, model_cache_dir=REPO / ".state" / "models"
    )
    encoder = load_encoder(settings)
    report = sync(settings, encoder=encoder, show_progress=True)
    print(
        f"index: {report.chunks} chunks ({len(report.added)} added, "
        f"{len(report.unchanged)} unchanged)"
    )
    hybrid = HybridRetriever(
        IndexReader(LocalBackend(settings.index_dir), encoder.identity), encoder, settings
    )
    hybrid.warm()

    articles = {Path(n).stem for n in names}
    rows = load_questions(articles)
    dev = [r for r in rows if is_dev(r)]
    test = [r for r in rows if not is_dev(r)]
    patients = [
        json.loads(line)
        for line in (REPO / "data" / "benchmarks" / "patient_questions.jsonl")
        .read_text()
        .splitlines()
        if line.strip()
    ]
    patients = [p for p in patients if p["article"] in articles]

    def ours(dense: float, bm25: float, boost: float) -> Callable[[str], Result]:
        def search(question: str) -> Result:
            hits = hybrid.search(
                question, 10, dense_weight=dense, bm25_weight=bm25, section_boost=boost
            )
            return [
                (str(h.metadata["article_id"]), section_parts(str(h.metadata["section"])))
                for h in hits
            ]

        return search

    # Chosen on the dev half and the patient set together (chatty questions punish BM25);
    # reported on the held-out half. The whole-corpus run reuses the sample's choice
    # (the settings' defaults) and reports on every question.
    grid = [(wb, boost) for wb in (0.05, 0.1, 0.2, 0.3) for boost in (0.0, 0.1, 0.15, 0.2)]
    if args.all:
        grid = [(settings.bm25_weight, settings.section_boost)]
        dev, test = [], rows
    tuning = {}
    for wb, boost in grid if not args.all else []:
        key = f"bm25 {wb}, section boost {boost}"
        tuning[key] = {
            "dev": score(dev, ours(1.0, wb, boost)),
            "patients": score(patients, ours(1.0, wb, boost)),
        }
        print(key, tuning[key])
    wb, boost = (
        grid[0]
        if args.all
        else max(
            grid,
            key=lambda g: (
                tuning[f"bm25 {g[0]}, section boost {g[1]}"]["dev"]["mrr@10"]
                + tuning[f"bm25 {g[0]}, section boost {g[1]}"]["patients"]["mrr@10"]
            ),
        )
    )
    rrf = HybridRetriever(hybrid.reader, encoder, settings.model_copy(update={"fusion": "rrf"}))

    def ours_rrf(question: str) -> Result:
        hits = rrf.search(question, 10, dense_weight=1.0, bm25_weight=0.5, section_boost=0.0)
        return [
            (str(h.metadata["article_id"]), section_parts(str(h.metadata["section"]))) for h in hits
        ]

    results: dict[str, Any] = {}
    test_label = "templated (all)" if args.all else "templated (held-out half)"
    configs = [
        (f"ours: hybrid (bm25 {wb}) + section intent ({boost})", ours(1.0, wb, boost)),
        (f"ours: dense only + section intent ({boost})", ours(1.0, 0.0, boost)),
        (f"ours: bm25 only + section intent ({boost})", ours(0.0, 1.0, boost)),
        (f"ours: hybrid (bm25 {wb}), no section intent", ours(1.0, wb, 0.0)),
        ("ours: dense only, no section intent", ours(1.0, 0.0, 0.0)),
        ("ours: reciprocal rank fusion (bm25 0.5), no section intent", ours_rrf),
    ]
    for label, search in configs[:2] if args.all else configs:
        results[label] = {
            test_label: score(test, search),
            "patients": score(patients, search),
        }
        print(label, results[label])
    if not args.no_baseline:
        baseline = tutorial_retriever(names, encoder)
        label = "LangChain tutorial (RecursiveCharacterTextSplitter 1000/200, similarity_search)"
        results[label] = {
            test_label: score(test, baseline),
            "patients": score(patients, baseline),
        }
        print(label, results[label])
    out = {
        "command": "python scripts/bench_retrieval.py" + (" --all" if args.all else ""),
        "machine": machine(),
        "articles": len(names),
        "chunks": report.chunks,
        "questions": {"dev": len(dev), "held_out": len(test), "patients": len(patients)},
        "tuning": tuning,
        "chosen": {"bm25_weight": wb, "section_boost": boost},
        "results": results,
    }
    write(args.out or REPO / "docs" / "bench" / f"retrieval-{tag}.json", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
