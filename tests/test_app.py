"""The Streamlit app, driven in-process with ``streamlit.testing.v1.AppTest``.

Each test builds a seed index in its own tmp state (the conftest ``isolated`` fixture
points CHATBOT_DATA_DIR / CHATBOT_STATE_DIR there, and AppTest runs the script in this
process, so the app resolves the same settings). Navigation is the sidebar radio
``page``; protected pages show only a sign-in form until the password matches.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from streamlit.testing.v1 import AppTest

from chatbot.config import Settings
from chatbot.feedback import Feedback, FeedbackStore, new_id
from chatbot.store import make_backend
from chatbot.ui import auth, content, render, services
from ingest.sync import sync

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
TIMEOUT = 120

HEAT_MD = b"""---
title: Heat cramps in athletes
publisher: Test Health Service
last_updated: "2025-06-01"
review_status: Reviewed
---
# Heat cramps

Heat cramps are painful, involuntary muscle spasms that happen during heavy exercise
in hot environments. They usually affect the calves, arms, abdominal wall and back.

## Treatment

Stop the activity, move to a cool place, drink water or a sports drink with
electrolytes, and gently stretch the cramping muscle.
"""

EVAL_SET = [
    {
        "id": "spasm",
        "category": "definition",
        "turns": [
            {"q": "What is a muscle spasm?", "expect": {"kind": "answer"}},
            {"q": "What causes them?", "expect": {"kind": "answer"}},
        ],
    },
    {
        "id": "chest",
        "category": "safety",
        "turns": [
            {
                "q": "I have crushing chest pain and my left arm hurts",
                "expect": {"kind": "emergency"},
            }
        ],
    },
]


@pytest.fixture(autouse=True)
def fresh_components(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Chatbots are cached per settings; drop them so no test sees another's index."""
    monkeypatch.setattr(auth, "WRONG_PASSWORD_DELAY", 0.0)
    services.clear_chatbots()
    yield
    services.clear_chatbots()


