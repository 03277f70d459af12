"""The reader files ingest writes beside each index version (chunk table and BM25 index)
let a new process start without paging every chunk out of Chroma and re-indexing it.
They must always say exactly what the version's collection says, and a reader must
never trust damaged or stale ones."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.retrieve import (
    BM25_DIR,
    BM25_INFO,
    BM25Index,
    HybridRetriever,
    reader_files_current,
)
from chatbot.store import TABLE, IndexReader, LocalBackend, load_table, read_chunks
from ingest.sync import sync

QUESTIONS = [
    "What is a muscle spasm?",
    "What causes muscle cramps at night?",
    "How are spasms treated with stretching and massage?",
    "Can dehydration or low electrolytes trigger cramps?",
    "night leg cramps prevention",
]

NIGHT_CRAMPS = """---
title: Night leg cramps
publisher: Test Health Library
last_updated: 2024-05-01
---
# Night leg cramps

## Prevention

Stretching the calves before bed and drinking enough water may prevent night leg cramps.
"""


def served(settings: Settings) -> tuple[LocalBackend, str, int, Path]:
    backend = LocalBackend(settings.index_dir)
    pointer = backend.read_pointer()
    assert pointer is not None
    folder = backend.reader_dir(pointer.version)
    assert folder is not None
    return backend, pointer.version, pointer.chunks, folder


def assert_files_mirror_collection(settings: Settings) -> None:
    backend, version, chunks, folder = served(settings)
    assert reader_files_current(folder, chunks)
    table = load_table(folder, chunks)
    assert table is not None
    truth = read_chunks(backend.open_version(version))
    assert sorted(zip(*table, strict=True), key=lambda row: row[0]) == sorted(
        zip(*truth, strict=True), key=lambda row: row[0]
    )


def ranking(settings: Settings, encoder: Any) -> tuple[Any, list[list[tuple[str, float]]]]:
    reader = IndexReader(LocalBackend(settings.index_dir), encoder.identity)
    retriever = HybridRetriever(reader, encoder, settings)
    results = [
        [(hit.chunk_id, round(hit.fused, 5)) for hit in retriever.search(question, k=5)]
        for question in QUESTIONS
    ]
    return reader.snapshot(), results


def test_reader_files_follow_every_kind_of_change(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    assert_files_mirror_collection(settings)

    edited = seeded / "001_fd95c578ff9ff21f.txt"
    edited.write_text(
        edited.read_text(encoding="utf-8").replace(
            "Rest the affected muscle", "Rest the affected muscle and sip quinine-free tonic"
        ),
        encoding="utf-8",
    )
    (seeded / "night.md").write_text(NIGHT_CRAMPS, encoding="utf-8")
    assert sync(settings, encoder=encoder).changed
    assert_files_mirror_collection(settings)
    snapshot, _ = ranking(settings, encoder)
    assert snapshot.files is not None  # the table came from the files
    reader = IndexReader(LocalBackend(settings.index_dir), encoder.identity)
    hits = HybridRetriever(reader, encoder, settings).search("quinine-free tonic", k=3)
    assert "quinine-free tonic" in hits[0].text  # BM25 of the new version, not the old

    (seeded / "night.md").rename(seeded / "renamed-night.md")
    (seeded / "000_5778768f5da2c27f.txt").unlink()
    report = sync(settings, encoder=encoder)
    assert report.renamed and report.removed
    assert_files_mirror_collection(settings)
    _, _, chunks, folder = served(settings)
    table = load_table(folder, chunks)
    assert table is not None
    sources = {m["source_path"] for m in table[2]}
    assert sources == {"001_fd95c578ff9ff21f.txt", "renamed-night.md"}


def test_answers_are_the_same_with_or_without_reader_files(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    fast_snapshot, fast = ranking(settings, encoder)
    assert fast_snapshot.files is not None and "bm25" in fast_snapshot.cache

    _, _, _, folder = served(settings)
    shutil.rmtree(folder)  # an index built before reader files existed
    slow_snapshot, slow = ranking(settings, encoder)
    assert slow_snapshot.files is None
    assert fast == slow
    assert all(fast)

    report = sync(settings, encoder=encoder)  # a no-op sync writes them
    assert not report.changed
    assert any("reader files" in line for line in report.repaired)
    assert_files_mirror_collection(settings)


def _truncate_table(folder: Path) -> None:
    path = folder / TABLE
    path.write_bytes(path.read_bytes()[:200])


def _drop_a_chunk(folder: Path) -> None:
    path = folder / TABLE
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("ids", "texts", "metadatas"):
        data[key] = data[key][1:]
    path.write_text(json.dumps(data), encoding="utf-8")


def _stale_bm25(folder: Path) -> None:
    path = folder / BM25_DIR / BM25_INFO
    info = json.loads(path.read_text(encoding="utf-8"))
    info["signature"] = "tokenizer0/an-older-tokenizer"
    path.write_text(json.dumps(info), encoding="utf-8")


def _lost_bm25_matrix(folder: Path) -> None:
    for npy in (folder / BM25_DIR).glob("*.npy"):
        npy.unlink()


def _empty_bm25_matrix(folder: Path) -> None:  # a power cut before the data reached disk
    for npy in (folder / BM25_DIR).glob("*.npy"):
        npy.write_bytes(b"")


def _bm25_of_another_table(folder: Path) -> None:
    other = folder.parent / "other"
    other.mkdir()
    BM25Index.build(["one text", "another text"]).save(other)
    for path in other.iterdir():  # every bm25s file, under our own (valid) info file
        if path.name != BM25_INFO:
            shutil.copy(path, folder / BM25_DIR / path.name)


@pytest.mark.parametrize(
    "damage",
    [
        _truncate_table,
        _drop_a_chunk,
        _stale_bm25,
        _lost_bm25_matrix,
        _empty_bm25_matrix,
        _bm25_of_another_table,
    ],
)
def test_damaged_or_stale_reader_files_are_not_trusted_and_sync_rewrites_them(
    settings: Settings,
    seeded: Path,
    encoder: Any,
    damage: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sync(settings, encoder=encoder)
    _, good = ranking(settings, encoder)
    _, version, chunks, folder = served(settings)

    damage(folder)
    assert not reader_files_current(folder, chunks)
    with caplog.at_level(logging.INFO, logger="chatbot"):
        snapshot, results = ranking(settings, encoder)
    assert results == good  # same answers, from Chroma and a freshly built BM25
    assert any("BM25 over" in r.message and "built" in r.message for r in caplog.records)
    if damage in (_truncate_table, _drop_a_chunk):
        assert snapshot.files is None

    report = sync(settings, encoder=encoder)
    assert not report.changed and report.version == version
    assert report.repaired == [f"wrote the reader files of version {version}"]
    assert_files_mirror_collection(settings)
    _, again = ranking(settings, encoder)
    assert again == good


def test_dry_run_does_not_write_reader_files(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    _, _, _, folder = served(settings)
    shutil.rmtree(folder)
    report = sync(settings, encoder=encoder, dry_run=True)
    assert report.repaired == []
    assert not folder.exists()


def test_a_new_version_does_not_inherit_the_old_versions_files(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    """A version starts as a copy of the served one. An edit that keeps the chunk count
    would leave copied reader files looking current, so they must not be copied."""
    sync(settings, encoder=encoder)
    _, first, chunks, first_folder = served(settings)
    before = (first_folder / TABLE).read_bytes()
    edited = seeded / "001_fd95c578ff9ff21f.txt"
    edited.write_text(
        edited.read_text(encoding="utf-8").replace(
            "Rest the affected muscle", "Rest the sore muscle"
        ),
        encoding="utf-8",
    )
    sync(settings, encoder=encoder)
    _, second, chunks_after, second_folder = served(settings)
    assert second != first and chunks_after == chunks
    assert (first_folder / TABLE).read_bytes() == before  # the old version is untouched
    assert b"Rest the sore muscle" in (second_folder / TABLE).read_bytes()
    assert_files_mirror_collection(settings)


def test_an_emptied_index_has_reader_files_too(settings: Settings, encoder: Any) -> None:
    articles = settings.articles_dir
    (articles / "night.md").write_text(NIGHT_CRAMPS, encoding="utf-8")
    sync(settings, encoder=encoder)
    (articles / "night.md").unlink()
    report = sync(settings, encoder=encoder)
    assert report.removed == ["night.md"] and report.chunks == 0
    _, _, chunks, folder = served(settings)
    assert chunks == 0 and reader_files_current(folder, 0)
    snapshot, results = ranking(settings, encoder)
    assert snapshot.files == folder and results == [[] for _ in QUESTIONS]


def test_a_disk_full_while_writing_reader_files_loses_nothing(
    settings: Settings,
    seeded: Path,
    encoder: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sync(settings, encoder=encoder)
    _, version, _, folder = served(settings)
    shutil.rmtree(folder)

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("chatbot.retrieve.BM25Index.save", full)
    report = sync(settings, encoder=encoder)  # nothing changed: only the files were due
    assert report.ok and not report.changed and report.repaired == []
    assert "No space left on device" in caplog.text
    assert not folder.exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".reader")]
    snapshot, results = ranking(settings, encoder)  # still served, from Chroma
    assert snapshot.files is None and all(results)

    (seeded / "night.md").write_text(NIGHT_CRAMPS, encoding="utf-8")
    with pytest.raises(OSError):  # a new version is published whole or not at all
        sync(settings, encoder=encoder)
    assert served(settings)[1] == version


def test_status_says_whether_reader_files_are_ready(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    _, _, _, folder = served(settings)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def status() -> str:
        return subprocess.run(
            [sys.executable, "-m", "chatbot", "status"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=True,
        ).stdout

    assert "reader files: ready" in status()
    shutil.rmtree(folder)
    missing = status()
    assert "reader files: missing or stale" in missing
    assert "python -m ingest" in missing
