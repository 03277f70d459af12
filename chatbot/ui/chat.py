"""The patient chat page (open to everyone).

The conversation lives in ``st.session_state["messages"]`` (one dict per message; an
assistant message keeps its :class:`~chatbot.reply.Reply` under ``"reply"``). Each
browser session gets a random ``chat_session_id`` that the chatbot uses to keep the
history follow-up questions need; "New conversation" forgets both.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from typing import Any

import streamlit as st

from chatbot.answer import finalize
from chatbot.chain import INTERNAL_ERROR, Chatbot
from chatbot.config import Settings
from chatbot.feedback import Feedback, new_id, rating_from_thumbs
from chatbot.reply import Reply
from chatbot.store import EncoderMismatch, IndexCorrupt, IndexMissing, StoreError
from chatbot.ui import render, services

log = logging.getLogger(__name__)

TITLE = "Health information assistant"
PLACEHOLDER = "Ask a question about your health, e.g. What causes muscle cramps?"
THINKING = "Looking through the health articles…"
MAX_COMMENT_CHARS = 1000


def _messages() -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = st.session_state.setdefault("messages", [])
    return messages


def _session_id() -> str:
    if "chat_session_id" not in st.session_state:
        st.session_state["chat_session_id"] = uuid.uuid4().hex
    return str(st.session_state["chat_session_id"])


def new_conversation(settings: Settings) -> None:
    """Forget this browser session's conversation (here and in the chatbot)."""
    old = st.session_state.pop("chat_session_id", None)
    st.session_state["messages"] = []
    if old:
        try:
            services.chatbot(settings).reset(str(old))
        except Exception:  # the history is gone with a new id anyway
            log.warning("could not reset chat session", exc_info=True)


def _find(message_id: str) -> dict[str, Any] | None:
    return next((m for m in _messages() if m.get("id") == message_id), None)


def _persist_feedback(settings: Settings, message: dict[str, Any]) -> None:
    store = services.feedback_store(settings)
    if message.get("rating") is None and not message.get("comment"):
        store.delete(message["id"])
        return
    store.save(
        Feedback.for_reply(
            message["id"],
            message["question"],
            message["reply"],
            rating=message.get("rating"),
            comment=message.get("comment", ""),
        )
    )


def _on_rating(settings: Settings, message_id: str) -> None:
    message = _find(message_id)
    if message is None:
        return
    message["rating"] = rating_from_thumbs(st.session_state.get(f"fb_{message_id}"))
    _save(settings, message)


def _on_comment(settings: Settings, message_id: str) -> None:
    message = _find(message_id)
    if message is None:
        return
    text = str(st.session_state.get(f"fbc_{message_id}") or "").strip()
    message["comment"] = text[:MAX_COMMENT_CHARS]
    _save(settings, message)


def _save(settings: Settings, message: dict[str, Any]) -> None:
    try:
        _persist_feedback(settings, message)
        message["feedback_error"] = ""
    except (sqlite3.Error, OSError) as exc:
        log.error("could not save feedback: %s", exc)
        message["feedback_error"] = (
            "Sorry, your feedback could not be saved. Please try again later."
        )


def stored_note(settings: Settings) -> str:
    """What rating a reply keeps, and for how long (shown under every rating)."""
    days = settings.feedback_retention_days
    kept = f"for {days} days" if days else "until staff delete it"
    return (
        f"A rating keeps your question, the reply and your comment {kept}, to improve the "
        "answers; e-mail addresses, phone numbers and dates are removed first. Clear the "
        "rating (or withdraw it) to delete it."
    )


def _withdraw(settings: Settings, message_id: str) -> None:
    message = _find(message_id)
    if message is None:
        return
    message["rating"] = None
    message["comment"] = ""
    st.session_state.pop(f"fb_{message_id}", None)
    try:
        services.feedback_store(settings).delete(message_id)
    except Exception:
        log.exception("feedback could not be deleted")
        message["feedback_error"] = "Sorry, your feedback could not be deleted. Please try again."


def _feedback(settings: Settings, message: dict[str, Any]) -> None:
    mid = message["id"]
    rating = message.get("rating")
    default = None if rating is None else (1 if rating == "up" else 0)
    st.caption("Was this helpful?")
    st.feedback(
        "thumbs",
        key=f"fb_{mid}",
        default=default,
        on_change=_on_rating,
        args=(settings, mid),
    )
    if message.get("feedback_error"):
        st.warning(message["feedback_error"])
    if rating is None:
        return
    if message.get("comment"):
        st.caption("Thank you. Your comment was sent:")
        st.text(message["comment"])
        st.caption(stored_note(settings))
        st.button(
            "Withdraw my feedback",
            key=f"fbw_{mid}",
            icon=":material/delete:",
            on_click=_withdraw,
            args=(settings, mid),
        )
        return
    with st.form(f"fbf_{mid}", border=False):
        st.text_area(
            "Add a comment (optional; please don't include personal details)",
            key=f"fbc_{mid}",
            max_chars=MAX_COMMENT_CHARS,
            height=80,
        )
        st.form_submit_button(
            "Send comment", key=f"fbs_{mid}", on_click=_on_comment, args=(settings, mid)
        )
    st.caption("Thank you for your feedback.")
    st.caption(stored_note(settings))


