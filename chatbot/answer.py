"""Answers built only from retrieved text, with checked ``[n]`` citations.

* :func:`compose` is the default, offline answerer: it picks sentences (and list items)
  of the retrieved chunks by relevance to the standalone question, drops ones that
  repeat each other, and tags each with the number of the source it came from.
* :func:`enforce_citations` runs on every answer, composed or LLM-written: a sentence
  that cites no real source is dropped, and the sources are renumbered 1..m in order
  of first use so that every ``[n]`` resolves and every listed source is used.
* The disclaimer is appended by :func:`finalize`, the one exit every reply goes through.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from chatbot.reply import Citation, Kind, Reply
from chatbot.retrieve import Hit, tokenize
from ingest.chunk import BULLET, split_sentences

SOURCE_MARKER = re.compile(r"\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")
CITATION = re.compile(r"\[(\d+)\]")

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


@dataclass
class _Unit:
    text: str  # as in the source
    source: int
    order: int
    bullet: bool
    lead_in: bool  # ends with ":" and introduces the bullets after it
    stems: frozenset[str]
    sequence: tuple[str, ...] = ()
    context: frozenset[str] = frozenset()  # stems of the section heading
    followers: list[_Unit] = field(default_factory=list)
    virtual: bool = False  # a section heading standing in for a list's missing lead-in


# A sentence that announces content after it ("provides the following list", "the table
# below") says nothing on its own; it is kept only with the list items that follow it.
_POINTS_ELSEWHERE = re.compile(
    r"\bthe following (list|table|chart)s?\b|\b(table|list|chart|figure)s? below\b|"
    r"\b(listed|shown|described) below\b|\bthe following\W*$",
    re.IGNORECASE,
)


# A sentence about the web page the article was captured from, not about health:
# "To reduce the video, press the Escape (Esc) button", "click here", "use the
# MedlinePlus Medical Dictionary to look up the definitions", "See a glossary".
_ABOUT_THE_PAGE = re.compile(
    r"\b(click(ing)? (here|the)|press(ing)? the (escape|esc|enter|return)( \(\w+\))? (button|key)|"
    r"(watch|view|enlarge|reduce) the videos?|on this page|this page at|"
    r"look up the definitions|see (a|the) glossary|search the \w+( \w+)? library)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _split(body: str) -> tuple[tuple[str, bool], ...]:
    """(text, is_bullet) units of a chunk body: list items and sentences."""
    units: list[tuple[str, bool]] = []
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        if BULLET.match(line):
            units.append((BULLET.sub("", line).strip(), True))
        else:
            units.extend((s, False) for s in split_sentences(line))
    return tuple(units)


def strip_source_markers(text: str) -> str:
    """Remove the article's own reference markers so they are not taken for ours."""
    return SOURCE_MARKER.sub("", text).strip()


def number_sources(hits: list[Hit]) -> list[Source]:
    return [Source(n=i, hit=hit) for i, hit in enumerate(hits, start=1)]


def _units(sources: list[Source]) -> list[_Unit]:
    units: list[_Unit] = []
    for source in sources:
        pieces = _split(source.hit.body)
        texts = [strip_source_markers(text) for text, _ in pieces]
        stems = tokenize(texts) if texts else []
        previous_lead: _Unit | None = None
        for order, ((raw, bullet), clean, tokens) in enumerate(
            zip(pieces, texts, stems, strict=True)
        ):
            if (
                len(clean) < 3
                or (not bullet and clean.endswith("?"))  # a question ("What causes X?")
                or _ABOUT_THE_PAGE.search(clean)
                or (not bullet and len(clean.split()) < 2)  # a stray heading word
            ):
                if not bullet:
                    previous_lead = None  # it ends the list before it all the same
                continue
            unit = _Unit(
                text=raw,
                source=source.n,
                order=order,
                bullet=bullet,
                lead_in=clean.endswith(":") or bool(_POINTS_ELSEWHERE.search(clean)),
                stems=frozenset(tokens),
                sequence=tuple(tokens),
                context=frozenset(tokenize([str(source.hit.metadata.get("section", ""))])[0]),
            )
            if bullet and previous_lead is None:
                # A list with no lead-in sentence: its section heading introduces it.
                label = _section_label([source], source.n)
                previous_lead = _Unit(
                    text=f"{label}:",
                    source=source.n,
                    order=order,
                    bullet=False,
                    lead_in=True,
                    stems=unit.context,
                    sequence=tuple(tokenize([label])[0]),
                    context=unit.context,
                    virtual=True,
                )
                units.append(previous_lead)
            if bullet and previous_lead is not None:
                previous_lead.followers.append(unit)
            elif not bullet:
                previous_lead = unit if unit.lead_in else None
            units.append(unit)
    return units


