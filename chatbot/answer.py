"""Answers built only from retrieved text, with checked ``[n]`` citations.

* :func:`chatbot.compose.compose` is the default, offline answerer (section first).
* :func:`enforce_citations` runs on every answer, composed or LLM-written: a sentence
  that cites no real source is dropped, and the sources are renumbered 1..m in order
  of first use so that every ``[n]`` resolves and every listed source is used.
* The disclaimer is appended by :func:`finalize`, the one exit every reply goes through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chatbot.reply import Citation, Kind, Reply
from chatbot.retrieve import Hit
from chatbot.text import BULLET

SOURCE_MARKER = re.compile(r"\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")
CITATION = re.compile(r"\[(\d+)\]")

# Said before any reply to a question naming something no article mentions.
NOT_MENTIONED = "The articles in this library don't mention {names}."
# ... and the reply when nothing else the question asks about is in them.
NOT_COVERED = (
    "The articles in this library don't mention {names}, so I can't answer that reliably. "
    "Please ask a doctor, pharmacist or other qualified health professional."
)

NO_ANSWER = (
    "I'm sorry, the articles in this library don't cover that question, so I can't "
    "answer it reliably. Please ask a doctor, pharmacist or other qualified health "
    "professional."
)


@dataclass
class Source:
    """A retrieved chunk as numbered for the answerer."""

    n: int
    hit: Hit

    def citation(self, snippet: str) -> Citation:
        m = self.hit.metadata
        return Citation(
            n=self.n,
            title=str(m.get("title", "")),
            publisher=str(m.get("publisher", "")),
            section=str(m.get("section", "")),
            url=str(m.get("url", "")),
            last_updated=str(m.get("last_updated", "")),
            source=str(m.get("source_path", "")),
            article_id=str(m.get("article_id", "")),
            chunk_id=self.hit.chunk_id,
            snippet=snippet,
        )


@dataclass
class Draft:
    """Answer text with ``[n]`` markers over ``sources``, before checks and disclaimer."""

    text: str
    sources: list[Source]
    snippets: dict[int, list[str]] = field(default_factory=dict)  # n -> supporting text
    sentences: list[str] = field(default_factory=list)


def strip_source_markers(text: str) -> str:
    """Remove the article's own reference markers so they are not taken for ours."""
    return SOURCE_MARKER.sub("", text).strip()


def number_sources(hits: list[Hit]) -> list[Source]:
    return [Source(n=i, hit=hit) for i, hit in enumerate(hits, start=1)]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])|\n+")


def enforce_citations(draft: Draft, require_citation: bool = True) -> tuple[str, list[Citation]]:
    """Drop what cites nothing real; renumber sources 1..m in order of first use."""
    valid = {s.n: s for s in draft.sources}
    kept_pieces: list[str] = []
    for piece in _pieces(draft.text):
        if piece == "\n":
            kept_pieces.append(piece)
            continue
        cited = [int(n) for n in CITATION.findall(piece)]
        real = [n for n in cited if n in valid]
        if cited and not real:
            continue  # cites only sources that were never given
        if not cited and require_citation and not _is_structural(piece):
            continue
        piece = CITATION.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", piece)
        kept_pieces.append(piece)
    text = _join_pieces(kept_pieces)
    order: dict[int, int] = {}
    for match in CITATION.finditer(text):
        order.setdefault(int(match.group(1)), len(order) + 1)
    text = CITATION.sub(lambda m: f"[{order[int(m.group(1))]}]", text)
    citations = []
    for old, new in order.items():
        snippet = " … ".join(draft.snippets.get(old, [])) or _excerpt(valid[old].hit.body)
        citation = valid[old].citation(snippet)
        citation.n = new
        citations.append(citation)
    return text.strip(), citations


def _pieces(text: str) -> list[str]:
    """Sentences and list lines, keeping the newlines as their own pieces."""
    pieces: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            pieces.append("\n")
            continue
        if BULLET.match(line):
            pieces.append(line.rstrip())
        else:
            pieces.extend(p for p in _SENTENCE_END.split(line.strip()) if p)
        pieces.append("\n")
    return pieces


def _join_pieces(pieces: list[str]) -> str:
    out = ""
    for piece in pieces:
        if piece == "\n":
            out = out.rstrip(" ") + "\n"
        elif not out or out.endswith("\n"):
            out += piece
        else:
            out += " " + piece
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


def _is_structural(piece: str) -> bool:
    """Headings like 'Here is what the sources say:' need no citation of their own."""
    return piece.strip().endswith(":") and len(piece.split()) <= 25


def _excerpt(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: text.rfind(" ", 0, limit)] + " …"


def finalize(
    kind: Kind,
    body: str,
    disclaimer: str,
    *,
    citations: list[Citation] | None = None,
    query: str = "",
) -> Reply:
    """The one way a reply is made: the disclaimer is always the last thing in it."""
    body = body.strip()
    if disclaimer in body:  # never twice, and never anywhere but last
        body = body.replace(disclaimer, "").strip()
    answer = f"{body}\n\n{disclaimer}" if body else disclaimer
    return Reply(
        kind=kind,
        answer=answer,
        citations=citations or [],
        disclaimer=disclaimer,
        query=query,
    )
