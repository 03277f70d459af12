"""Server mode against a real ``chroma run``: ingest, re-sync, chat, eval and the CLI.

Each test starts its own Chroma server on a free port with a tmp path (no server needs to
be running, in CI either) and stops it at the end. The embedded-store behaviour is
covered by test_sync.py and test_chatbot.py; here the same scenarios run over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.chain import build_chatbot
from chatbot.config import Settings
from chatbot.evaluate import load_sets, run_eval
from chatbot.store import IndexReader, ServerBackend
from ingest.sync import sync
from scripts.load_test import ChromaServer
from tests.invariants import assert_only_known_failures, assert_well_formed

REPO = Path(__file__).resolve().parent.parent
SEED_FILES = ["000_5778768f5da2c27f.txt", "001_fd95c578ff9ff21f.txt"]
CITE = re.compile(r"\[(\d+)\]")

pytestmark = pytest.mark.server


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A real Chroma server on a free port, data in tmp_path; stopped after the test."""
    server = ChromaServer(tmp_path / "chroma").start()  # returns once the heartbeat answers
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chroma_url(chroma_server: ChromaServer) -> str:
    return chroma_server.url


def test_ingest_resync_and_chat_against_a_server(
    make_settings: Callable[..., Settings], seeded: Path, encoder: Any, chroma_url: str
) -> None:
    settings = make_settings(chroma_url=chroma_url)
    first = sync(settings, encoder=encoder)
    assert first.ok, first.failed
    assert sorted(first.added) == SEED_FILES
    assert first.store == f"Chroma server {chroma_url}"
    assert not (settings.index_dir / "versions").exists()  # nothing went to the local store

    bot = build_chatbot(settings, encoder=encoder)
    reply = bot.ask("What is a muscle spasm?", "s")
    assert_well_formed(reply)
    assert reply.kind == "answer" and "involuntary" in reply.answer.lower()
    follow = bot.ask("What causes them?", "s")
    assert_well_formed(follow)
    assert "muscle spasm" in follow.query.lower()

    report = run_eval(bot, load_sets([REPO / "data" / "eval" / "seeds.jsonl"]))
    assert report.total >= 30
    failing = {f"{r.conversation}#{r.turn}" for r in report.results if not r.passed}
    assert_only_known_failures("seeds.jsonl", failing)

    again = sync(settings, encoder=encoder)
    assert not again.changed and again.embedded == 0
    assert again.version == first.version

    path = seeded / SEED_FILES[1]
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "Rest the affected muscle", "Rest the affected muscle and sip an oral rehydration drink"
        ),
        encoding="utf-8",
    )
    updated = sync(settings, encoder=encoder)
    assert updated.updated == [SEED_FILES[1]]
    assert 0 < updated.embedded < 4 and updated.reused > 5
    assert updated.version != first.version
    # The running chatbot follows the pointer on its next question.
    after = bot.ask("What is a muscle spasm?", "s2")
    assert after.kind == "answer"
    snapshot = bot.retriever.reader.snapshot()
    assert snapshot.version == updated.version
    assert any("oral rehydration drink" in t for t in snapshot.texts)
    assert len(snapshot.ids) == updated.chunks

    (seeded / SEED_FILES[0]).unlink()
    removed = sync(settings, encoder=encoder)
    assert removed.removed == [SEED_FILES[0]]
    snapshot = bot.retriever.reader.snapshot()
    assert {m["source_path"] for m in snapshot.metadatas} == {SEED_FILES[1]}

    backend = ServerBackend(chroma_url, settings.state_dir)
    versions = backend.list_versions()
    assert removed.version in versions
    assert len(versions) <= settings.keep_versions  # old versions are collected
    assert all(backend.is_complete(v) for v in versions)
    manifest = backend.read_manifest(str(removed.version))
    assert set(manifest.chunk_ids()) == set(snapshot.ids)


def test_incomplete_version_left_on_the_server_is_repaired(
    make_settings: Callable[..., Settings], seeded: Path, encoder: Any, chroma_url: str
) -> None:
    settings = make_settings(chroma_url=chroma_url)
    first = sync(settings, encoder=encoder)
    backend = ServerBackend(chroma_url, settings.state_dir)
    # What a killed ingest leaves: a copied collection that was never marked complete.
    backend.create_version("v000099-dead00", first.version)
    assert "v000099-dead00" in backend.list_versions()
    reader = IndexReader(backend, encoder.identity)
    assert reader.snapshot().version == first.version  # readers never see it

    report = sync(settings, encoder=encoder)
    assert report.repaired and "v000099-dead00" in report.repaired[0]
    assert backend.list_versions() == [first.version]
    assert not report.changed and report.version == first.version


def _run(
    args: list[str],
    env_extra: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_cli_ingest_and_status_against_a_server(
    seeded: Path, chroma_url: str, tmp_path: Path
) -> None:
    ingest = _run(["ingest", "--chroma-url", chroma_url, "--json", "--no-progress"], cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    data = json.loads(ingest.stdout)
    assert sorted(data["added"]) == SEED_FILES
    assert data["store"] == f"Chroma server {chroma_url}"

    status = _run(["chatbot", "status", "--chroma-url", chroma_url], cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"Chroma server {chroma_url}" in status.stdout and "2 articles" in status.stdout

    # The environment variable selects the server as well as the flag does.
    by_env = _run(["chatbot", "status"], env_extra={"CHATBOT_CHROMA_URL": chroma_url}, cwd=tmp_path)
    assert by_env.returncode == 0 and by_env.stdout == status.stdout, by_env.stderr
    assert not (tmp_path / "state" / "index" / "versions").exists()
