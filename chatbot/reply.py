"""The typed reply every front end (CLI, app, eval, tests) receives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["answer", "no_answer", "emergency", "urgent", "error"]


class Citation(BaseModel):
    n: int
    title: str
    publisher: str = ""
    section: str = ""
    url: str = ""
    last_updated: str = ""
    source: str = ""  # article source path, relative to the articles directory
    article_id: str = ""
    chunk_id: str = ""
    snippet: str = ""  # the source text that supports the cited sentences


class RetrievedChunk(BaseModel):
    """What staff inspect: one retrieved chunk and why it ranked where it did."""

    chunk_id: str
    article_id: str
    title: str
    section: str
    source: str
    text: str
    dense: float | None = None  # cosine similarity, None when only BM25 found it
    bm25: float | None = None
    fused: float = 0.0
    dense_rank: int | None = None
    bm25_rank: int | None = None


class TriageRecord(BaseModel):
    """What triage decided for a message, for staff inspection (never logged verbatim)."""

    level: str = "none"  # emergency, urgent or none
    categories: list[str] = Field(default_factory=list)
    crisis: bool = False  # the crisis line was given
    language: str = "en"
    safety_net: bool = False
    evidence: list[str] = Field(default_factory=list)


class Reply(BaseModel):
    kind: Kind
    answer: str  # the full text shown to the person, disclaimer included, last
    citations: list[Citation] = Field(default_factory=list)
    disclaimer: str
    query: str = ""  # the standalone question that was searched
    timings: dict[str, float] = Field(default_factory=dict)  # milliseconds per step
    retrieved: list[RetrievedChunk] = Field(default_factory=list)
    sentences: list[str] = Field(default_factory=list)  # sentences chosen for the answer
    backend: str = "composer"
    triage: TriageRecord | None = None  # "composer", "llm:<provider>", or "composer (llm fallback)"
