"""Hybrid retrieval: dense search in Chroma plus BM25 over the same chunks, fused.

Fusion adds to each hit's cosine similarity its BM25 score relative to the query's best
BM25 score, weighted (``Settings.bm25_weight``, chosen by the benchmark in
``scripts/bench_retrieval.py``); weighted reciprocal rank fusion is a setting too.
Every returned hit carries its cosine similarity to the question, which drives the
relevance floor, and near-duplicate chunks (the seed articles repeat each other) are
collapsed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from chatbot.config import Settings
from chatbot.embed import Encoder
from chatbot.store import IndexReader, Snapshot, Table, load_table, save_table

log = logging.getLogger(__name__)


# What a question asks about (cue words anywhere in it) -> the section headings that
# answer that (matched against the hit's section path). A long message that describes
# symptoms for five sentences and ends "what can be done?" is asking about treatment.
SECTION_INTENTS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(cue, re.IGNORECASE), re.compile(heading, re.IGNORECASE))
    for cue, heading in (
        (
            r"\b(treat\w*|cur(e|es|ed|ing)|therap\w*|manag\w*|what can (be|i|we|they) do|"
            r"options?|medicines?|medications?|drugs?|surgery|operation|stop\w*|"
            r"reliev\w*|relief|get rid|ease|what helps|help with)\b",
            r"treat|therap|manag|medicat|pharmacolog",
        ),
        (r"\b(caus\w*|why|reasons?|trigger\w*|risk factors?|at risk)\b", r"caus|risk"),
        (
            r"\b(inherit\w*|pass(ed|ing)? (it |this |them )?(on|down)|hereditary|"
            r"runs? in (the |my |our )?famil\w*|(my|our) (kids|children|son|daughter)s?)\b",
            r"inherit",
        ),
        (r"\b(genes?|mutations?|variants?|dna)\b", r"genetic|genes"),
        (
            r"\b(diagnos\w*|tests?|testing|scans?|exam\w*|confirm\w*|biopsy|check(ed)? for)\b",
            r"diagnos|exam|test",
        ),
        (r"\b(symptoms?|signs?)\b", r"symptom|sign"),
        (
            r"\b(outlook|prognosis|get better|recover\w*|life expectancy|long[- ]term|"
            r"future|live with)\b",
            r"outlook|prognosis",
        ),
        (r"\b(prevent\w*|avoid\w*|reduce (the |my |his |her )?risk)\b", r"prevent"),
        (r"\bcomplications?\b", r"complication"),
        (r"\b(how common|how many people|how rare|prevalen\w*)\b", r"how common|frequen"),
        (r"\bside[- ]?effects?\b", r"side effect"),
        (r"\b(forg[eo]t\w*|missed)\b", r"missed dose"),
        (r"\b(see a doctor|when should|seek (help|care)|worried)\b", r"when to|medical attention"),
    )
)


def section_intents(question: str) -> list[re.Pattern[str]]:
    """Heading patterns of the sections the question asks about."""
    return [heading for cue, heading in SECTION_INTENTS if cue.search(question)]


@dataclass
class Hit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    dense: float = 0.0  # cosine similarity to the question
    bm25: float | None = None
    fused: float = 0.0
    dense_rank: int | None = None
    bm25_rank: int | None = None
    duplicates: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return str(self.metadata.get("body") or self.text)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


# Question words carry no topic: "what" must not match "What you're experiencing...".
QUESTION_WORDS = (
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "how",
    "why",
    "when",
    "where",
    "can",
    "could",
    "should",
    "would",
    "does",
    "do",
    "did",
    "is",
    "am",
    "are",
    "was",
    "were",
    "i",
    "my",
    "me",
    "you",
    "your",
    "much",
    "many",
    "tell",
    "please",
)


@lru_cache(maxsize=1)
def _stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return sorted(set(STOPWORDS_EN) | set(QUESTION_WORDS))


# bm25s's own token pattern (scikit-learn's CountVectorizer default)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stopword_set() -> frozenset[str]:
    return frozenset(_stopwords())


def tokenize(texts: list[str]) -> list[list[str]]:
    """BM25 tokens: lower-cased, English stop and question words out, Snowball-stemmed.

    The same tokens as ``bm25s.tokenize(texts, stopwords=..., stemmer=...,
    return_ids=False)`` (tests/test_chunk.py checks it on every seed text), without its
    per-call cost: it rebuilds the stop-word set for every text and sets up progress
    bars, about 0.4 ms a call, and a turn tokenizes twenty-odd short texts."""
    stop = _stopword_set()
    words = [[w for w in _TOKEN.findall(text.lower()) if w not in stop] for text in texts]
    unique = list(dict.fromkeys(w for ws in words for w in ws))
    stems = dict(zip(unique, _stemmer().stemWords(unique), strict=True))
    return [[stems[w] for w in ws] for ws in words]


class BM25Index:
    """bm25s over the chunk texts, positions as in the snapshot's ``texts``."""

    def __init__(self, retriever: Any, size: int) -> None:
        self.retriever = retriever
        self.size = size
        self.vocab: dict[str, int] = dict(getattr(retriever, "vocab_dict", None) or {})

    @classmethod
    def build(cls, texts: list[str]) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        if self.size:  # bm25s has nothing to save for no texts; load() builds that empty
            self.retriever.save(str(folder))
        info = {"signature": bm25_signature(), "size": self.size}
        (folder / BM25_INFO).write_text(json.dumps(info), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, size: int) -> BM25Index | None:
        """The index :meth:`save` wrote, memory-mapped; None if it is missing, was made
        by another tokenizer (stop words, stemmer, bm25s) or for another chunk table."""
        import bm25s

        try:
            info = json.loads((folder / BM25_INFO).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable BM25 files in %s (%s)", folder, exc)
            return None
        if (
            not isinstance(info, dict)
            or info.get("signature") != bm25_signature()
            or info.get("size") != size
        ):
            log.info("BM25 files in %s are for another tokenizer or table: rebuilding", folder)
            return None
        if size == 0:
            return cls.build([])
        try:
            retriever = bm25s.BM25.load(str(folder), mmap=True)
        except Exception as exc:  # numpy and bm25s raise many kinds for a damaged file
            log.warning("ignoring unreadable BM25 files in %s (%s)", folder, exc)
            return None
        if retriever.scores.get("num_docs") != size:
            log.warning("ignoring BM25 files in %s: they index another number of chunks", folder)
            return None
        return cls(retriever, size)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = [t for t in tokenize([query])[0] if t in self.vocab]
        if not terms or not self.size:
            return []
        docs, scores = self.retriever.retrieve([terms], k=min(k, self.size), show_progress=False)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


BM25_DIR = "bm25"
BM25_INFO = "chatbot.json"
BM25_TOKENIZER = 1  # bump when tokenize() changes in a way the stop words do not show


@lru_cache(maxsize=1)
def bm25_signature() -> str:
    """What a saved BM25 index depends on besides the texts."""
    import bm25s

    words = hashlib.sha256("\n".join(_stopwords()).encode()).hexdigest()[:12]
    return f"tokenizer{BM25_TOKENIZER}/stop-{words}/snowball-english/bm25s-{bm25s.__version__}"


def reader_files_current(folder: Path, chunks: int) -> bool:
    """Would a reader use this version's files (chunk table and BM25) as they are?"""
    return (
        load_table(folder, chunks) is not None
        and BM25Index.load(folder / BM25_DIR, chunks) is not None
    )


def write_reader_files(folder: Path, table: Table) -> None:
    """Save the chunk table and its BM25 index as ``folder``: written and synced in a
    staging folder, then swapped in by renames, so a reader finds whole files or none."""
    for leftover in folder.parent.glob(f".{folder.name}-*"):  # of a killed ingest
        shutil.rmtree(leftover, ignore_errors=True)
    staging = folder.parent / f".{folder.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        save_table(staging, table)
        (staging / BM25_DIR).mkdir()
        BM25Index.build(table[1]).save(staging / BM25_DIR)
        for path in staging.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        trash = folder.parent / f".{folder.name}-old-{uuid.uuid4().hex[:8]}"
        if folder.exists():
            os.replace(folder, trash)
        os.replace(staging, folder)
        shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _bm25_for(snapshot: Snapshot) -> BM25Index:
    index = snapshot.cache.get("bm25")
    if index is None:
        lock = snapshot.cache.setdefault("lock", threading.Lock())
        with lock:
            index = snapshot.cache.get("bm25")
            if index is None:
                started = time.perf_counter()
                size = len(snapshot.texts)
                if snapshot.files is not None:
                    index = BM25Index.load(snapshot.files / BM25_DIR, size)
                how = "loaded"
                if index is None:
                    index, how = BM25Index.build(snapshot.texts), "built"
                snapshot.cache["bm25"] = index
                log.info(
                    "BM25 over %d chunks %s in %.0f ms",
                    size,
                    how,
                    (time.perf_counter() - started) * 1000,
                )
    return index


class HybridRetriever:
    """Dense + BM25, fused, with duplicate collapsing."""

    def __init__(self, reader: IndexReader, encoder: Encoder, settings: Settings) -> None:
        self.reader = reader
        self.encoder = encoder
        self.settings = settings

    def warm(self) -> None:
        """Load the served version, its BM25 index and its title table now rather than on
        the first question."""
        snapshot = self.reader.snapshot()
        _bm25_for(snapshot)
        _titles_of(snapshot)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        dense_weight: float | None = None,
        bm25_weight: float | None = None,
        section_boost: float | None = None,
        title_boost: float | None = None,
        timings: dict[str, float] | None = None,
        snapshot: Snapshot | None = None,
    ) -> list[Hit]:
        s = self.settings
        k = k or s.top_k
        wd = s.dense_weight if dense_weight is None else dense_weight
        wb = s.bm25_weight if bm25_weight is None else bm25_weight
        timings = timings if timings is not None else {}
        snapshot = snapshot or self.reader.snapshot()
        if not snapshot.ids:
            return []
        clock = time.perf_counter()
        qvec = self.encoder.embed_query(query)
        timings["embed_ms"] = _ms(clock)

        clock = time.perf_counter()
        n = min(s.candidate_k, len(snapshot.ids))
        dense = snapshot.collection.query(
            query_embeddings=[qvec.tolist()],
            n_results=n,
            include=["distances", "embeddings"],
        )
        timings["dense_ms"] = _ms(clock)
        dense_ids: list[str] = dense["ids"][0]
        vectors: dict[str, np.ndarray] = {
            cid: np.asarray(vec, dtype=np.float32)
            for cid, vec in zip(dense_ids, dense["embeddings"][0], strict=True)
        }

        clock = time.perf_counter()
        bm25_hits: list[tuple[int, float]] = []
        if wb > 0:
            bm25_hits = _bm25_for(snapshot).search(query, s.candidate_k)
        timings["bm25_ms"] = _ms(clock)

        clock = time.perf_counter()
        hits: dict[str, Hit] = {}
        position = snapshot.position
        if wd > 0:
            for rank, cid in enumerate(dense_ids, start=1):
                hits[cid] = self._hit(snapshot, position, cid)
                hits[cid].dense_rank = rank
        for rank, (index, score) in enumerate(bm25_hits, start=1):
            cid = snapshot.ids[index]
            hit = hits.get(cid) or self._hit(snapshot, position, cid)
            hit.bm25, hit.bm25_rank = score, rank
            hits[cid] = hit
        missing = [cid for cid in hits if cid not in vectors]
        if missing:
            got = snapshot.collection.get(ids=missing, include=["embeddings"])
            vectors.update(
                (cid, np.asarray(vec, dtype=np.float32))
                for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
            )
        top_bm25 = bm25_hits[0][1] if bm25_hits else 1.0
        boost = s.section_boost if section_boost is None else section_boost
        intents = section_intents(query) if boost > 0 else []
        named_boost = s.title_boost if title_boost is None else title_boost
        named = named_articles(snapshot, query) if named_boost > 0 else set()
        for cid, hit in hits.items():
            hit.dense = float(vectors[cid] @ qvec) if cid in vectors else 0.0
            hit.fused = _fuse(hit, wd, wb, top_bm25, s.fusion, s.rrf_k)
            section = str(hit.metadata.get("section", ""))
            if any(pattern.search(section) for pattern in intents):
                hit.fused += boost
            if str(hit.metadata.get("article_id", "")) in named:
                hit.fused += named_boost
        ranked = sorted(hits.values(), key=lambda h: (-h.fused, -h.dense))
        result = _collapse(ranked, vectors, s.near_duplicate, k)
        timings["fuse_ms"] = _ms(clock)
        return result

    def search_sections(
        self,
        query: str,
        k: int | None = None,
        *,
        timings: dict[str, float] | None = None,
        snapshot: Snapshot | None = None,
        **weights: float | None,
    ) -> list[Hit]:
        """The best ``k`` article sections, each whole, ranked by their best chunk.

        A section is what answers a question ("Treatment", "When to Seek Medical
        Attention"), and a chunk is only a piece of one: the answerer needs the whole
        list, and a section found twice is one source, not two.
        """
        k = k or self.settings.top_k
        # one version for the chunks and the sections they are read from: an ingest may
        # publish between two reads of the pointer
        snapshot = snapshot or self.reader.snapshot()
        chunks = self.search(
            query,
            max(4 * k, self.settings.candidate_k),
            timings=timings,
            snapshot=snapshot,
            dense_weight=weights.get("dense_weight"),
            bm25_weight=weights.get("bm25_weight"),
            section_boost=weights.get("section_boost"),
            title_boost=weights.get("title_boost"),
        )
        clock = time.perf_counter()
        members = _sections_of(snapshot)
        grouped: dict[tuple[str, str], Hit] = {}
        for hit in chunks:  # best first: a section's first chunk is its best
            key = _section_key(hit.metadata)
            if key not in grouped and len(grouped) < k:
                grouped[key] = self._section_hit(snapshot, hit, members.get(key, []))
        if timings is not None:
            timings["sections_ms"] = _ms(clock)
        return list(grouped.values())

    def knows(self, stem: str, snapshot: Snapshot | None = None) -> bool:
        """Whether any chunk of the index uses this BM25 term ("quinine" in a library
        about cramps: no)."""
        return stem in _bm25_for(snapshot or self.reader.snapshot()).vocab

    def article_terms(self, article_id: str, snapshot: Snapshot | None = None) -> frozenset[str]:
        """Every BM25 term of one article (all its chunks), cached per index version: what
        a question's subject is checked against ("diabetes" is in no spasm article)."""
        snapshot = snapshot or self.reader.snapshot()
        cache: dict[str, frozenset[str]] = snapshot.cache.setdefault("article_terms", {})
        terms = cache.get(article_id)
        if terms is None:
            chunks: dict[str, list[int]] | None = snapshot.cache.get("article_chunks")
            if chunks is None:  # once per index version: every article's chunk positions
                chunks = {}
                for (article, _), indices in _sections_of(snapshot).items():
                    chunks.setdefault(article, []).extend(indices)
                snapshot.cache["article_chunks"] = chunks
            texts = [snapshot.texts[i] for i in chunks.get(article_id, [])]
            terms = (
                frozenset(t for tokens in tokenize(texts) for t in tokens) if texts else frozenset()
            )
            cache[article_id] = terms
        return terms

    @staticmethod
    def _section_hit(snapshot: Snapshot, best: Hit, indices: list[int]) -> Hit:
        bodies = [str(snapshot.metadatas[i].get("body") or snapshot.texts[i]) for i in indices]
        body = "\n\n".join(b.strip() for b in bodies if b.strip()) or best.body
        meta = dict(best.metadata)
        meta["body"] = body
        meta["matched_body"] = best.body  # the part of the section the search matched
        header = (
            best.text[: len(best.text) - len(best.body)] if best.text.endswith(best.body) else ""
        )
        return Hit(
            chunk_id=best.chunk_id,
            text=(header + body) if header else body,
            metadata=meta,
            dense=best.dense,
            bm25=best.bm25,
            fused=best.fused,
            dense_rank=best.dense_rank,
            bm25_rank=best.bm25_rank,
            duplicates=list(best.duplicates),
        )

    @staticmethod
    def _hit(snapshot: Snapshot, position: dict[str, int], cid: str) -> Hit:
        i = position[cid]
        return Hit(chunk_id=cid, text=snapshot.texts[i], metadata=snapshot.metadatas[i])


