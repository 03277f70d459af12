"""Sync scenarios against a real Chroma in tmp_path with the real embedding model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from chatbot.config import Settings
from chatbot.embed import load_token_counter
from chatbot.store import EncoderMismatch, IndexReader, LocalBackend, read_chunks
from ingest.sync import IngestBusy, sync
from tests.invariants import CHROME

REPO = Path(__file__).resolve().parent.parent

NEW_ARTICLE = """---
title: Night leg cramps
publisher: Test Health Library
last_updated: 2024-05-01
---
# Night leg cramps

## Overview

Night leg cramps are sudden tightening of the calf muscles during sleep.

## Prevention

Stretching the calves before bed and drinking enough water may prevent night leg cramps.
"""


def reader_for(settings: Settings, encoder: Any) -> IndexReader:
    return IndexReader(LocalBackend(settings.index_dir), encoder.identity)


def all_chunks(settings: Settings, encoder: Any) -> tuple[list[str], list[dict[str, Any]]]:
    snap = reader_for(settings, encoder).snapshot()
    return snap.texts, snap.metadatas


def versions(settings: Settings) -> list[str]:
    return LocalBackend(settings.index_dir).list_versions()


def test_first_sync_indexes_the_seeds_cleanly(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    report = sync(settings, encoder=encoder)
    assert report.ok, report.failed
    assert sorted(report.added) == ["000_5778768f5da2c27f.txt", "001_fd95c578ff9ff21f.txt"]
    assert report.embedded == report.chunks > 5
    texts, metas = all_chunks(settings, encoder)
    assert len(texts) == report.chunks
    for text in texts:
        for chrome in CHROME:
            assert chrome not in text
    count = load_token_counter(settings)
    assert max(count(texts)) <= 256
    titles = {m["title"] for m in metas}
    assert titles == {"What are muscle spasms?", "Understanding Muscle Spasms"}
    refs = {m["source_path"]: json.loads(str(m["references"])) for m in metas}
    assert len(refs["000_5778768f5da2c27f.txt"]) == 5


def test_second_sync_changes_nothing(settings: Settings, seeded: Path, encoder: Any) -> None:
    first = sync(settings, encoder=encoder)
    before = versions(settings)
    second = sync(settings, encoder=encoder)
    assert not second.changed
    assert second.embedded == 0
    assert sorted(second.unchanged) == sorted(first.added)
    assert versions(settings) == before
    assert second.version == first.version


def test_modified_article_is_replaced_reusing_unchanged_vectors(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    path = seeded / "001_fd95c578ff9ff21f.txt"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "Rest the affected muscle", "Rest the affected muscle and sip an oral rehydration drink"
        ),
        encoding="utf-8",
    )
    report = sync(settings, encoder=encoder)
    assert report.updated == ["001_fd95c578ff9ff21f.txt"]
    assert 0 < report.embedded < 4 and report.reused > 5
    texts, _ = all_chunks(settings, encoder)
    assert any("oral rehydration drink" in t for t in texts)
    assert len(texts) == len(set(texts)) == report.chunks


def test_deleted_article_leaves_the_index(settings: Settings, seeded: Path, encoder: Any) -> None:
    sync(settings, encoder=encoder)
    (seeded / "000_5778768f5da2c27f.txt").unlink()
    report = sync(settings, encoder=encoder)
    assert report.removed == ["000_5778768f5da2c27f.txt"]
    _, metas = all_chunks(settings, encoder)
    assert {m["source_path"] for m in metas} == {"001_fd95c578ff9ff21f.txt"}


def test_renamed_article_is_moved_not_duplicated(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    first = sync(settings, encoder=encoder)
    (seeded / "sub").mkdir()
    shutil.move(seeded / "001_fd95c578ff9ff21f.txt", seeded / "sub" / "oracle.txt")
    shutil.move(seeded / "001_fd95c578ff9ff21f.meta.yaml", seeded / "sub" / "oracle.meta.yaml")
    report = sync(settings, encoder=encoder)
    assert report.renamed == [("001_fd95c578ff9ff21f.txt", "sub/oracle.txt")]
    assert report.added == report.removed == []
    assert report.embedded == 0
    texts, metas = all_chunks(settings, encoder)
    assert len(texts) == first.chunks
    assert "sub/oracle.txt" in {m["source_path"] for m in metas}


def test_dry_run_reports_without_changing(settings: Settings, seeded: Path, encoder: Any) -> None:
    sync(settings, encoder=encoder)
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    before = versions(settings)
    report = sync(settings, encoder=encoder, dry_run=True)
    assert report.added == ["night.md"]
    assert versions(settings) == before
    assert sync(settings, encoder=encoder).added == ["night.md"]


def test_rebuild_starts_over(settings: Settings, seeded: Path, encoder: Any) -> None:
    first = sync(settings, encoder=encoder)
    report = sync(settings, encoder=encoder, rebuild=True)
    assert report.embedded == first.chunks
    assert report.version != first.version


def test_bad_files_fail_alone(settings: Settings, seeded: Path, encoder: Any) -> None:
    (seeded / "empty.txt").write_text("", encoding="utf-8")
    (seeded / "blob.txt").write_bytes(b"\x00\x01\x02binary\xff\xfe")
    (seeded / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (seeded / "notes.docx").write_bytes(b"PK\x03\x04")
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    report = sync(settings, encoder=encoder)
    assert not report.ok
    failed = dict(report.failed)
    assert set(failed) == {"empty.txt", "blob.txt", "broken.md", "notes.docx"}
    assert "unsupported" in failed["notes.docx"]
    assert sorted(report.added) == [
        "000_5778768f5da2c27f.txt",
        "001_fd95c578ff9ff21f.txt",
        "night.md",
    ]


def test_article_that_breaks_keeps_its_indexed_version(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    sync(settings, encoder=encoder)
    (seeded / "night.md").write_text("---\ntitle: [oops\n---\n", encoding="utf-8")
    report = sync(settings, encoder=encoder)
    assert [p for p, _ in report.failed] == ["night.md"]
    texts, _ = all_chunks(settings, encoder)
    assert any("Night leg cramps" in t for t in texts)


def test_interrupted_ingest_leaves_the_served_index(
    settings: Settings, seeded: Path, encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sync(settings, encoder=encoder)
    reader = reader_for(settings, encoder)
    served = reader.snapshot()
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    (seeded / "000_5778768f5da2c27f.txt").unlink()

    calls = {"n": 0}
    real_embed = encoder.embed

    def failing_embed(texts: list[str], show_progress: bool = False) -> Any:
        calls["n"] += 1
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(encoder, "embed", failing_embed)
    with pytest.raises(RuntimeError, match="injected"):
        sync(settings, encoder=encoder)
    assert calls["n"] == 1
    monkeypatch.setattr(encoder, "embed", real_embed)
    after = reader.snapshot()
    assert after.version == served.version == first.version
    assert len(after.ids) == first.chunks
    assert versions(settings) == [first.version]  # the unfinished version was discarded
    assert sync(settings, encoder=encoder).added == ["night.md"]


def test_killed_ingest_leftovers_are_repaired(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    first = sync(settings, encoder=encoder)
    leftover = settings.index_dir / "versions" / "v000099-dead00"
    shutil.copytree(settings.index_dir / "versions" / str(first.version), leftover)
    (leftover / "COMPLETE").unlink()
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    report = sync(settings, encoder=encoder)
    assert report.repaired and "v000099" in report.repaired[0]
    assert not leftover.exists()


def test_second_ingest_is_refused_while_one_runs(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    settings.index_dir.mkdir(parents=True)
    with (
        FileLock(str(LocalBackend(settings.index_dir).lock_path())),
        pytest.raises(IngestBusy, match="Another ingest is already running"),
    ):
        sync(settings, encoder=encoder)


def test_index_records_its_encoder(
    settings: Settings, make_settings: Any, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    fp32 = make_settings(encoder="torch-fp32")
    with pytest.raises(EncoderMismatch, match="onnx-int8"):
        IndexReader(LocalBackend(fp32.index_dir), "all-MiniLM-L6-v2:torch-fp32").snapshot()
    with pytest.raises(EncoderMismatch, match="--rebuild"):
        sync(fp32, dry_run=True)


READER_SCRIPT = textwrap.dedent(
    """
    import sys
    from chatbot.config import get_settings
    from chatbot.store import IndexReader, LocalBackend
    settings = get_settings()
    reader = IndexReader(LocalBackend(settings.index_dir), sys.argv[1])
    for line in sys.stdin:
        snap = reader.snapshot()
        titles = sorted({m["title"] for m in snap.metadatas})
        print(snap.version, "|".join(titles), flush=True)
    """
)


def test_a_running_reader_process_sees_a_later_ingest(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = sync(settings, encoder=encoder)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER_SCRIPT, encoder.identity],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert reader.stdin is not None and reader.stdout is not None
    try:
        reader.stdin.write("?\n")
        reader.stdin.flush()
        version, titles = reader.stdout.readline().strip().split(" ", 1)
        assert version == first.version and "Night leg cramps" not in titles
        (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
        ingest = subprocess.run(
            [sys.executable, "-m", "ingest", "--json", "--no-progress"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert ingest.returncode == 0, ingest.stderr
        assert json.loads(ingest.stdout)["added"] == ["night.md"]
        reader.stdin.write("?\n")
        reader.stdin.flush()
        version2, titles2 = reader.stdout.readline().strip().split(" ", 1)
        assert version2 != version and "Night leg cramps" in titles2
    finally:
        reader.kill()
        reader.wait()


def test_cli_reports_and_exit_codes(settings: Settings, seeded: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    store = tmp_path / "elsewhere"
    (seeded / "empty.md").write_text("", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "ingest", "--store", str(store), "--json", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr  # one file failed, the others are in
    data = json.loads(run.stdout)
    assert len(data["added"]) == 2
    assert data["failed"][0]["path"] == "empty.md"
    assert (store / "CURRENT.json").exists()
    (seeded / "empty.md").unlink()
    again = subprocess.run(
        [sys.executable, "-m", "ingest", "--store", str(store)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "unchanged  2" in again.stdout


def test_new_chunk_settings_rechunk_everything_reusing_vectors(
    settings: Settings, make_settings: Any, seeded: Path, encoder: Any
) -> None:
    first = sync(settings, encoder=encoder)
    assert sync(settings, encoder=encoder).rechunked == []
    smaller = make_settings(chunk_target_tokens=120)
    report = sync(smaller, encoder=encoder)
    assert sorted(report.rechunked) == sorted(first.added)
    assert report.chunks > first.chunks  # smaller chunks, more of them
    texts, _ = all_chunks(smaller, encoder)
    assert len(texts) == report.chunks
    assert max(load_token_counter(smaller)(texts)) <= 256
    assert not sync(smaller, encoder=encoder).changed  # and then it is stable again


def test_reader_pages_through_large_versions(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    """One get() of a big collection exceeds SQLite's variable limit inside Chroma."""
    report = sync(settings, encoder=encoder)
    backend = LocalBackend(settings.index_dir)
    pointer = backend.read_pointer()
    assert pointer is not None
    ids, texts, metadatas = read_chunks(backend.open_version(pointer.version), page=7)
    assert len(ids) == len(set(ids)) == report.chunks  # 20 chunks: three pages
    assert [m["body"] in t for m, t in zip(metadatas, texts, strict=True)] == [True] * len(ids)


