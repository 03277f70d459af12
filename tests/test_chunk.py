"""Chunk bounds and structure, with the model's real tokenizer."""

from __future__ import annotations

import re
from pathlib import Path

from chatbot.config import Settings
from chatbot.embed import load_token_counter
from ingest.chunk import chunk_article
from ingest.load import load_article
from ingest.models import Article, Section


def _long_article() -> Article:
    sentence = (
        "Electrolyte imbalance and dehydration can trigger painful cramps in the calf muscles. "
    )
    bullets = "\n".join(
        f"- item number {i} about magnesium and potassium levels" for i in range(60)
    )
    return Article(
        article_id="long",
        source_path="long.md",
        title="Cramps",
        sections=[
            Section("Causes", sentence * 80),
            Section("Lists", "Common triggers include:\n" + bullets),
            Section("Huge word", "supercalifragilistic" * 400),
            Section("Short", "One line."),
        ],
    )


def test_no_chunk_exceeds_the_model_limit(settings: Settings) -> None:
    count = load_token_counter(settings)
    chunks = chunk_article(_long_article(), count, max_tokens=256, target_tokens=200)
    sizes = count([c.text for c in chunks])
    assert max(sizes) <= 256
    assert len(chunks) > 10


def test_chunks_never_span_sections_and_start_with_context(settings: Settings) -> None:
    count = load_token_counter(settings)
    chunks = chunk_article(_long_article(), count)
    for chunk in chunks:
        assert chunk.text.startswith(f"Cramps\n{chunk.section}\n")
        assert chunk.body in chunk.text
    assert [c.position for c in chunks] == list(range(len(chunks)))
    sections = [c.section for c in chunks]
    # sections appear as contiguous runs, in order
    runs = [s for i, s in enumerate(sections) if i == 0 or sections[i - 1] != s]
    assert runs == ["Causes", "Lists", "Huge word", "Short"]


def test_every_chunk_carries_its_metadata(settings: Settings, seeded: Path) -> None:
    count = load_token_counter(settings)
    path = seeded / "001_fd95c578ff9ff21f.txt"
    article = load_article(path, seeded, settings.max_file_bytes)
    chunks = chunk_article(article, count)
    assert chunks
    ids = [c.chunk_id for c in chunks]
    assert len(set(ids)) == len(ids)
    for chunk in chunks:
        meta = chunk.metadata()
        assert meta["article_id"] == "001_fd95c578ff9ff21f"
        assert meta["source_path"] == "001_fd95c578ff9ff21f.txt"
        assert meta["title"] == "Understanding Muscle Spasms"
        assert meta["publisher"] == "Dr.Oracle"
        assert meta["last_updated"] == "2025-07-23"
        assert meta["url"] == ""
        assert len(str(meta["content_hash"])) == 64
        assert meta["section"]
    # chunking is deterministic: same ids on a second run
    assert [c.chunk_id for c in chunk_article(article, count)] == ids


def test_bullet_lists_stay_together_with_their_lead_in(settings: Settings, seeded: Path) -> None:
    count = load_token_counter(settings)
    article = load_article(seeded / "001_fd95c578ff9ff21f.txt", seeded, settings.max_file_bytes)
    chunks = chunk_article(article, count)
    prevention = [c for c in chunks if c.section == "Prevention Strategies"]
    assert len(prevention) == 1
    assert "- Proper hydration" in prevention[0].body
    assert "- Regular stretching" in prevention[0].body


def test_real_articles_stay_within_the_bound(settings: Settings) -> None:
    """MedQuAD fixtures and the seeds, counted exactly with the model's tokenizer."""
    count = load_token_counter(settings)
    fixtures = Path(__file__).parent / "fixtures" / "medquad"
    seeds = Path(__file__).resolve().parent.parent / "data" / "articles"
    paths = [*sorted(fixtures.glob("*.md")), *sorted(seeds.glob("*.txt"))]
    assert len(paths) >= 5
    for path in paths:
        article = load_article(path, path.parent, settings.max_file_bytes)
        chunks = chunk_article(article, count, max_tokens=256, target_tokens=200)
        assert chunks, path
        assert max(count([c.text for c in chunks])) <= 256, path
        # nothing of the article's text is lost between its sections and its chunks
        words = {w for s in article.sections for w in re.findall(r"\w+", s.text)}
        assert words <= {w for c in chunks for w in re.findall(r"\w+", c.body)}, path


def test_bm25_tokens_are_exactly_bm25s_own() -> None:
    """chatbot.retrieve.tokenize is a fast path of bm25s.tokenize: same tokens for every
    seed article's text, its questions, and edge cases (accents, digits, contractions)."""
    import bm25s

    from chatbot.retrieve import _stemmer, _stopwords, tokenize

    seeds = Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds.glob("*.txt"))]
    texts += [line for text in texts for line in text.splitlines()]
    texts += ["", "a", "I", "ÉLAN vital", "x2 2x __init__ naïve café", "don't can't", "Ωμέγα 3"]
    expected = bm25s.tokenize(
        texts, stopwords=_stopwords(), stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    assert tokenize(texts) == [list(t) for t in expected]
    stems = tokenize(["Muscle spasms and cramping muscles"])
    assert stems == [["muscl", "spasm", "cramp", "muscl"]]
