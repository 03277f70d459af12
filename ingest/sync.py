"""Incremental, idempotent sync of article files into the versioned index.

A manifest of content hashes decides what changed. Unchanged articles are skipped
without loading or embedding; changed ones are re-chunked and replaced (vectors of
chunks whose text did not change are reused); removed files are deleted; a renamed
file (same bytes, new path) is moved without re-embedding. Nothing is published until
the whole new version is written; see :mod:`chatbot.store`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from chatbot.config import Settings
from chatbot.embed import Encoder, encoder_identity, load_token_counter
from chatbot.store import (
    Backend,
    EncoderMismatch,
    IndexCorrupt,
    Manifest,
    Pointer,
    StoreError,
    make_backend,
    next_version_name,
    read_chunks,
)
from ingest.chunk import chunk_article, chunker_signature
from ingest.load import discover, load_article, source_hash
from ingest.models import Article, Chunk, LoadError

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # done, total, what


class IngestBusy(StoreError):
    pass


@dataclass
class SyncReport:
    store: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    rechunked: list[str] = field(default_factory=list)  # same file, new chunker settings
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    chunks: int = 0  # chunks in the served index after the sync
    embedded: int = 0  # chunks embedded by this run
    reused: int = 0  # chunks whose vectors were reused
    seconds: float = 0.0
    version: str | None = None  # the version served after the sync
    dry_run: bool = False
    rebuild: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.renamed or self.removed or self.rechunked)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["renamed"] = [{"from": a, "to": b} for a, b in self.renamed]
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        data["unchanged"] = len(self.unchanged)
        return data

    def render(self) -> str:
        verb = "Would change" if self.dry_run else "Index"
        lines = [
            f"{verb}: {self.store} (version {self.version or 'none'})",
            f"  added      {len(self.added)}",
            f"  updated    {len(self.updated)}",
            f"  renamed    {len(self.renamed)}",
            f"  rechunked  {len(self.rechunked)}",
            f"  removed    {len(self.removed)}",
            f"  unchanged  {len(self.unchanged)}",
            f"  failed     {len(self.failed)}",
            f"  chunks     {self.chunks} in index, {self.embedded} embedded, {self.reused} reused",
            f"  seconds    {self.seconds:.2f}",
        ]
        for label, items in (
            ("added", self.added),
            ("updated", self.updated),
            ("removed", self.removed),
        ):
            lines.extend(f"  {label}: {item}" for item in items)
        lines.extend(f"  renamed: {a} -> {b}" for a, b in self.renamed)
        lines.extend(f"  repaired: {item}" for item in self.repaired)
        lines.extend(f"  FAILED: {path}: {reason}" for path, reason in self.failed)
        return "\n".join(lines)


def relative_source(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _in_scope(source: str, root: Path, scope: list[Path]) -> bool:
    """Is the article at ``source`` under one of ``scope`` (resolved paths)?"""
    absolute = (root / source).resolve() if not Path(source).is_absolute() else Path(source)
    return any(absolute == item or item in absolute.parents for item in scope)


def _entry(article: Article, chunks: list[Chunk], digest: str) -> dict[str, Any]:
    return {
        "article_id": article.article_id,
        "title": article.title,
        "publisher": article.publisher,
        "url": article.url,
        "last_updated": article.last_updated,
        "review_status": article.review_status,
        "references": article.references,
        "content_hash": digest,
        "chunk_ids": [c.chunk_id for c in chunks],
        "chunk_hashes": [c.content_hash for c in chunks],
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _chunk_metadata(chunk: Chunk, article: Article) -> dict[str, str | int]:
    meta = chunk.metadata()
    meta["review_status"] = article.review_status
    meta["references"] = json.dumps(article.references, ensure_ascii=False)
    return meta


def _repair(backend: Backend, pointer: Pointer | None) -> list[str]:
    """Remove versions that an interrupted ingest left unfinished."""
    repaired = []
    for version in backend.list_versions():
        if (pointer is None or version != pointer.version) and not backend.is_complete(version):
            backend.delete_version(version)
            repaired.append(f"removed incomplete version {version} left by an interrupted ingest")
    return repaired


def _gc(backend: Backend, keep: int, current: str) -> None:
    complete = [v for v in backend.list_versions() if backend.is_complete(v)]
    for version in complete[:-keep]:
        if version != current:
            backend.delete_version(version)


def _ensure_reader_files(
    backend: Backend, version: str, chunks: int, collection: Any = None
) -> bool:
    """Write the version's reader files (chunk table, BM25) unless they are current.
    They are derived from the version's own collection, so they cannot disagree with it."""
    from chatbot.retrieve import reader_files_current, write_reader_files

    folder = backend.reader_dir(version)
    if folder is None or reader_files_current(folder, chunks):
        return False
    started = time.perf_counter()
    table = read_chunks(collection if collection is not None else backend.open_version(version))
    if len(table[0]) != chunks:
        raise IndexCorrupt(
            f"Index version {version} holds {len(table[0])} chunks, its manifest {chunks}. "
            "Rebuild it: python -m ingest --rebuild"
        )
    write_reader_files(folder, table)
    log.info("reader files of %s written in %.1f s", version, time.perf_counter() - started)
    return True


