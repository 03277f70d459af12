"""The staff page (password): inspect answers, run the evaluation set, review feedback."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pandas as pd
import streamlit as st

from chatbot.config import Settings
from chatbot.evaluate import EvalFileError, load_sets, run_eval
from chatbot.feedback import Feedback, Rating, to_csv
from chatbot.reply import Reply
from chatbot.store import StoreError
from chatbot.ui import auth, render, services

log = logging.getLogger(__name__)

TITLE = "Staff"
FEEDBACK_FILTERS: dict[str, Rating | None] = {
    "All": None,
    "Thumbs down": "down",
    "Thumbs up": "up",
}
FEEDBACK_DETAIL_LIMIT = 50


def page(settings: Settings) -> None:
    if not auth.gate(settings, "staff", "Staff"):
        return
    st.title(TITLE)
    try:
        bot = services.chatbot(settings)
        bot.warm()
    except StoreError as exc:
        st.error("The index is not usable: " + render.md(str(exc)))
        bot = None
    inspect_tab, eval_tab, feedback_tab = st.tabs(["Inspect", "Evaluation", "Feedback"])
    with inspect_tab:
        if bot is None:
            st.info("Build the index first: python -m ingest")
        else:
            _inspect(bot)
    with eval_tab:
        if bot is None:
            st.info("Build the index first: python -m ingest")
        else:
            _evaluation(settings, bot)
    with feedback_tab:
        _feedback(settings)


# --------------------------------------------------------------------------------------
# Inspect
# --------------------------------------------------------------------------------------


def retrieved_frame(reply: Reply) -> pd.DataFrame:
    rows = [
        {
            "rank": i,
            "dense": c.dense,
            "bm25": c.bm25,
            "fused": c.fused,
            "title": c.title,
            "section": c.section,
            "dense_rank": c.dense_rank,
            "bm25_rank": c.bm25_rank,
            "source": c.source,
            "chunk_id": c.chunk_id,
            "text": c.text,
        }
        for i, c in enumerate(reply.retrieved, start=1)
    ]
    columns = [
        "rank",
        "dense",
        "bm25",
        "fused",
        "title",
        "section",
        "dense_rank",
        "bm25_rank",
        "source",
        "chunk_id",
        "text",
    ]
    return pd.DataFrame(rows, columns=columns)


def _staff_session() -> str:
    if "staff_session_id" not in st.session_state:
        st.session_state["staff_session_id"] = f"staff-{uuid.uuid4().hex}"
    return str(st.session_state["staff_session_id"])


def _restart(bot: Any) -> None:
    old = st.session_state.pop("staff_session_id", None)
    if old:
        bot.reset(old)
    st.session_state["staff_turns"] = []


def _turn_details(number: int, question: str, reply: Reply) -> None:
    st.markdown(f"**Turn {number}: question**")
    st.text(question)
    st.markdown("**Standalone query searched**")
    st.text(reply.query or "(none)")
    st.markdown(
        f"**Kind** {render.md(reply.kind)} · **Backend** {render.md(reply.backend)} · "
        f"**Total** {reply.timings.get('total_ms', 0):.0f} ms"
    )
    st.markdown("**Reply**")
    with st.container(border=True):
        render.reply(reply)
    if reply.triage is not None:
        t = reply.triage
        st.markdown(
            f"**Triage** {render.md(t.level)}"
            + (f" · {render.md(', '.join(t.categories))}" if t.categories else "")
            + f" · language {render.md(t.language)}"
            + (" · crisis line given" if t.crisis else "")
            + (" · safety-net line" if t.safety_net else "")
        )
        if t.evidence:
            st.text("\n".join(t.evidence))
    st.markdown(
        "**Retrieved chunks** (dense = cosine similarity, bm25 = BM25 score, "
        "fused = reciprocal-rank fusion)"
    )
    if reply.retrieved:
        st.dataframe(
            retrieved_frame(reply),
            hide_index=True,
            column_config={
                "dense": st.column_config.NumberColumn(format="%.3f"),
                "bm25": st.column_config.NumberColumn(format="%.3f"),
                "fused": st.column_config.NumberColumn(format="%.5f"),
            },
        )
    else:
        st.caption("Nothing was retrieved for this turn (emergency, refusal or empty index).")
    st.markdown("**Sentences chosen for the answer**")
    if reply.sentences:
        st.text("\n".join(f"{i}. {s}" for i, s in enumerate(reply.sentences, start=1)))
    else:
        st.caption("None.")
    st.markdown("**Timings (ms)**")
    st.dataframe(
        pd.DataFrame(
            [{"step": k, "ms": v} for k, v in reply.timings.items()], columns=["step", "ms"]
        ),
        hide_index=True,
    )


def _inspect(bot: Any) -> None:
    st.write(
        "Ask a question, or a whole conversation with one question per line. Questions "
        "continue the conversation below until you start over."
    )
    turns: list[tuple[str, Reply]] = st.session_state.setdefault("staff_turns", [])
    with st.form("inspect_form", clear_on_submit=True):
        text = st.text_area("Question(s)", key="inspect_questions", height=100)
        asked = st.form_submit_button("Ask", key="inspect_ask", type="primary")
    if asked:
        questions = [q.strip() for q in (text or "").splitlines() if q.strip()]
        if not questions:
            st.warning("Type a question first.")
        with st.spinner("Answering…"):
            for question in questions:
                turns.append((question, bot.ask(question, session_id=_staff_session())))
    if not turns:
        return
    st.button("Start over", key="inspect_restart", on_click=_restart, args=(bot,))
    for number in range(len(turns), 0, -1):
        question, reply = turns[number - 1]
        with st.expander(f"Turn {number}: {render.label(question)}", expanded=number == len(turns)):
            _turn_details(number, question, reply)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def eval_frames(report: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-turn table, pass rate by category) from ``EvalReport.to_dict()``."""
    turns = pd.DataFrame(
        [
            {
                "passed": t["passed"],
                "conversation": t["conversation"],
                "category": t["category"],
                "turn": t["turn"],
                "question": t["question"],
                "expected": t["expected_kind"],
                "kind": t["kind"],
                "failures": "; ".join(t["failures"]),
                "query": t["query"],
                "cited": ", ".join(t["cited"]),
                "ms": t["ms"],
            }
            for t in report["turns"]
        ],
        columns=[
            "passed",
            "conversation",
            "category",
            "turn",
            "question",
            "expected",
            "kind",
            "failures",
            "query",
            "cited",
            "ms",
        ],
    )
    categories = pd.DataFrame(
        [
            {
                "category": c,
                "pass rate %": round(100 * v["passed"] / v["total"], 1) if v["total"] else 0.0,
                "passed": v["passed"],
                "total": v["total"],
            }
            for c, v in report["by_category"].items()
        ],
        columns=["category", "pass rate %", "passed", "total"],
    )
    return turns, categories