_DEFINITION_Q = re.compile(r"^\s*(what|who)\s*(is|are|'s)\b|\bdefin|\bmeaning\b", re.IGNORECASE)
_DEFINES = re.compile(r"^(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,4}(?:is|are)\s", re.IGNORECASE)


def _score(unit: _Unit, query: list[str], idf: dict[str, float], definitional: bool) -> float:
    """Query-term overlap (rarer terms count more), in the sentence or its section heading."""
    overlap = 0.0
    for term in set(query):
        if term in unit.stems:
            overlap += idf.get(term, 1.0)
        elif term in unit.context:
            overlap += 0.5 * idf.get(term, 1.0)
    if overlap == 0:
        return 0.0
    score = overlap / math.log(3 + len(unit.stems))
    pairs = set(itertools.pairwise(query))
    if pairs and pairs & set(itertools.pairwise(unit.sequence)):
        score *= 1.25  # the question's words in the same order: "muscle spasm"
    if definitional and not unit.bullet and _DEFINES.match(strip_source_markers(unit.text)):
        score *= 1.6
    return score + 0.05 / unit.source  # earlier-ranked sources break ties


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= 0.6


def compose(
    query: str,
    sources: list[Source],
    *,
    max_words: int = 130,
    max_items: int = 7,
) -> Draft:
    """A short answer made only of retrieved sentences, each tagged with its source."""
    units = _units(sources)
    query_terms = tokenize([query])[0] if query.strip() else []
    if not units or not query_terms:
        return Draft(text="", sources=sources)
    # Terms every retrieved unit shares say little about which one answers: weight by rarity.
    df = Counter(t for u in units for t in u.stems)  # a heading counts once, via its list
    idf = {t: math.log(1 + len(units) / (1 + df[t])) for t in query_terms}
    definitional = bool(_DEFINITION_Q.search(query))
    scored = sorted(
        (
            (_score(u, query_terms, idf, definitional), u)
            for u in units
            if not (u.lead_in and not u.followers)  # a lead-in whose list was lost
        ),
        key=lambda pair: (-pair[0], pair[1].source, pair[1].order),
    )
    best = scored[0][0] if scored else 0.0
    if best <= 0:
        return Draft(text="", sources=sources)

    chosen: list[_Unit] = []
    words = 0
    for score, unit in scored:
        if score < 0.35 * best or len(chosen) >= max_items or words >= max_words:
            break
        group = [unit, *unit.followers[:8]] if unit.lead_in else [unit]
        group = [g for g in group if g not in chosen]
        if not group or any(_similar(unit.stems, c.stems) for c in chosen):
            continue
        chosen.extend(group)
        words += sum(len(g.text.split()) for g in group)

    # Sentences first, best first; then each list under its lead-in (or its section name).
    snippets: dict[int, list[str]] = {}
    sentences: list[str] = []
    paragraph: list[str] = []
    lists: dict[tuple[int, str], list[str]] = {}
    heads: dict[tuple[int, str], str] = {}
    owner = {id(f): u for u in chosen if u.lead_in for f in u.followers}
    for unit in chosen:
        if unit.virtual:
            key = (unit.source, unit.text)
            heads[key] = unit.text
            lists.setdefault(key, [])
            continue
        snippets.setdefault(unit.source, []).append(unit.text)
        sentences.append(unit.text)
        tagged = _tag(strip_source_markers(unit.text), unit.source)
        if unit.lead_in:
            key = (unit.source, unit.text)
            heads[key] = tagged
            lists.setdefault(key, [])
        elif unit.bullet:
            lead = owner.get(id(unit))
            key = (unit.source, lead.text if lead else "")
            if key not in heads:
                section = _section_label(sources, unit.source)
                heads[key] = f"{section}:" if section else ""
            lists.setdefault(key, []).append(f"- {tagged}")
        else:
            paragraph.append(tagged)
    blocks = [" ".join(paragraph)] if paragraph else []
    for key, items in lists.items():
        blocks.append("\n".join(x for x in [heads.get(key, ""), *items] if x))
    return Draft(text="\n\n".join(blocks), sources=sources, snippets=snippets, sentences=sentences)


def _section_label(sources: list[Source], n: int) -> str:
    for source in sources:
        if source.n == n:
            section = str(source.hit.metadata.get("section", ""))
            return section.split(">")[-1].strip()
    return ""


def _tag(sentence: str, n: int) -> str:
    sentence = sentence.rstrip()
    if sentence.endswith(":"):
        return f"{sentence[:-1]} [{n}]:"
    if sentence and sentence[-1] in ".!?":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


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
