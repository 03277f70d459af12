"""Concurrency: many sessions through one Chatbot, and chatting while a re-ingest runs.

The in-suite version of ``scripts/load_test.py`` (4 sessions x 6 turns, embedded and on a
real Chroma server) checks that no reply is an error and that every follow-up is resolved
from its own session's history. Latency is recorded by the script, never asserted here.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.chain import Chatbot, build_chatbot
from chatbot.config import Settings
from chatbot.rephrase import rewrite
from chatbot.reply import Reply
from chatbot.store import make_backend
from ingest.sync import sync
from scripts.load_test import TOPICS, ChromaServer, question_for, run_load

# --- many sessions, one Chatbot -------------------------------------------------------


def test_each_topic_is_what_its_opening_question_is_about() -> None:
    topics = [topic for topic, _ in TOPICS]
    assert len(set(topics)) == len(topics)
    for topic, opening in TOPICS:
        assert rewrite(opening, "").topic == topic
        # A topic never contains another, so naming one never names another by accident.
        assert not [t for t in topics if t != topic and t in topic]


def check_concurrent_sessions(bot: Chatbot, sessions: int = 4, turns: int = 6) -> None:
    summary, records = run_load(bot, sessions, turns)
    assert len(records) == sessions * turns
    assert [r for r in records if r.kind not in ("answer", "no_answer")] == []
    topics = {r.session: r.topic for r in records}
    assert len(set(topics.values())) == sessions
    for record in records:
        assert record.question == question_for(int(record.session.split("-")[1]), record.turn)
        query = record.query.lower()
        assert record.topic in query, record  # resolved from its own history...
        assert [t for t in topics.values() if t != record.topic and t in query] == [], record
    for session, topic in topics.items():  # ...and each history holds only its own turns
        history = bot.history(session)
        assert len(history) == turns
        assert {turn.topic for turn in history} == {topic}
    assert summary["errors"] == 0 and summary["cross_talk"] == 0
    assert summary["follow_ups_resolved"] == sessions * (turns - 1)
    assert summary["latency_ms"]["median"] > 0 and summary["latency_ms"]["p95"] > 0


def test_concurrent_sessions_on_the_embedded_store(
    settings: Settings, seeded: Path, encoder: Any
) -> None:
    sync(settings, encoder=encoder)
    check_concurrent_sessions(build_chatbot(settings, encoder=encoder))


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.server
def test_concurrent_sessions_on_a_server(
    make_settings: Callable[..., Settings],
    seeded: Path,
    encoder: Any,
    chroma_server: ChromaServer,
) -> None:
    settings = make_settings(chroma_url=chroma_server.url)
    sync(settings, encoder=encoder)
    check_concurrent_sessions(build_chatbot(settings, encoder=encoder))


# --- chatting while a re-ingest runs ----------------------------------------------------

ARTICLE = """---
title: Velmora syndrome
publisher: Test Health Library
last_updated: 2024-05-01
---
# Velmora syndrome

## Overview

Velmora syndrome is a rare condition that causes repeated painful muscle cramps in the
hands and forearms. This section follows leaflet edition {tag}. People with Velmora
syndrome often notice the cramps while writing, typing or gripping tools for a long time.

## Causes

Velmora syndrome is caused by overactive nerve signals to the forearm muscles, which
this section of leaflet edition {tag} explains. Low magnesium, dehydration and repetitive
strain can make the cramps of Velmora syndrome more frequent.

## Treatment

Velmora syndrome is treated with regular stretching of the forearm, warm compresses and
rest breaks during repetitive work, according to leaflet edition {tag}. A physiotherapist
can teach exercises that relieve the cramps of Velmora syndrome.

## Prevention

Velmora syndrome can be prevented with frequent pauses, ergonomic tools and enough fluids
through the day, as leaflet edition {tag} recommends. Warming up the hands before long
writing sessions also helps prevent Velmora syndrome.
"""
SOURCE = "velmora.md"
EDITIONS = 4  # the first publish, then three re-syncs while the readers ask
TAG = re.compile(r"leaflet edition (ed\d+)")
QUESTIONS = [
    "What is Velmora syndrome?",
    "What causes Velmora syndrome?",
    "How is Velmora syndrome treated?",
    "How can Velmora syndrome be prevented?",
]


def article_tags(reply: Reply) -> set[str]:
    """Editions of the test article among the chunks a reply retrieved."""
    return {
        tag
        for chunk in reply.retrieved
        if chunk.source == SOURCE
        for tag in TAG.findall(chunk.text)
    }


@pytest.mark.parametrize("store", ["embedded", pytest.param("server", marks=pytest.mark.server)])
def test_readers_see_one_whole_version_while_reingest_runs(
    store: str,
    make_settings: Callable[..., Settings],
    seeded: Path,
    encoder: Any,
    tmp_path: Path,
) -> None:
    server = ChromaServer(tmp_path / "chroma").start() if store == "server" else None
    try:
        # keep_versions=2: each publish also deletes the version before the previous one.
        settings = make_settings(chroma_url=server.url if server else None, keep_versions=2)
        backend = make_backend(settings)
        ids_of: dict[str, str] = {}  # chunk id of the test article -> its edition

        def publish(edition: int) -> None:
            tag = f"ed{edition}"
            (seeded / SOURCE).write_text(ARTICLE.format(tag=tag), encoding="utf-8")
            report = sync(settings, encoder=encoder, backend=backend)
            assert report.ok and SOURCE in report.added + report.updated, report
            entry = backend.read_manifest(str(report.version)).articles[SOURCE]
            assert len(entry["chunk_ids"]) >= 2  # so a mix could happen at all
            ids_of.update((cid, tag) for cid in entry["chunk_ids"])

        publish(0)
        bot = build_chatbot(settings, encoder=encoder, backend=backend)
        replies: list[Reply] = []
        stop = threading.Event()

        def reader(session: str) -> None:
            asked = 0
            while not stop.is_set():
                replies.append(bot.ask(QUESTIONS[asked % len(QUESTIONS)], session))
                asked += 1

        threads = [threading.Thread(target=reader, args=(f"reader-{n}",)) for n in range(2)]
        for thread in threads:
            thread.start()
        try:
            for edition in range(1, EDITIONS):
                publish(edition)
                # Liveness guard, not a timing assertion: wait until the readers have
                # answered from this edition, so that every edition is exercised.
                deadline = time.monotonic() + 120
                while not any(f"ed{edition}" in article_tags(r) for r in replies[-20:]):
                    assert time.monotonic() < deadline, f"readers never saw ed{edition}"
                    assert all(t.is_alive() for t in threads)
                    time.sleep(0.01)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    finally:
        if server is not None:
            server.stop()

    assert len(replies) >= 10
    seen: set[str] = set()
    for reply in replies:
        assert reply.kind == "answer", reply.answer
        assert reply.answer.endswith(reply.disclaimer)
        chunks = [c for c in reply.retrieved if c.source == SOURCE]
        assert chunks, reply.query
        by_id = {ids_of[c.chunk_id] for c in chunks}
        by_text = article_tags(reply)
        assert len(by_id) == 1 and by_id == by_text, (by_id, by_text)  # one whole edition
        bodies = {c.chunk_id: c.text for c in chunks}
        for citation in reply.citations:
            if citation.source == SOURCE:
                assert ids_of[citation.chunk_id] in by_id
                for piece in citation.snippet.split(" … "):
                    assert piece in bodies[citation.chunk_id]
        seen |= by_id
    assert seen == {f"ed{n}" for n in range(EDITIONS)}