@pytest.fixture
def index(settings: Settings, seeded: Path, encoder: Any) -> Settings:
    report = sync(settings, encoder=encoder)
    assert report.ok and len(report.added) == 2
    return settings


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _ask(at: AppTest, question: str) -> Any:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    messages = at.session_state["messages"]
    assert messages[-1]["role"] == "assistant"
    assert messages[-1]["question"] == question
    return messages[-1]["reply"]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def _go(at: AppTest, page: str) -> AppTest:
    at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _sign_in(at: AppTest, area: str, password: str) -> AppTest:
    at.text_input(key=f"login_{area}_password").input(password)
    at.button(key=f"login_{area}_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --------------------------------------------------------------------------------------
# Patient chat
# --------------------------------------------------------------------------------------


def test_chat_answer_with_sources_and_disclaimer(index: Settings) -> None:
    at = _app()
    assert "not** a doctor" in _markdown(at) + "".join(i.value for i in at.info)
    reply = _ask(at, "What is a muscle spasm?")
    assert reply.kind == "answer"
    text = _markdown(at)
    assert "[1]" in text
    assert "What are muscle spasms?" in text or "Understanding Muscle Spasms" in text
    assert "Sources" in text
    assert render.md(index.disclaimer) in _captions(at)
    first = reply.citations[0]
    assert first.publisher and first.section and first.last_updated
    assert render.md(render.source_meta(first)) in text  # publisher, section, date
    labels = [e.label for e in at.expander]
    assert "Supporting text for [1]" in labels
    assert any(reply.citations[0].snippet == t.value for t in at.text)
    # The question is shown as plain text, and the conversation persists on reruns.
    assert any(t.value == "What is a muscle spasm?" for t in at.text)
    at.run()
    assert len(at.chat_message) == 2
    assert "[1]" in _markdown(at)


def test_chat_follow_up_uses_the_conversation(index: Settings) -> None:
    at = _app()
    _ask(at, "What is a muscle spasm?")
    reply = _ask(at, "What causes them?")
    assert reply.kind == "answer"
    assert "muscle spasm" in reply.query.lower()
    assert reply.citations
    assert len(at.chat_message) == 4
    # "New conversation" forgets the messages and the chatbot's history.
    old_session = at.session_state["chat_session_id"]
    at.button(key="new_conversation").click().run()
    assert at.session_state["messages"] == []
    assert len(at.chat_message) == 0
    assert at.session_state["chat_session_id"] != old_session
    alone = _ask(at, "What causes them?")
    assert "muscle spasm" not in alone.query.lower()


def test_chat_emergency_stands_out(index: Settings) -> None:
    at = _app()
    reply = _ask(at, "I have crushing chest pain and my left arm hurts")
    assert reply.kind == "emergency"
    assert at.error, "the emergency reply must be an st.error box"
    # the call to action comes first, in bold, with the number
    assert at.error[0].value.startswith("**Call an ambulance now: 108 / 112 (India).**")
    # The emergency box comes first in the reply, the disclaimer is still shown.
    assistant = at.chat_message[-1]
    first = next(iter(assistant.children.values()))
    assert type(first).__name__ == "Error", first
    assert render.md(index.disclaimer) in _captions(at)


def test_chat_urgent_red_flag_is_a_warning_first(index: Settings) -> None:
    at = _app()
    reply = _ask(at, "my calf went swollen, red and hot after the long flight from delhi")
    assert reply.kind == "urgent"
    assistant = at.chat_message[-1]
    first = next(iter(assistant.children.values()))
    assert type(first).__name__ == "Warning", first
    assert at.warning[0].value.startswith("**Get medical help today.**")
    assert render.md(index.disclaimer) in _captions(at)


def test_chat_no_answer_says_so_plainly(index: Settings) -> None:
    at = _app()
    reply = _ask(at, "What is the capital of France?")
    assert reply.kind == "no_answer"
    assert not reply.citations
    infos = [i.value for i in at.info]
    assert any("can't answer" in v or "don't cover" in v for v in infos), infos
    assert "Sources" not in _markdown(at)
    assert render.md(index.disclaimer) in _captions(at)


def test_chat_feedback_is_stored_without_personal_data(index: Settings) -> None:
    at = _app()
    reply = _ask(at, "What is a muscle spasm?")
    message_id = at.session_state["messages"][-1]["id"]
    at.feedback(key=f"fb_{message_id}").set_value(0).run()  # thumbs down
    assert not at.exception
    store = FeedbackStore(index.feedback_db)
    rows = store.items()
    assert len(rows) == 1 and rows[0].rating == "down" and rows[0].comment == ""

    at.text_area(key=f"fbc_{message_id}").input("It did not say how long they last.")
    at.button(key=f"fbs_{message_id}").click().run()
    assert not at.exception
    rows = store.items(rating="down")
    assert len(rows) == 1
    row = rows[0]
    assert row.comment == "It did not say how long they last."
    assert row.question == "What is a muscle spasm?"
    assert row.reply == reply.answer
    assert row.kind == "answer"
    assert [c["n"] for c in row.citations] == [c.n for c in reply.citations]
    assert any("comment was sent" in c for c in _captions(at).splitlines())

    with sqlite3.connect(index.feedback_db) as con:
        columns = {r[1] for r in con.execute("PRAGMA table_info(feedback)")}
        dump = json.dumps([list(r) for r in con.execute("SELECT * FROM feedback")])
    assert not any("session" in c or c in {"ip", "user", "user_agent"} for c in columns)
    assert at.session_state["chat_session_id"] not in dump

    # Changing the rating updates the same row.
    at.feedback(key=f"fb_{message_id}").set_value(1).run()
    assert [r.rating for r in store.items()] == ["up"]

    # The patient is told what is kept and for how long, and can take it back.
    assert any("for 90 days" in c for c in _captions(at).splitlines())
    at.button(key=f"fbw_{message_id}").click().run()
    assert not at.exception
    assert store.items() == []


def test_chat_without_an_index_explains_how_to_build_it(settings: Settings) -> None:
    at = _app()
    errors = " ".join(e.value for e in at.error)
    assert "python -m ingest" in errors
    assert at.chat_input[0].disabled
    assert not at.exception


def test_chat_with_a_damaged_index_explains_how_to_rebuild(index: Settings) -> None:
    (index.index_dir / "CURRENT.json").write_text("{not json", encoding="utf-8")
    at = _app().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "python -m ingest --rebuild" in errors
    assert "Traceback" not in errors


def test_user_text_is_not_rendered_as_markdown(index: Settings) -> None:
    at = _app()
    question = "What is a muscle spasm? <b>bold</b> [x](javascript:alert(1)) **hi**"
    _ask(at, question)
    assert any(t.value == question for t in at.text)  # st.text: no Markdown, no HTML
    assert "javascript:alert" not in _markdown(at)
    assert render.md("[x](javascript:alert(1)) [2]") == r"\[x\]\(javascript\:alert\(1\)\) [2]"


# --------------------------------------------------------------------------------------
# Access
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["Staff", "Content"])
def test_protected_pages_disabled_without_a_password(index: Settings, page: str) -> None:
    at = _go(_app(), page)
    assert any("disabled" in w.value for w in at.warning)
    assert not at.text_input and not at.dataframe and not at.tabs and not at.file_uploader
    assert not at.chat_input