def _assistant(settings: Settings, message: dict[str, Any]) -> None:
    reply: Reply = message["reply"]
    render.reply(reply)
    _feedback(settings, message)


def _show(settings: Settings, message: dict[str, Any]) -> None:
    if message["role"] == "user":
        with st.chat_message("user"):
            st.text(message["text"])
    else:
        with st.chat_message("assistant"):
            _assistant(settings, message)


def _index_problem(exc: Exception) -> None:
    if isinstance(exc, IndexMissing):
        st.error(
            "The assistant is not ready yet: its library of health articles has not been "
            "indexed. An administrator can build it by running `python -m ingest` in the "
            "project folder (or use the Content page), then reload this page."
        )
    elif isinstance(exc, IndexCorrupt | EncoderMismatch):
        st.error(
            "The assistant is unavailable right now: its index of health articles is "
            "damaged or was built differently. An administrator can rebuild it by running "
            "`python -m ingest --rebuild` in the project folder, then reload this page."
        )
    else:
        st.error(
            "The assistant is unavailable right now because of a problem with its article "
            "index. Please try again later."
        )
    # The details (paths, server addresses) go to the log, not to patients.


def _start(settings: Settings) -> Chatbot | None:
    """The chatbot with its index loaded, or None after saying what is wrong."""
    try:
        bot = services.chatbot(settings)
        bot.warm()
    except StoreError as exc:
        log.error("index problem: %s", exc)
        _index_problem(exc)
        return None
    except Exception:
        log.exception("the chatbot could not start")
        st.error(
            "The assistant could not start. Please try again later, or tell the "
            "administrator (the details are in the app's log)."
        )
        return None
    return bot


def page(settings: Settings) -> None:
    st.title(TITLE)
    st.info(render.NOTICE, icon=":material/health_and_safety:")
    messages = _messages()
    session_id = _session_id()
    for message in messages:
        _show(settings, message)
    if messages:
        st.button(
            "New conversation",
            key="new_conversation",
            icon=":material/restart_alt:",
            on_click=new_conversation,
            args=(settings,),
        )
    bot = _start(settings)
    if bot is None:
        st.chat_input(PLACEHOLDER, disabled=True)
        return
    # While questions are being answered the box is disabled: Streamlit keeps only the
    # newest of several questions sent during one busy stretch, so a question typed then
    # could be lost. One sent before the box greys out is queued (_queue_question).
    pending = [m for m in messages if m["role"] == "user" and not m.get("answered", True)]
    st.chat_input(
        PLACEHOLDER,
        key="chat_input",
        max_chars=settings.max_question_chars,
        on_submit=_queue_question,
        disabled=bool(pending),
    )
    if pending:
        _answer(settings, bot, messages, pending, session_id)
        # Rerun so the new replies are drawn by the same code as the history (their
        # feedback widgets keep their place) and "New conversation" appears.
        st.rerun()


def _queue_question() -> None:
    """The chat box's submit callback. It runs before the script, so a question sent
    while an earlier one is still being answered (which interrupts that run) is in the
    conversation before anything else happens, and is answered in its turn."""
    text = st.session_state.get("chat_input")
    if text:
        _messages().append({"role": "user", "id": new_id(), "text": text, "answered": False})


def _answer(
    settings: Settings,
    bot: Chatbot,
    messages: list[dict[str, Any]],
    pending: list[dict[str, Any]],
    session_id: str,
) -> None:
    """Answer the questions that have no reply yet, oldest first, each reply placed right
    after its question. A newer question stops this run at its next Streamlit call, and
    may start the next run while this one is still inside ``bot.ask``; the session's lock
    makes the next run wait for that reply instead of asking again, so every question
    gets exactly one reply, in order."""
    lock: threading.Lock = st.session_state.setdefault("answering", threading.Lock())
    for question in pending:
        with st.chat_message("assistant"), st.spinner(THINKING), lock:
            if question.get("answered"):  # an earlier, stopped run answered it meanwhile
                continue
            try:
                reply = bot.ask(question["text"], session_id=session_id)
            except Exception:  # Chatbot.ask already turns failures into replies
                log.exception("answering failed")
                reply = finalize("error", INTERNAL_ERROR, settings.disclaimer)
            # no Streamlit call (where a newer question stops this run) until it is kept
            messages.insert(
                messages.index(question) + 1,
                {
                    "role": "assistant",
                    "id": new_id(),
                    "question": question["text"],
                    "reply": reply,
                    "rating": None,
                    "comment": "",
                },
            )
            question["answered"] = True
