"""Section-aware chunking bounded by the embedding model's tokenizer.

A chunk never spans two sections, starts with the article title and section heading
so it stands alone, and never exceeds ``max_tokens`` word pieces (special tokens
included), so the encoder never silently truncates it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from ingest.models import Article, Chunk

log = logging.getLogger(__name__)

TokenCounter = Callable[[Sequence[str]], list[int]]

# A list item: "- ", "* ", "• " or "1. " at the start of a line.
BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


@lru_cache(maxsize=1)
def _segmenter() -> object:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph (pysbd), stripped, empty ones dropped."""
    segmenter = _segmenter()
    return [s.strip() for s in segmenter.segment(text) if s.strip()]  # type: ignore[attr-defined]


def chunk_header(title: str, section: str) -> str:
    if section and section.strip().lower() != title.strip().lower():
        return f"{title}\n{section}\n"
    return f"{title}\n"


def _units(text: str) -> list[str]:
    """Paragraphs and list items: the pieces a chunk is packed from."""
    units: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.rstrip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if any(BULLET.match(line) for line in lines):
            units.extend(lines)  # one unit per list line, so lists can be split between items
        else:
            units.append(" ".join(line.strip() for line in lines))
    return units


def _split_words(text: str, budget: int, count: TokenCounter) -> list[str]:
    """Last resort for a single over-long sentence: cut on word boundaries."""
    words = text.split()
    pieces: list[str] = []
    current: list[str] = []
    for word in words:
        trial = " ".join([*current, word])
        if current and count([trial])[0] > budget:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _fit(units: list[str], budget: int, count: TokenCounter) -> list[tuple[str, int]]:
    """Break any unit longer than ``budget`` into sentences, then words; keep sizes."""
    sizes = count(units)
    fitted: list[tuple[str, int]] = []
    for unit, size in zip(units, sizes, strict=True):
        if size <= budget:
            fitted.append((unit, size))
            continue
        prefix = ""
        bullet = BULLET.match(unit)
        if bullet:
            prefix, unit = unit[: bullet.end()], unit[bullet.end() :]
        sentences = split_sentences(unit)
        for i, sentence in enumerate(sentences):
            piece = prefix + sentence if i == 0 else sentence
            (piece_size,) = count([piece])
            if piece_size <= budget:
                fitted.append((piece, piece_size))
            else:
                for part in _split_words(piece, budget, count):
                    fitted.append((part, count([part])[0]))
    return fitted


def chunk_article(
    article: Article,
    count_tokens: TokenCounter,
    max_tokens: int = 256,
    target_tokens: int = 200,
) -> list[Chunk]:
    """Chunks of one article, in reading order; positions count across sections."""
    chunks: list[Chunk] = []
    position = 0
    for section in article.sections:
        header = chunk_header(article.title, section.heading)
        (header_tokens,) = count_tokens([header])
        # Sizes are counted with special tokens ([CLS], [SEP]) each: subtract them per unit.
        special = count_tokens([""])[0]
        budget = max(16, target_tokens - header_tokens)
        hard_budget = max_tokens - header_tokens
        units = _fit(_units(section.text), budget, count_tokens)
        groups: list[list[str]] = []
        current: list[str] = []
        used = 0
        for unit, size in units:
            size -= special
            if current and used + size > budget:
                groups.append(current)
                current, used = [], 0
            current.append(unit)
            used += size
        if current:
            groups.append(current)
        for group in groups:
            body = _join(group)
            text = header + "\n" + body
            # Joining can add a word piece or two; re-check exactly and split if needed.
            for piece in _enforce(text, header, body, max_tokens, hard_budget, count_tokens):
                chunks.append(_make_chunk(article, section.heading, position, *piece))
                position += 1
    return chunks


def _join(units: list[str]) -> str:
    out: list[str] = []
    for unit in units:
        if out and not (BULLET.match(unit) and BULLET.match(out[-1])):
            out.append("\n" + unit)
        else:
            out.append(unit)
    return "\n".join(out)


def _enforce(
    text: str, header: str, body: str, max_tokens: int, hard_budget: int, count: TokenCounter
) -> list[tuple[str, str]]:
    (size,) = count([text])
    if size <= max_tokens:
        return [(text, body)]
    pieces = _split_words(body, max(8, hard_budget - 4), count)
    return [(header + "\n" + piece, piece) for piece in pieces]


def _make_chunk(article: Article, section: str, position: int, text: str, body: str) -> Chunk:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Chunk(
        chunk_id=f"{article.article_id}::{position:04d}::{digest[:10]}",
        article_id=article.article_id,
        source_path=article.source_path,
        title=article.title,
        section=section,
        publisher=article.publisher,
        url=article.url,
        last_updated=article.last_updated,
        position=position,
        text=text,
        body=body,
        content_hash=digest,
    )
