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

from chatbot.text import BULLET, split_sentences
from ingest.models import Article, Chunk

log = logging.getLogger(__name__)

TokenCounter = Callable[[Sequence[str]], list[int]]

# Bump when chunk boundaries or texts change for the same input: an index built by
# another chunker version is re-chunked on the next sync (vectors of identical chunk
# texts are reused).
CHUNKER_VERSION = 2


def chunker_signature(max_tokens: int, target_tokens: int) -> str:
    return f"v{CHUNKER_VERSION}/max{max_tokens}/target{target_tokens}"


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
    """Last resort for one over-long sentence: cut on word boundaries.

    Word pieces never cross whitespace, so a text's count is the sum of its words'
    counts: one tokenizer call, then a linear pass.
    """
    words = text.split()
    if not words:
        return []
    special = count([""])[0]
    sizes = [n - special for n in count(words)]
    pieces: list[str] = []
    current: list[str] = []
    used = special
    for word, size in zip(words, sizes, strict=True):
        if current and used + size > budget:
            pieces.append(" ".join(current))
            current, used = [], special
        current.append(word)
        used += size
    if current:
        pieces.append(" ".join(current))
    return pieces


def _fit(
    units: list[str], sizes: list[int], budget: int, count: TokenCounter
) -> list[tuple[str, int]]:
    """Break any unit longer than ``budget`` into sentences, then words; keep sizes."""
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
        pieces = [prefix + sentences[0], *sentences[1:]] if sentences else []
        for piece, piece_size in zip(pieces, count(pieces) if pieces else [], strict=True):
            if piece_size <= budget:
                fitted.append((piece, piece_size))
            else:
                parts = _split_words(piece, budget, count)
                fitted.extend(zip(parts, count(parts), strict=True))
    return fitted


def chunk_article(
    article: Article,
    count_tokens: TokenCounter,
    max_tokens: int = 256,
    target_tokens: int = 200,
) -> list[Chunk]:
    """Chunks of one article, in reading order; positions count across sections."""
    sections = [s for s in article.sections if s.text.strip()]
    if not sections:
        return []
    headers = [chunk_header(article.title, s.heading) for s in sections]
    # One tokenizer call for all headers and one for all units: calls, not tokens, cost.
    special, *header_sizes = count_tokens(["", *headers])
    units_per_section = [_units(s.text) for s in sections]
    flat = [u for units in units_per_section for u in units]
    flat_sizes = iter(count_tokens(flat)) if flat else iter(())
    chunks: list[Chunk] = []
    position = 0
    for section, header, header_tokens, units in zip(
        sections, headers, header_sizes, units_per_section, strict=True
    ):
        budget = max(16, target_tokens - header_tokens)
        sized = _fit(units, [next(flat_sizes) for _ in units], budget, count_tokens)
        groups: list[tuple[list[str], int]] = []
        current: list[str] = []
        used = 0
        for unit, size in sized:
            size -= special
            if current and used + size > budget:
                groups.append((current, used))
                current, used = [], 0
            current.append(unit)
            used += size
        if current:
            groups.append((current, used))
        for group, used in groups:
            body = _join(group)
            text = header + "\n" + body
            if header_tokens + used <= max_tokens - 4:
                # Word pieces never cross whitespace, so the packed count is exact.
                chunks.append(_make_chunk(article, section.heading, position, text, body))
                position += 1
                continue
            for piece in _enforce(
                text, header, body, max_tokens, max_tokens - header_tokens, count_tokens
            ):
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
    """The exact check of the bound; splits the rare chunk that packing let run over."""
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