def eval_sets(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """(names of the conversation sets in the eval folder, {skipped name: why})."""
    files = sorted(settings.eval_dir.glob("*.jsonl")) if settings.eval_dir.is_dir() else []
    valid, skipped = [], {}
    for file in files:
        try:
            load_sets([file])
        except EvalFileError as exc:
            skipped[file.name] = str(exc)
        else:
            valid.append(file.name)
    return valid, skipped


def _evaluation(settings: Settings, bot: Any) -> None:
    names, skipped = eval_sets(settings)
    if skipped:
        st.caption(
            "Not conversation sets, so not offered: "
            + "; ".join(render.md(f"{name} ({why})") for name, why in skipped.items())
        )
    if not names:
        st.info(f"No evaluation conversation sets (*.jsonl) in {settings.eval_dir}.")
        return
    chosen = st.multiselect("Question sets", names, default=names, key="eval_sets")
    if st.button("Run evaluation", key="eval_run", type="primary", disabled=not chosen):
        try:
            conversations = load_sets([settings.eval_dir / n for n in chosen])
        except EvalFileError as exc:
            st.error("The question set is not valid: " + render.md(str(exc)))
            conversations = []
        if conversations:
            bar = st.progress(0.0, text="Running the evaluation…")

            def progress(done: int, total: int) -> None:
                bar.progress(done / max(total, 1), text=f"Turn {done} of {total}")

            result = run_eval(bot, conversations, progress=progress)
            bar.progress(1.0, text="Done")
            st.session_state["eval_report"] = result.to_dict()
            st.session_state["eval_files"] = list(chosen)
    report = st.session_state.get("eval_report")
    if not report:
        return
    st.caption("Sets: " + ", ".join(st.session_state.get("eval_files", [])))
    total = report["total"]
    cols = st.columns(4)
    cols[0].metric("Turns", total)
    cols[1].metric("Passed", report["passed"])
    cols[2].metric("Failed", report["failed"])
    cols[3].metric("Pass rate", f"{100 * report['passed'] / total:.0f}%" if total else "–")
    turns, categories = eval_frames(report)
    st.markdown("**Pass rate by category (%)**")
    st.bar_chart(categories, x="category", y="pass rate %", y_label="pass rate %")
    st.dataframe(categories, hide_index=True)
    st.markdown("**Every turn**")
    only_failed = st.checkbox("Show failed turns only", key="eval_only_failed")
    st.dataframe(turns[~turns["passed"]] if only_failed else turns, hide_index=True)
    st.download_button(
        "Download the report (JSON)",
        json.dumps(report, ensure_ascii=False, indent=2),
        file_name="eval-report.json",
        mime="application/json",
        key="eval_download",
    )


# --------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------


def feedback_frame(items: list[Feedback]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "when": f.created_at,
                "rating": f.rating or "",
                "question": f.question,
                "kind": f.kind,
                "sources": len(f.citations),
                "comment": f.comment,
            }
            for f in items
        ],
        columns=["when", "rating", "question", "kind", "sources", "comment"],
    )