def _section_key(metadata: dict[str, Any]) -> tuple[str, str]:
    return str(metadata.get("article_id", "")), str(metadata.get("section", ""))


# what a title says before its subject: "Do you have information about Nicotine and tobacco"
_TITLE_PREFIX = re.compile(
    r"^\s*(do you have information about|what (is|are)|what i need to know about|"
    r"learning about|facts about|understanding|all about|a guide to|guide to|about)\s+",
    re.IGNORECASE,
)
_LONGEST_TITLE = 8  # words


def _titles_of(snapshot: Snapshot) -> dict[tuple[str, ...], frozenset[str]]:
    """An article title's subject as BM25 tokens -> the articles that carry that title."""
    titles = snapshot.cache.get("titles")
    if titles is None:
        by_title: dict[str, set[str]] = {}
        for meta in snapshot.metadatas:
            title = str(meta.get("title", "")).strip()
            if title:
                by_title.setdefault(_TITLE_PREFIX.sub("", title), set()).add(
                    str(meta.get("article_id", ""))
                )
        names = list(by_title)
        grouped: dict[tuple[str, ...], set[str]] = {}
        for name, tokens in zip(names, tokenize(names), strict=True):
            key = tuple(tokens)
            # one short common word ("pain", "cold") names too much to count as a title
            if 0 < len(key) <= _LONGEST_TITLE and (len(key) > 1 or len(key[0]) >= 5):
                grouped.setdefault(key, set()).update(by_title[name])
        titles = {key: frozenset(ids) for key, ids in grouped.items()}
        snapshot.cache["titles"] = titles
    return titles