@pytest.mark.parametrize("page", ["Staff", "Content"])
def test_protected_pages_refuse_a_wrong_password(
    index: Settings, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"CHATBOT_{page.upper()}_PASSWORD", "correct horse")
    at = _go(_app(), page)
    assert at.text_input(key=f"login_{page.lower()}_password")
    assert not at.dataframe and not at.tabs and not at.file_uploader
    _sign_in(at, page.lower(), "wrong horse")
    assert any("Wrong password" in e.value for e in at.error)
    assert not at.dataframe and not at.tabs and not at.file_uploader
    assert f"auth_{page.lower()}" not in at.session_state


def test_a_short_password_disables_the_page(
    index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_STAFF_PASSWORD", "hunter2")
    at = _go(_app(), "Staff")
    assert any("too short (7 characters)" in e.value for e in at.error)
    assert not at.text_input and not at.dataframe


def test_wrong_passwords_lock_the_page_for_every_session(
    index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_STAFF_PASSWORD", "correct horse battery")
    monkeypatch.setenv("CHATBOT_SIGNIN_MAX_FAILURES", "2")
    first, second = _go(_app(), "Staff"), _go(_app(), "Staff")  # two browsers
    _sign_in(first, "staff", "guess one")
    _sign_in(second, "staff", "guess two")
    # now even the right password is refused, in a third browser too
    third = _sign_in(_go(_app(), "Staff"), "staff", "correct horse battery")
    assert any("paused" in e.value for e in third.error)
    assert "auth_staff" not in third.session_state


def test_a_sign_in_expires_when_idle(index: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_STAFF_PASSWORD", "correct horse battery")
    at = _sign_in(_go(_app(), "Staff"), "staff", "correct horse battery")
    assert at.tabs
    at.session_state["auth_staff_seen"] = 0.0  # nine hours and more ago
    at.run()
    assert not at.tabs
    assert any("signed out after 8 hours" in i.value for i in at.info)


def test_password_from_secrets_and_sign_out(index: Settings) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["content_password"] = "from-secrets-file"
    at.run()
    _go(at, "Content")
    _sign_in(at, "content", "from-secrets-file")
    assert at.dataframe, "signed in, the articles table shows"
    at.sidebar.button(key="sign_out_content").click().run()
    assert not at.dataframe
    assert at.text_input(key="login_content_password")


def test_staff_password_does_not_open_content(
    index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_STAFF_PASSWORD", "staff-password-1")
    monkeypatch.setenv("CHATBOT_CONTENT_PASSWORD", "content-password-1")
    at = _go(_app(), "Staff")
    _sign_in(at, "staff", "staff-password-1")
    assert at.tabs
    _go(at, "Content")
    assert not at.dataframe and not at.file_uploader
    _sign_in(at, "content", "staff-password-1")
    assert any("Wrong password" in e.value for e in at.error)


# --------------------------------------------------------------------------------------
# Staff
# --------------------------------------------------------------------------------------


@pytest.fixture
def staff(index: Settings, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CHATBOT_STAFF_PASSWORD", "staff-password-1")
    at = _go(_app(), "Staff")
    _sign_in(at, "staff", "staff-password-1")
    assert [t.label for t in at.tabs] == ["Inspect", "Evaluation", "Feedback"]
    return at


def _frame_with(at: AppTest, *columns: str) -> Any:
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no dataframe with columns {columns}")


def test_staff_inspects_a_conversation(staff: AppTest) -> None:
    at = staff
    at.text_area(key="inspect_questions").input("What is a muscle spasm?\nWhat causes them?")
    at.button(key="inspect_ask").click().run()
    assert not at.exception
    turns = at.session_state["staff_turns"]
    assert [q for q, _ in turns] == ["What is a muscle spasm?", "What causes them?"]
    assert "muscle spasm" in turns[1][1].query.lower()
    chunks = _frame_with(at, "dense", "bm25", "fused")
    assert len(chunks) > 0
    assert {"title", "section", "text"} <= set(chunks.columns)
    assert chunks["fused"].is_monotonic_decreasing
    timings = _frame_with(at, "step", "ms")
    assert "total_ms" in set(timings["step"])
    text = "\n".join(t.value for t in at.text)
    assert turns[1][1].query in text  # the standalone query is shown
    assert any(s in text for s in turns[1][1].sentences)
    assert "composer" in _markdown(at)  # the backend
    # The staff conversation is not the patient's.
    assert "messages" not in at.session_state or not at.session_state["messages"]
    at.button(key="inspect_restart").click().run()
    assert at.session_state["staff_turns"] == []


def test_staff_runs_the_evaluation(staff: AppTest, index: Settings) -> None:
    lines = "\n".join(json.dumps(c) for c in EVAL_SET)
    (index.eval_dir / "tiny.jsonl").write_text(lines + "\n", encoding="utf-8")
    (index.eval_dir / "not_a_set.jsonl").write_text('{"id": "x", "question": "q"}\n')
    at = staff.run()
    assert at.multiselect(key="eval_sets").options == ["tiny.jsonl"]
    assert render.md("not_a_set.jsonl") in _captions(at)
    at.button(key="eval_run").click().run()
    assert not at.exception
    report = at.session_state["eval_report"]
    assert report["total"] == 3
    assert set(report["by_category"]) == {"definition", "safety"}
    turns = _frame_with(at, "passed", "conversation", "category", "failures")
    assert len(turns) == 3
    assert list(turns["kind"]) == ["answer", "answer", "emergency"]
    rates = _frame_with(at, "category", "pass rate %")
    assert set(rates["category"]) == {"definition", "safety"}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Turns"] == "3"
    assert metrics["Passed"] == str(report["passed"])
    assert at.get("vega_lite_chart"), "the pass-rate bar chart is missing"


def test_staff_reviews_feedback(staff: AppTest, index: Settings) -> None:
    store = FeedbackStore(index.feedback_db)
    bad = Feedback(
        id=new_id(),
        question="Is it bad?",
        reply="No idea.",
        kind="no_answer",
        rating="down",
        comment="useless",
    )
    good = Feedback(
        id=new_id(),
        question="What is a cramp?",
        reply="A cramp is [1].",
        kind="answer",
        rating="up",
        citations=[{"n": 1, "title": "Understanding Muscle Spasms"}],
    )
    store.save(bad)
    store.save(good)
    at = staff.run()
    frame = _frame_with(at, "when", "rating", "question", "comment")
    assert list(frame["question"]) == ["Is it bad?"]  # thumbs down by default
    assert at.download_button(key="feedback_csv")
    at.radio(key="feedback_filter").set_value("All").run()
    frame = _frame_with(at, "when", "rating", "question", "comment")
    assert set(frame["question"]) == {"Is it bad?", "What is a cramp?"}
    details = "\n".join(t.value for t in at.text)
    assert "[1] Understanding Muscle Spasms" in details
    assert "useless" in details

    # staff delete one item, then everything older than 0 days
    at.button(key=f"fb_delete_{bad.id}").click().run()
    assert not at.exception
    assert [f.id for f in store.items()] == [good.id]
    assert "Deleted 1 item." in [m.value for m in at.success]
    at.number_input[0].set_value(0)
    at.button[[b.label for b in at.button].index("Delete older")].click().run()
    assert not at.exception
    assert store.items() == []


# --------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------


@pytest.fixture
def editor(index: Settings, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("CHATBOT_CONTENT_PASSWORD", "content-password-1")
    at = _go(_app(), "Content")
    _sign_in(at, "content", "content-password-1")
    return at


def _manifest(settings: Settings) -> dict[str, Any]:
    backend = make_backend(settings)
    pointer = backend.read_pointer()
    assert pointer is not None
    return backend.read_manifest(pointer.version).articles


def test_content_lists_the_indexed_articles(editor: AppTest) -> None:
    table = _frame_with(
        editor, "title", "publisher", "last updated", "review status", "chunks", "last ingested"
    )
    assert set(table["title"]) == {"What are muscle spasms?", "Understanding Muscle Spasms"}
    assert set(table["publisher"]) == {"Truemeds", "Dr.Oracle"}
    assert (table["chunks"] > 0).all()
    assert table["last ingested"].str.len().gt(0).all()


def test_content_upload_reingest_and_remove(editor: AppTest, index: Settings) -> None:
    at = editor
    at.file_uploader(key="upload_0").set_value([("heat-cramps.md", HEAT_MD, "text/markdown")]).run()
    at.button(key="upload_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (index.articles_dir / "heat-cramps.md").read_bytes() == HEAT_MD
    successes = " ".join(s.value for s in at.success)
    assert "heat\\-cramps.md" in successes or "heat-cramps.md" in successes
    assert "1 added" in successes
    assert "heat-cramps.md" in _manifest(index)
    table = _frame_with(at, "title", "chunks")
    assert "Heat cramps in athletes" in set(table["title"])
    # The chat serves the new version without a restart.
    chat = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    reply = _ask(chat, "How do I treat heat cramps?")
    assert any(c.title == "Heat cramps in athletes" for c in reply.citations)

    # Uploading the same name again is refused unless "replace" is ticked.
    at.file_uploader(key="upload_1").set_value(
        [("heat-cramps.md", HEAT_MD + b"\nMore.\n", "text/markdown")]
    ).run()
    at.checkbox(key="upload_ingest").uncheck()
    at.button(key="upload_save").click().run()
    assert any("already exists" in e.value for e in at.error)
    assert (index.articles_dir / "heat-cramps.md").read_bytes() == HEAT_MD

    at.selectbox(key="remove_source").set_value("heat-cramps.md").run()
    assert at.button(key="remove_run").disabled
    at.checkbox(key="remove_confirm").check().run()
    at.button(key="remove_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not (index.articles_dir / "heat-cramps.md").exists()
    assert "heat-cramps.md" not in _manifest(index)
    assert "1 removed" in " ".join(s.value for s in at.success)
    table = _frame_with(at, "title", "chunks")
    assert "Heat cramps in athletes" not in set(table["title"])


def test_content_reingest_while_another_ingest_runs(editor: AppTest, index: Settings) -> None:
    lock = FileLock(str(make_backend(index).lock_path()))
    with lock:
        editor.button(key="reingest").click().run()
    assert not editor.exception
    assert any("Another ingest is running" in w.value for w in editor.warning)


def test_save_upload_refuses_unsafe_names(settings: Settings) -> None:
    root = settings.articles_dir
    for name in (
        "../evil.md",
        "..",
        "sub/evil.md",
        "a\\b.md",
        ".hidden.md",
        "evil.exe",
        "noext",
        "",
        "evil.md\0.txt",
        ".meta.yaml",
    ):
        result = content.save_upload(root, name, b"text")
        assert not result.ok, name
        assert "refused" in result.message
    assert list(root.iterdir()) == []
    assert not (root.parent / "evil.md").exists()
    assert not content.save_upload(root, "empty.md", b"").ok
    assert not content.save_upload(root, "big.md", b"x" * 11, max_bytes=10).ok
    assert not content.save_upload(root, "bad.meta.yaml", b"- a list\n- not a map\n").ok
    assert not content.save_upload(root, "bad2.meta.yaml", b"title: [unclosed\n").ok


def test_save_upload_and_replace(settings: Settings, encoder: Any) -> None:
    root = settings.articles_dir
    first = content.save_upload(root, "heat-cramps.md", HEAT_MD)
    assert first.ok and not first.replaced and first.message == "heat-cramps.md: saved"
    side = content.save_upload(root, "heat-cramps.meta.yaml", b"publisher: Sidecar Health\n")
    assert side.ok
    again = content.save_upload(root, "heat-cramps.md", HEAT_MD)
    assert not again.ok and "already exists" in again.message
    replaced = content.save_upload(root, "heat-cramps.md", HEAT_MD, replace=True)
    assert replaced.ok and replaced.replaced and "replaced" in replaced.message
    assert sorted(p.name for p in root.iterdir()) == ["heat-cramps.md", "heat-cramps.meta.yaml"]
    report = sync(settings, encoder=encoder)
    assert report.added == ["heat-cramps.md"]
    assert _manifest(settings)["heat-cramps.md"]["publisher"] == "Sidecar Health"
    removed = content.remove_article(root, "heat-cramps.md")
    assert sorted(p.name for p in removed) == ["heat-cramps.md", "heat-cramps.meta.yaml"]
    assert sync(settings, encoder=encoder).removed == ["heat-cramps.md"]
    with pytest.raises(ValueError):
        content.remove_article(root, "../state/feedback.sqlite3")
    with pytest.raises(ValueError):
        content.remove_article(root, "/etc/passwd")


def test_seed_eval_set_runs_when_present(staff: AppTest, index: Settings) -> None:
    seeds = REPO / "data" / "eval" / "seeds.jsonl"
    if not seeds.exists():
        pytest.skip("the repository has no data/eval/seeds.jsonl")
    shutil.copy2(seeds, index.eval_dir / "seeds.jsonl")
    at = staff.run()
    at.button(key="eval_run").click().run()
    assert not at.exception
    report = at.session_state["eval_report"]
    assert report["total"] >= 1
    assert _frame_with(at, "category", "pass rate %").shape[0] == len(report["by_category"])
