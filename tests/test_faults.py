"""Faults: the Chroma server going away, an ingest killed with SIGKILL, a damaged store.

Everything is real: a real ``chroma run`` stopped and restarted on the same port and
path, a real ``python -m ingest`` process killed halfway through embedding, real files
overwritten or deleted under the index, and the real CLI's exit codes and messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatbot import __main__ as chatbot_cli
from chatbot.chain import INDEX_PROBLEM, UNAVAILABLE, build_chatbot
from chatbot.config import Settings
from chatbot.reply import Reply
from chatbot.store import (
    IndexCorrupt,
    IndexMissing,
    IndexReader,
    LocalBackend,
    ServerBackend,
    StoreError,
    StoreUnavailable,
)
from ingest.sync import sync
from scripts.load_test import ChromaServer, free_port

REPO = Path(__file__).resolve().parent.parent
MEDQUAD = (REPO / ".." / "shared" / "corpus" / "medquad" / "articles").resolve()
REBUILD = "python -m ingest --rebuild"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=300,
    )


def assert_disclaimer_last(reply: Reply) -> None:
    assert reply.answer.endswith(reply.disclaimer)
    assert reply.answer.count(reply.disclaimer) == 1


# --- the Chroma server goes away ---------------------------------------------------------


@pytest.mark.server
def test_server_stopped_mid_conversation_then_back(
    make_settings: Callable[..., Settings], seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        settings = make_settings(chroma_url=server.url)
        sync(settings, encoder=encoder)
        bot = build_chatbot(settings, encoder=encoder)
        first = bot.ask("What is a muscle spasm?", "c")
        assert first.kind == "answer"
        snapshot = bot.retriever.reader.snapshot()

        for stop in (server.stop, server.kill):  # a clean shutdown, then a crash
            stop()
            for question in ("What causes them?", "How can I prevent them?"):
                down = bot.ask(question, "c")
                assert down.kind == "error", down.answer
                assert down.answer.startswith(UNAVAILABLE)
                assert "temporarily unavailable" in down.answer
                assert_disclaimer_last(down)
                assert down.citations == []
            # The collection cached in the reader's snapshot says so too.
            with pytest.raises(StoreUnavailable, match="not reachable"):
                snapshot.collection.query(query_embeddings=[[0.1] * encoder.dim], n_results=1)

            server.start()  # same port, same path
            back = bot.ask("What causes them?", "c")
            assert back.kind == "answer", back.answer
            assert "muscle spasm" in back.query.lower()  # the history survived the outage
            assert_disclaimer_last(back)
            # The same snapshot, with its cached collection object, serves again.
            assert bot.retriever.reader.snapshot() is snapshot
        # Failed turns are not part of the conversation.
        assert [t.kind for t in bot.history("c")] == ["answer", "answer", "answer"]
    finally:
        server.stop()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(StoreUnavailable, match="not reachable"):
        ServerBackend(url, tmp_path)
    for args in (["chatbot", "status"], ["ingest"]):
        run = _run([*args, "--chroma-url", url], tmp_path)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert "not reachable" in run.stderr and "chroma run" in run.stderr
        assert "Traceback" not in run.stderr


# --- an ingest killed with SIGKILL ---------------------------------------------------------


@pytest.mark.skipif(not MEDQUAD.is_dir(), reason="the MedQuAD corpus is not available")
def test_ingest_killed_halfway_is_repaired_by_the_next(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    first = sync(settings, encoder=encoder)
    bot = build_chatbot(settings, encoder=encoder)
    names = sorted(os.listdir(MEDQUAD))[:150]
    for name in names:
        shutil.copy2(MEDQUAD / name, seeded / name)
    versions = settings.index_dir / "versions"

    ingest = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--json", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        # The new version's directory appears once the articles are chunked; embedding
        # its ~600 chunks then takes many seconds. Kill it in the middle of that.
        while ingest.poll() is None and len(list(versions.iterdir())) < 2:
            time.sleep(0.02)
        time.sleep(0.5)
        assert ingest.poll() is None, "the ingest finished before it could be killed"
        ingest.send_signal(signal.SIGKILL)
    finally:
        ingest.kill()
        ingest.communicate()
    assert ingest.returncode == -signal.SIGKILL
    [leftover] = [p for p in versions.iterdir() if p.name != first.version]
    assert not (leftover / "COMPLETE").exists()

    # The served version is untouched and still answers, in this process and a fresh one.
    backend = LocalBackend(settings.index_dir)
    pointer = backend.read_pointer()
    assert pointer is not None and pointer.version == first.version
    assert bot.ask("What is a muscle spasm?").kind == "answer"
    status = _run(["chatbot", "status"], tmp_path)
    assert status.returncode == 0 and first.version in status.stdout, status.stdout

    # The next ingest (on fewer articles, to keep this test quick) repairs, then works.
    for name in names[10:]:
        (seeded / name).unlink()
    again = _run(["ingest", "--json", "--no-progress"], tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["repaired"] == [
        f"removed incomplete version {leftover.name} left by an interrupted ingest"
    ]
    assert sorted(report["added"]) == names[:10]
    assert not leftover.exists()

    pointer = backend.read_pointer()
    assert pointer is not None and pointer.version == report["version"] != first.version
    manifest = backend.read_manifest(pointer.version)
    snapshot = IndexReader(backend, encoder.identity).snapshot()
    assert sorted(snapshot.ids) == sorted(manifest.chunk_ids())  # consistent with its manifest
    assert len(snapshot.ids) == pointer.chunks == report["chunks"]
    assert len(manifest.articles) == pointer.articles == 12
    assert bot.ask("What is a muscle spasm?").kind == "answer"
    assert backend.list_versions() == sorted([first.version, pointer.version])


# --- a missing or damaged store ------------------------------------------------------------


def _garbage_pointer(root: Path, version: str) -> None:
    (root / "CURRENT.json").write_text('{"version": "v0000', encoding="utf-8")


def _version_deleted(root: Path, version: str) -> None:
    shutil.rmtree(root / "versions" / version)


def _junk_sqlite(root: Path, version: str) -> None:
    (root / "versions" / version / "chroma.sqlite3").write_bytes(bytes(range(256)) * 800)


def _store_deleted(root: Path, version: str) -> None:
    shutil.rmtree(root)


DAMAGE: dict[str, tuple[Callable[[Path, str], None], type[StoreError], str]] = {
    "garbage CURRENT.json": (_garbage_pointer, IndexCorrupt, REBUILD),
    "version dir deleted": (_version_deleted, IndexCorrupt, REBUILD),
    "junk chroma.sqlite3": (_junk_sqlite, IndexCorrupt, REBUILD),
    "store dir deleted": (_store_deleted, IndexMissing, "python -m ingest"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_store_is_a_clear_error_with_the_way_out(
    damage: str,
    settings: Settings,
    seeded: Path,
    encoder: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    corrupt, error, hint = DAMAGE[damage]
    first = sync(settings, encoder=encoder)
    root = settings.index_dir
    live = build_chatbot(settings, encoder=encoder)  # a process serving when it happens
    assert live.ask("What is a muscle spasm?").kind == "answer"
    corrupt(root, str(first.version))

    with pytest.raises(error, match=hint):
        IndexReader(LocalBackend(root), encoder.identity).snapshot()

    with caplog.at_level(logging.ERROR, logger="chatbot.chain"):
        fresh = build_chatbot(settings, encoder=encoder).ask("What causes muscle cramps?")
    assert fresh.kind == "error" and fresh.answer.startswith(UNAVAILABLE)
    # the patient is told it is being looked after; the way out and the paths go to the log
    assert INDEX_PROBLEM in fresh.answer
    assert hint not in fresh.answer and str(settings.state_dir) not in fresh.answer
    assert hint in caplog.text
    assert_disclaimer_last(fresh)
    # The serving process may still answer from what it had open; if not, it says why.
    for _ in range(2):
        reply = live.ask("What causes muscle cramps?")
        assert reply.kind in ("answer", "error")
        assert_disclaimer_last(reply)
        if reply.kind == "error":
            assert reply.answer.startswith(UNAVAILABLE) and INDEX_PROBLEM in reply.answer
            assert str(settings.state_dir) not in reply.answer

    # The CLI: `status` (a real process) and `ask` (in this process, same code path as
    # `python -m chatbot ask`, sharing the loaded encoder) exit with the way out.
    status = _run(["chatbot", "status"], tmp_path)
    assert status.returncode == 1, status.stdout + status.stderr
    assert hint in status.stdout and "Traceback" not in status.stderr
    monkeypatch.setattr("chatbot.embed.load_encoder", lambda _settings: encoder)
    capsys.readouterr()
    assert chatbot_cli.main(["ask", "What is a muscle spasm?"]) == 2
    out = capsys.readouterr()
    assert out.err.startswith("error: ") and hint in out.err and out.out == ""

    # Doing what the message says brings it back, for the serving process too.
    rebuilt = sync(settings, encoder=encoder, rebuild=True)
    assert rebuilt.ok and rebuilt.version != first.version
    assert build_chatbot(settings, encoder=encoder).ask("What is a muscle spasm?").kind == "answer"
    assert live.ask("What is a muscle spasm?").kind == "answer"


def test_junk_sqlite_through_the_real_cli(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    first = sync(settings, encoder=encoder)
    _junk_sqlite(settings.index_dir, str(first.version))
    ask = _run(["chatbot", "ask", "What is a muscle spasm?"], tmp_path)
    assert ask.returncode == 2, ask.stdout + ask.stderr
    assert REBUILD in ask.stderr and "Traceback" not in ask.stderr
    plain = _run(["ingest", "--no-progress"], tmp_path)  # without --rebuild: refuses, says how
    assert plain.returncode == 2 and REBUILD in plain.stderr
    assert "Traceback" not in plain.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://127.0.0.1:8000", "only http:// and https:// are supported, not ftp://"),
        ("http://admin:s3cret-pass@127.0.0.1:8000", "set CHATBOT_CHROMA_TOKEN"),
        ("http://:8000", "expected http://host:port"),
    ],
)
def test_unsupported_chroma_urls_are_refused_without_echoing_secrets(
    url: str, says: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match=re.escape(says)) as caught:
        ServerBackend(url, tmp_path)
    assert "s3cret" not in str(caught.value)
    run = _run(["chatbot", "status", "--chroma-url", url], tmp_path)
    assert run.returncode == 2 and says in run.stderr
    assert "s3cret" not in run.stderr + run.stdout and "Traceback" not in run.stderr


def test_the_chroma_token_goes_in_the_client_settings_and_nowhere_else() -> None:
    from chatbot.store import chroma_settings

    configured = chroma_settings("t0ken-value")
    assert configured.chroma_client_auth_provider.endswith("TokenAuthClientProvider")
    assert configured.chroma_client_auth_credentials == "t0ken-value"
    assert chroma_settings().chroma_client_auth_credentials is None
    shown = repr(Settings(chroma_token="t0ken-value"))
    assert "t0ken-value" not in shown