def _feedback(settings: Settings) -> None:
    try:
        store = services.feedback_store(settings)
        counts = store.counts()
    except Exception as exc:
        st.error(render.md(f"The feedback database {settings.feedback_db} cannot be read: {exc}"))
        return
    cols = st.columns(3)
    cols[0].metric("Ratings", counts["total"])
    cols[1].metric("Thumbs up", counts["up"])
    cols[2].metric("Thumbs down", counts["down"])
    choice = st.radio(
        "Show", list(FEEDBACK_FILTERS), horizontal=True, key="feedback_filter", index=1
    )
    with st.form("feedback_purge", border=False):
        purge_cols = st.columns([2, 1])
        days = purge_cols[0].number_input(
            "Delete all feedback older than (days)", min_value=0, value=30, step=1
        )
        if purge_cols[1].form_submit_button("Delete older", icon=":material/delete_sweep:"):
            st.session_state["feedback_notice"] = f"Deleted {store.purge(int(days))} item(s)."
            st.rerun()
    if notice := st.session_state.pop("feedback_notice", None):
        st.success(notice)
    items = store.items(rating=FEEDBACK_FILTERS[choice])
    if not items:
        st.info("No feedback here yet.")
        return
    st.dataframe(feedback_frame(items), hide_index=True)
    st.download_button(
        f"Export {len(items)} as CSV",
        to_csv(items),
        file_name=f"feedback-{choice.lower().replace(' ', '-')}.csv",
        mime="text/csv",
        key="feedback_csv",
    )
    st.markdown(f"**Details** (newest {min(len(items), FEEDBACK_DETAIL_LIMIT)})")
    for item in items[:FEEDBACK_DETAIL_LIMIT]:
        icon = {"up": ":material/thumb_up:", "down": ":material/thumb_down:"}.get(
            item.rating or "", ":material/chat:"
        )
        with st.expander(f"{item.created_at} — {render.label(item.question)}", icon=icon):
            st.markdown("**Question**")
            st.text(item.question)
            if item.query and item.query != item.question:
                st.caption("Searched as: " + render.md(item.query))
            st.markdown(f"**Reply** ({item.kind})")
            st.text(item.reply)
            if item.comment:
                st.markdown("**Comment**")
                st.text(item.comment)
            st.markdown("**Sources**")
            st.text(item.sources_text() or "(none)")
            if st.button("Delete this item", key=f"fb_delete_{item.id}", icon=":material/delete:"):
                store.delete(item.id)
                st.session_state["feedback_notice"] = "Deleted 1 item."
                st.rerun()
