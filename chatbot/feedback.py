"""Patients' thumbs up/down on replies, kept in a small SQLite database.

One row per rated reply (``settings.feedback_db``, in the state directory) with only
what staff need to review it: the question, the standalone query that was searched,
the reply text, its kind, its citations (JSON), the rating, an optional comment and
timestamps. Nothing else is stored: no session id, no IP address, no user agent. The
row id is drawn at random for each reply, so it links nothing across replies.

Patients type personal details anyway: e-mail addresses, phone numbers and dates (a
date of birth) in the question and the comment are replaced by ``[email]``, ``[phone]``
and ``[date]`` before anything is stored. Rows older than the retention period are
deleted when the store opens and at most daily after that; the file and its folder are
readable by their owner only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from chatbot.reply import Reply

Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")

MAX_COMMENT_CHARS = 2000
MAX_TEXT_CHARS = 20_000

COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "rating",
    "comment",
    "question",
    "query",
    "reply",
    "kind",
    "citations",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    rating      TEXT CHECK (rating IN ('up', 'down')),
    comment     TEXT NOT NULL DEFAULT '',
    question    TEXT NOT NULL,
    query       TEXT NOT NULL DEFAULT '',
    reply       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    citations   TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS feedback_rating ON feedback (rating, created_at);
"""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DATE = re.compile(
    r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
    r"\.? \d{4})\b",
    re.IGNORECASE,
)
# seven or more digits, with the spaces, dots, dashes and brackets people put in them
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{6,}\d(?![\w])")


def redact(text: str) -> str:
    """E-mail addresses, dates and phone numbers out: what a patient should not have
    typed into a health question, and staff do not need to review it."""
    text = _EMAIL.sub("[email]", text)
    text = _DATE.sub("[date]", text)
    return _PHONE.sub(
        lambda m: "[phone]" if sum(c.isdigit() for c in m.group(0)) >= 7 else m.group(0), text
    )


# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def new_id() -> str:
    """A random id for one reply's feedback (not tied to a person or a session)."""
    return uuid.uuid4().hex


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def rating_from_thumbs(value: int | None) -> Rating | None:
    """``st.feedback("thumbs")`` gives 1 for thumbs up, 0 for thumbs down."""
    if value is None:
        return None
    return "up" if int(value) == 1 else "down"


@dataclass
class Feedback:
    id: str
    question: str
    reply: str
    kind: str
    rating: Rating | None = None
    comment: str = ""
    query: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""

    @classmethod
    def for_reply(
        cls,
        feedback_id: str,
        question: str,
        reply: Reply,
        rating: Rating | None = None,
        comment: str = "",
    ) -> Feedback:
        return cls(
            id=feedback_id,
            question=question,
            reply=reply.answer,
            kind=reply.kind,
            rating=rating,
            comment=comment,
            query=reply.query,
            citations=[c.model_dump() for c in reply.citations],
        )

    def sources_text(self) -> str:
        """The citations on one line each, for people: ``[1] Title — Publisher (section)``."""
        lines = []
        for c in self.citations:
            line = f"[{c.get('n', '?')}] {c.get('title', '')}"
            if c.get("publisher"):
                line += f" — {c['publisher']}"
            if c.get("section"):
                line += f" ({c['section']})"
            if c.get("url"):
                line += f" {c['url']}"
            lines.append(line)
        return "\n".join(lines)


