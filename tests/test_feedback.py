"""The SQLite feedback store: insert/update, list, filter, CSV export, stored fields."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from chatbot.answer import finalize
from chatbot.config import Settings
from chatbot.feedback import (
    COLUMNS,
    Feedback,
    FeedbackStore,
    new_id,
    rating_from_thumbs,
    to_csv,
)
from chatbot.reply import Citation, Reply


def _reply(text: str = "Cramps are sudden contractions [1].") -> Reply:
    citation = Citation(
        n=1,
        title="Understanding Muscle Spasms",
        publisher="Dr.Oracle",
        section="Overview",
        last_updated="2025-07-23",
        source="001.txt",
        snippet="Cramps are sudden contractions.",
    )
    return finalize(
        "answer", text, "Not medical advice.", citations=[citation], query="what are cramps"
    )


@pytest.fixture
def store(settings: Settings) -> FeedbackStore:
    return FeedbackStore(settings.feedback_db)


def test_lives_in_the_state_dir(settings: Settings, store: FeedbackStore) -> None:
    assert settings.feedback_db.parent == settings.state_dir
    assert settings.feedback_db.exists()


def test_insert_then_update_keeps_one_row(store: FeedbackStore) -> None:
    fid = new_id()
    first = store.save(Feedback.for_reply(fid, "What are cramps?", _reply(), rating="up"))
    assert first.rating == "up" and first.created_at
    second = store.save(
        Feedback.for_reply(fid, "What are cramps?", _reply(), rating="down", comment=" vague ")
    )
    assert second.rating == "down"
    assert second.comment == "vague"
    assert second.created_at == first.created_at
    items = store.items()
    assert len(items) == 1
    got = items[0]
    assert got.question == "What are cramps?"
    assert got.query == "what are cramps"
    assert got.kind == "answer"
    assert got.reply.endswith("Not medical advice.")
    assert got.citations[0]["title"] == "Understanding Muscle Spasms"
    assert got.citations[0]["snippet"] == "Cramps are sudden contractions."


def test_filter_thumbs_down_and_counts(store: FeedbackStore) -> None:
    store.save(Feedback.for_reply(new_id(), "q up", _reply(), rating="up"))
    store.save(Feedback.for_reply(new_id(), "q down 1", _reply(), rating="down"))
    store.save(Feedback.for_reply(new_id(), "q down 2", _reply(), rating="down"))
    assert {f.question for f in store.items(rating="down")} == {"q down 1", "q down 2"}
    assert [f.question for f in store.items(rating="up")] == ["q up"]
    assert len(store.items()) == 3
    assert len(store.items(limit=2)) == 2
    assert store.counts() == {"up": 1, "down": 2, "none": 0, "total": 3}


def test_delete(store: FeedbackStore) -> None:
    fid = new_id()
    store.save(Feedback.for_reply(fid, "q", _reply(), rating="up"))
    assert store.delete(fid)
    assert store.get(fid) is None
    assert not store.delete(fid)


def test_rejects_unknown_rating(store: FeedbackStore) -> None:
    with pytest.raises(ValueError):
        store.save(Feedback.for_reply(new_id(), "q", _reply(), rating="meh"))  # type: ignore[arg-type]


def test_thumbs_mapping() -> None:
    assert rating_from_thumbs(1) == "up"
    assert rating_from_thumbs(0) == "down"
    assert rating_from_thumbs(None) is None


def test_csv_export(store: FeedbackStore) -> None:
    store.save(
        Feedback.for_reply(
            new_id(),
            '=HYPERLINK("http://x")',
            _reply(),
            rating="down",
            comment='@bad, "quoted"',
        )
    )
    text = to_csv(store.items(rating="down"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["rating"] == "down"
    assert row["kind"] == "answer"
    # Spreadsheet formulas from patients are defused, the text otherwise kept.
    assert row["question"] == '\'=HYPERLINK("http://x")'
    assert row["comment"] == '\'@bad, "quoted"'
    assert "[1] Understanding Muscle Spasms — Dr.Oracle (Overview)" in row["sources"]
    assert json.loads(row["citations_json"])[0]["n"] == 1
    assert "id" not in row  # nothing that could link rows together


def test_stores_no_other_personal_data(store: FeedbackStore, settings: Settings) -> None:
    store.save(Feedback.for_reply(new_id(), "q", _reply(), rating="up"))
    with sqlite3.connect(settings.feedback_db) as con:
        columns = [r[1] for r in con.execute("PRAGMA table_info(feedback)")]
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tuple(columns) == COLUMNS
    assert tables == ["feedback"]
    for forbidden in ("session", "ip", "user", "agent", "email", "name"):
        assert not any(forbidden in c for c in columns if c != "id")


def test_survives_reopen(settings: Settings) -> None:
    fid = new_id()
    FeedbackStore(settings.feedback_db).save(
        Feedback.for_reply(fid, "q", _reply(), rating="down", comment="c")
    )
    again = FeedbackStore(Path(settings.feedback_db))
    assert again.get(fid) is not None
    assert again.get(fid).comment == "c"  # type: ignore[union-attr]


def test_personal_details_are_redacted_before_storing(store: FeedbackStore) -> None:
    saved = store.save(
        Feedback.for_reply(
            new_id(),
            "I'm Ann, born 12/03/1985, my cramps at 38 weeks, mail ann.lee@example.org",
            _reply(),
            rating="down",
            comment="call me on +44 7700 900123 or 07700-900-123; took 400 mg for 2 weeks",
        )
    )
    assert saved.question == "I'm Ann, born [date], my cramps at 38 weeks, mail [email]"
    assert saved.comment == "call me on [phone] or [phone]; took 400 mg for 2 weeks"


def test_retention_deletes_old_feedback_on_opening(settings: Settings) -> None:
    store = FeedbackStore(settings.feedback_db)
    old = store.save(
        Feedback(
            id=new_id(),
            question="old",
            reply="r",
            kind="answer",
            rating="up",
            created_at="2020-01-01T00:00:00+00:00",
        )
    )
    recent = store.save(Feedback.for_reply(new_id(), "recent", _reply(), rating="up"))
    assert {f.id for f in store.items()} == {old.id, recent.id}
    FeedbackStore(settings.feedback_db, retention_days=90)  # the app opening it
    assert [f.id for f in store.items()] == [recent.id]
    assert store.purge(0) == 1 and store.items() == []


def test_the_database_is_readable_by_its_owner_only(settings: Settings) -> None:
    FeedbackStore(settings.feedback_db)
    assert settings.feedback_db.stat().st_mode & 0o777 == 0o600