def named_articles(snapshot: Snapshot, query: str) -> set[str]:
    """The articles whose title the question names, longest names first: "Duchenne
    muscular dystrophy" names that article, not every muscular dystrophy one as well."""
    titles = _titles_of(snapshot)
    tokens = tokenize([query])[0]
    found: set[str] = set()
    covered = [False] * len(tokens)
    for size in range(min(_LONGEST_TITLE, len(tokens)), 0, -1):
        for start in range(len(tokens) - size + 1):
            ids = titles.get(tuple(tokens[start : start + size]))
            if ids and not all(covered[start : start + size]):
                found |= ids
                covered[start : start + size] = [True] * size
    return found


def _sections_of(snapshot: Snapshot) -> dict[tuple[str, str], list[int]]:
    """(article, section) -> its chunks' positions in the snapshot, in reading order."""
    members = snapshot.cache.get("sections")
    if members is None:
        grouped: dict[tuple[str, str], list[int]] = {}
        for i, meta in enumerate(snapshot.metadatas):
            grouped.setdefault(_section_key(meta), []).append(i)
        for indices in grouped.values():
            indices.sort(key=lambda i: int(snapshot.metadatas[i].get("position", 0) or 0))
        snapshot.cache["sections"] = members = grouped
    return members


def _fuse(hit: Hit, wd: float, wb: float, top_bm25: float, fusion: str, rrf_k: int) -> float:
    """Score fusion (default): cosine plus the BM25 score relative to the query's best.

    Measured on MedQuAD (docs/benchmarks.md) it beats dense alone and reciprocal rank
    fusion, which throws the scores away and lets noisy BM25 ranks of long, chatty
    questions push good dense hits down.
    """
    if fusion == "rrf":
        dense_part = wd / (rrf_k + hit.dense_rank) if hit.dense_rank and wd > 0 else 0.0
        bm25_part = wb / (rrf_k + hit.bm25_rank) if hit.bm25_rank else 0.0
        return dense_part + bm25_part
    bm25 = (hit.bm25 or 0.0) / top_bm25 if top_bm25 > 0 else 0.0
    return wd * hit.dense + wb * bm25


def _collapse(
    ranked: list[Hit], vectors: dict[str, np.ndarray], threshold: float, k: int
) -> list[Hit]:
    kept: list[Hit] = []
    for hit in ranked:
        vec = vectors.get(hit.chunk_id)
        twin = None
        if vec is not None:
            for other in kept:
                other_vec = vectors.get(other.chunk_id)
                if other_vec is not None and float(vec @ other_vec) >= threshold:
                    twin = other
                    break
        if twin is not None:
            twin.duplicates.append(hit.chunk_id)
            continue
        kept.append(hit)
        if len(kept) == k:
            break
    return kept


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def hit_to_document(hit: Hit) -> Document:
    meta = dict(hit.metadata)
    meta.update(
        chunk_id=hit.chunk_id,
        dense=hit.dense,
        bm25=hit.bm25,
        fused=hit.fused,
        dense_rank=hit.dense_rank,
        bm25_rank=hit.bm25_rank,
    )
    return Document(page_content=hit.text, metadata=meta, id=hit.chunk_id)


class LangChainRetriever(BaseRetriever):
    """The hybrid retriever behind LangChain's retriever interface."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    hybrid: HybridRetriever
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [hit_to_document(h) for h in self.hybrid.search(query, self.k)]