class FeedbackStore:
    """The SQLite file behind the feedback; safe to use from several threads/processes."""

    def __init__(self, path: Path, retention_days: int = 0) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():  # owner-only from the start, before SQLite opens it
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.path, 0o600)
        with self._connect() as con:
            con.executescript(SCHEMA)
        self._purged_at = 0.0
        self._purge_if_due()

    def purge(self, older_than_days: int) -> int:
        """Delete feedback created ``older_than_days`` days ago or earlier (0: all of it);
        how many were deleted."""
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
        with self._connect() as con:
            return con.execute("DELETE FROM feedback WHERE created_at <= ?", (cutoff,)).rowcount

    def _purge_if_due(self) -> None:
        """Apply the retention period when the store opens and at most daily after."""
        if not self.retention_days:
            return
        now = time.monotonic()
        if self._purged_at and now - self._purged_at < 86_400:
            return
        self.purge(self.retention_days)
        self._purged_at = now

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as con:
            con.row_factory = sqlite3.Row
            with con:  # commit on success, roll back on error
                yield con

    def save(self, item: Feedback) -> Feedback:
        """Insert or update the feedback for one reply (keyed by ``item.id``)."""
        if item.rating is not None and item.rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS} or None, not {item.rating!r}")
        now = _now()
        row = {
            "id": item.id,
            "created_at": item.created_at or now,
            "updated_at": now,
            "rating": item.rating,
            "comment": redact((item.comment or "").strip()[:MAX_COMMENT_CHARS]),
            "question": redact(item.question[:MAX_TEXT_CHARS]),
            "query": redact(item.query[:MAX_TEXT_CHARS]),
            "reply": item.reply[:MAX_TEXT_CHARS],
            "kind": item.kind,
            "citations": json.dumps(item.citations, ensure_ascii=False),
        }
        self._purge_if_due()
        with self._connect() as con:
            con.execute(
                f"INSERT INTO feedback ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join(':' + c for c in COLUMNS)}) "
                "ON CONFLICT(id) DO UPDATE SET updated_at=excluded.updated_at, "
                "rating=excluded.rating, comment=excluded.comment, question=excluded.question, "
                "query=excluded.query, reply=excluded.reply, kind=excluded.kind, "
                "citations=excluded.citations",
                row,
            )
        saved = self.get(item.id)
        assert saved is not None
        return saved

    def get(self, feedback_id: str) -> Feedback | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM feedback WHERE id = ?", (feedback_id,)).fetchone()
        return _from_row(row) if row is not None else None

    def delete(self, feedback_id: str) -> bool:
        with self._connect() as con:
            return con.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,)).rowcount > 0

    def items(self, rating: Rating | None = None, limit: int | None = None) -> list[Feedback]:
        """Newest first; ``rating="down"`` keeps only thumbs down."""
        sql = "SELECT * FROM feedback"
        params: list[Any] = []
        if rating is not None:
            sql += " WHERE rating = ?"
            params.append(rating)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._connect() as con:
            return [_from_row(r) for r in con.execute(sql, params).fetchall()]

    def counts(self) -> dict[str, int]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT COALESCE(rating, 'none') AS r, COUNT(*) AS n FROM feedback GROUP BY r"
            ).fetchall()
        counts = {"up": 0, "down": 0, "none": 0}
        counts.update({r["r"]: r["n"] for r in rows})
        counts["total"] = sum(counts.values())
        return counts


def _from_row(row: sqlite3.Row) -> Feedback:
    try:
        citations = json.loads(row["citations"] or "[]")
    except ValueError:
        citations = []
    return Feedback(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        rating=row["rating"],
        comment=row["comment"],
        question=row["question"],
        query=row["query"],
        reply=row["reply"],
        kind=row["kind"],
        citations=citations,
    )


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas in text that came from patients or articles."""
    return "'" + value if value.startswith(_FORMULA_START) else value


CSV_HEADER = (
    "created_at",
    "updated_at",
    "rating",
    "comment",
    "question",
    "query",
    "kind",
    "reply",
    "sources",
    "citations_json",
)


def to_csv(items: Iterable[Feedback]) -> str:
    """The feedback as CSV (UTF-8 text, header first) for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for f in items:
        writer.writerow(
            [
                f.created_at,
                f.updated_at,
                f.rating or "",
                _cell(f.comment),
                _cell(f.question),
                _cell(f.query),
                f.kind,
                _cell(f.reply),
                _cell(f.sources_text()),
                json.dumps(f.citations, ensure_ascii=False),
            ]
        )
    return out.getvalue()