def test_a_deeply_nested_html_file_fails_alone(
    settings: Settings, seeded: Path, encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100,000 nested <div>s (about 1 MB): that file is reported, refused by a linear scan
    before any tree is built; the valid article beside it is still indexed."""
    deep = "<html><body><h1>Deep</h1>" + "<div>" * 100_000 + "<p>Cramps.</p>" + "</div>" * 100_000
    (seeded / "deep.html").write_text(deep + "</body></html>", encoding="utf-8")
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    report = sync(settings, encoder=encoder)
    failed = dict(report.failed)
    assert set(failed) == {"deep.html"}
    assert "nested more than 300 elements deep" in failed["deep.html"]
    assert "night.md" in report.added


def test_any_error_while_loading_one_file_is_that_files_failure(
    settings: Settings, seeded: Path, encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.load as load

    original = load._parse_html

    def explode(text: str) -> Any:
        if "Exploding" in text:
            raise RecursionError("maximum recursion depth exceeded")
        return original(text)

    monkeypatch.setattr(load, "_parse_html", explode)
    (seeded / "odd.html").write_text("<h1>Exploding</h1><p>x</p>", encoding="utf-8")
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    report = sync(settings, encoder=encoder)
    assert dict(report.failed)["odd.html"].startswith("could not be read (RecursionError")
    assert "night.md" in report.added


def test_a_link_leaving_the_articles_folder_is_refused(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "secret.md"
    outside.parent.mkdir()
    outside.write_text(NEW_ARTICLE.replace("Night leg cramps", "Private notes"), encoding="utf-8")
    (seeded / "linked.md").symlink_to(outside)
    (seeded / "night.md").write_text(NEW_ARTICLE, encoding="utf-8")
    report = sync(settings, encoder=encoder)
    assert dict(report.failed) == {
        "linked.md": "a link to a file outside the articles folder; not read"
    }
    assert "night.md" in report.added
    texts, _ = all_chunks(settings, encoder)
    assert not any("Private notes" in t for t in texts)


def test_a_file_over_the_size_limit_is_never_read(
    make_settings: Any, seeded: Path, encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(max_file_bytes=20_000)
    big = seeded / "big.md"
    big.write_text(NEW_ARTICLE + "Stretching helps. " * 5_000, encoding="utf-8")
    opened: list[str] = []
    original_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self.name)
        return original_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read whole: {self}"))
    report = sync(settings, encoder=encoder)
    assert dict(report.failed)["big.md"].startswith("big.md is too large (")
    assert "big.md" not in opened