def _batched(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sync(
    settings: Settings,
    paths: Iterable[Path] | None = None,
    *,
    encoder: Encoder | None = None,
    backend: Backend | None = None,
    dry_run: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    show_progress: bool = False,
) -> SyncReport:
    """Bring the index in line with the article files. See the module docstring."""
    started = time.perf_counter()
    backend = backend or make_backend(settings)
    report = SyncReport(store=backend.description, dry_run=dry_run, rebuild=rebuild)
    lock_path = backend.lock_path()
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise IngestBusy(
            f"Another ingest is already running on {backend.description} "
            f"(lock {lock_path}). Wait for it to finish, then run this again."
        ) from None
    try:
        _sync_locked(settings, paths, encoder, backend, report, progress, show_progress)
    finally:
        lock.release()
        report.seconds = round(time.perf_counter() - started, 3)
    return report


def _sync_locked(
    settings: Settings,
    paths: Iterable[Path] | None,
    encoder: Encoder | None,
    backend: Backend,
    report: SyncReport,
    progress: Progress | None,
    show_progress: bool,
) -> None:
    identity = encoder.identity if encoder is not None else encoder_identity(settings)
    try:
        pointer = backend.read_pointer()
    except IndexCorrupt:
        if not report.rebuild:
            raise
        pointer = None
    if not report.dry_run:
        report.repaired = _repair(backend, pointer)
    if pointer is not None and pointer.encoder != identity and not report.rebuild:
        raise EncoderMismatch(
            f"The index was built with {pointer.encoder!r}; these settings use {identity!r}. "
            "Rebuild it with --rebuild, or set CHATBOT_ENCODER (and CHATBOT_ONNX_QUANTIZATION) "
            "to match."
        )
    old = Manifest()
    if pointer is not None and not report.rebuild:
        old = backend.read_manifest(pointer.version)
    report.version = pointer.version if pointer is not None else None

    root = settings.articles_dir
    scope = [Path(p) for p in paths] if paths else [root]
    resolved = [p.resolve() for p in scope]
    for item, item_resolved in zip(scope, resolved, strict=True):
        if not item.exists() and not any(_in_scope(s, root, [item_resolved]) for s in old.articles):
            report.failed.append((str(item), "no such file or directory"))
    files, unsupported = discover([p for p in scope if p.exists()])
    for path in unsupported:
        report.failed.append(
            (relative_source(path, root), f"unsupported file type {path.suffix or '(none)'}")
        )

    new = Manifest(articles=dict(old.articles))
    hashes: dict[str, str] = {}
    paths_by_source: dict[str, Path] = {}
    # a link may point anywhere; only files inside the folders given (or files named
    # directly) are read
    inside = [root.resolve(), *resolved]
    for path in files:
        real = path.resolve()
        if not any(real == place or real.is_relative_to(place) for place in inside):
            link = Path(os.path.abspath(path))
            name = (
                link.relative_to(os.path.abspath(root))
                if link.is_relative_to(os.path.abspath(root))
                else link
            )
            report.failed.append(
                (name.as_posix(), "a link to a file outside the articles folder; not read")
            )
            continue
        source = relative_source(path, root)
        try:
            hashes[source] = source_hash(path, settings.max_file_bytes)
        except LoadError as exc:
            report.failed.append((source, str(exc)))
            continue
        except OSError as exc:
            report.failed.append((source, f"cannot read file: {exc.strerror or exc}"))
            continue
        paths_by_source[source] = path

    gone = [s for s in old.articles if s not in paths_by_source and _in_scope(s, root, resolved)]
    gone_by_hash = {old.articles[s]["content_hash"]: s for s in gone}

    chunker = chunker_signature(settings.chunk_max_tokens, settings.chunk_target_tokens)
    previous_chunker = pointer.chunker if pointer is not None else chunker
    rechunk = previous_chunker != chunker
    if rechunk:
        log.info("index chunked as %r, now %r: re-chunking all", previous_chunker, chunker)
    count_tokens = None
    loaded: dict[str, tuple[Article, list[Chunk]]] = {}
    for source, digest in hashes.items():
        previous = old.articles.get(source)
        if previous is not None and previous["content_hash"] == digest and not rechunk:
            report.unchanged.append(source)
            continue
        try:
            article = load_article(paths_by_source[source], root, settings.max_file_bytes)
        except LoadError as exc:
            report.failed.append((source, str(exc)))
            continue  # an article that was indexed before keeps its old version
        except Exception as exc:  # a parser's own failure on one odd file stops nothing else
            log.exception("loading %s failed", source)
            report.failed.append((source, f"could not be read ({type(exc).__name__}: {exc})"))
            continue
        if count_tokens is None:
            count_tokens = load_token_counter(settings)
        chunks = chunk_article(
            article, count_tokens, settings.chunk_max_tokens, settings.chunk_target_tokens
        )
        if not chunks:
            report.failed.append((source, "no text left after cleaning"))
            continue
        loaded[source] = (article, chunks)

    # An article id may be used by one file only (it names the chunks).
    owner = {e["article_id"]: s for s, e in new.articles.items() if s not in gone}
    for source in list(loaded):
        article_id = loaded[source][0].article_id
        holder = owner.get(article_id)
        if holder is not None and holder != source and holder not in loaded:
            report.failed.append((source, f"article id {article_id!r} is already used by {holder}"))
            del loaded[source]
            continue
        owner[article_id] = source

    stale_ids: list[str] = []
    renamed_from: dict[str, str] = {}
    for source in loaded:
        if source not in old.articles and hashes[source] in gone_by_hash:
            renamed_from[source] = gone_by_hash.pop(hashes[source])
    for source in gone:
        entry = new.articles.pop(source)
        stale_ids.extend(entry["chunk_ids"])
        if source not in renamed_from.values():
            report.removed.append(source)
    for source, (article, chunks) in loaded.items():
        if source in renamed_from:
            report.renamed.append((renamed_from[source], source))
        elif source in old.articles and old.articles[source]["content_hash"] == hashes[source]:
            report.rechunked.append(source)
            stale_ids.extend(old.articles[source]["chunk_ids"])
        elif source in old.articles:
            report.updated.append(source)
            stale_ids.extend(old.articles[source]["chunk_ids"])
        else:
            report.added.append(source)
        new.articles[source] = _entry(article, chunks, hashes[source])

    report.chunks = len(new.chunk_ids())
    needs_version = report.changed or (report.rebuild and pointer is not None)
    if report.dry_run:
        return
    if not needs_version:
        if pointer is not None:
            try:
                if _ensure_reader_files(backend, pointer.version, pointer.chunks):
                    report.repaired.append(f"wrote the reader files of version {pointer.version}")
            except OSError as exc:  # an optimisation: readers fall back to the index itself
                log.warning("could not write the reader files of %s: %s", pointer.version, exc)
        return

    version = next_version_name(backend.list_versions() + ([pointer.version] if pointer else []))
    base = None if report.rebuild or pointer is None else pointer.version
    collection = backend.create_version(version, base)
    try:
        _write_version(
            collection,
            old,
            new,
            loaded,
            stale_ids,
            base,
            encoder,
            settings,
            report,
            progress,
            show_progress,
        )
        _ensure_reader_files(backend, version, report.chunks, collection)
        backend.finish_version(version, new)
        backend.write_pointer(
            Pointer(
                version=version,
                encoder=identity,
                dim=384 if encoder is None else encoder.dim,
                chunks=report.chunks,
                articles=len(new.articles),
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                chunker=chunker,
            )
        )
    except BaseException:
        log.warning("ingest failed; discarding unfinished version %s", version)
        backend.delete_version(version)
        raise
    report.version = version
    _gc(backend, settings.keep_versions, version)


def _write_version(
    collection: Any,
    old: Manifest,
    new: Manifest,
    loaded: dict[str, tuple[Article, list[Chunk]]],
    stale_ids: list[str],
    base: str | None,
    encoder: Encoder | None,
    settings: Settings,
    report: SyncReport,
    progress: Progress | None,
    show_progress: bool,
) -> None:
    from chatbot.embed import load_encoder

    batch = 1000
    new_chunks = [chunk for _, chunks in loaded.values() for chunk in chunks]
    metadatas = {
        chunk.chunk_id: _chunk_metadata(chunk, article)
        for article, chunks in loaded.values()
        for chunk in chunks
    }
    vectors: dict[str, Any] = {}
    if base is not None:
        # Reuse vectors of chunks whose exact text is already embedded (renames, edits).
        by_hash: dict[str, str] = {}
        for entry in old.articles.values():
            by_hash.update(zip(entry["chunk_hashes"], entry["chunk_ids"], strict=True))
        wanted = {
            c.content_hash: by_hash[c.content_hash] for c in new_chunks if c.content_hash in by_hash
        }
        ids = sorted(set(wanted.values()))
        found: dict[str, Any] = {}
        for part in _batched(ids, batch):
            got = collection.get(ids=part, include=["embeddings"])
            found.update(zip(got["ids"], got["embeddings"], strict=True))
        for digest, chunk_id in wanted.items():
            if chunk_id in found:
                vectors[digest] = found[chunk_id]
        for part in _batched(stale_ids, batch):
            collection.delete(ids=part)
    todo = [c for c in new_chunks if c.content_hash not in vectors]
    report.reused = len(new_chunks) - len(todo)
    if todo:
        encoder = encoder or load_encoder(settings)
        bar = None
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="chunk", desc="embedding", leave=False)
        done = 0
        # Large calls let sentence-transformers sort by length and pad less.
        for part in _batched(todo, settings.embed_batch_size * 16):
            embedded = encoder.embed([c.text for c in part])
            for chunk, vector in zip(part, embedded, strict=True):
                vectors[chunk.content_hash] = vector
            done += len(part)
            report.embedded = done
            if bar is not None:
                bar.update(len(part))
            if progress is not None:
                progress(done, len(todo), "embedding")
        if bar is not None:
            bar.close()
    for part in _batched(new_chunks, batch):
        collection.add(
            ids=[c.chunk_id for c in part],
            embeddings=[vectors[c.content_hash] for c in part],
            documents=[c.text for c in part],
            metadatas=[metadatas[c.chunk_id] for c in part],
        )
