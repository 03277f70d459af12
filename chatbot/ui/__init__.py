"""The Streamlit front end. ``app.py`` calls :func:`main`; each page is a module here.

Navigation is a sidebar radio (Chat, Staff, Content) rather than URL pages: a protected
page exists only as a function that this script calls after the radio choice, and that
function checks the password (:func:`chatbot.ui.auth.gate`) before it renders anything,
so there is no URL that reaches staff or content views. It also keeps every page
testable with ``streamlit.testing.v1.AppTest`` (set the ``page`` radio, run).
"""

from __future__ import annotations

import logging

import streamlit as st
from pydantic import ValidationError

PAGES = ("Chat", "Staff", "Content")

log = logging.getLogger(__name__)


def main() -> None:
    # The chat reads best narrow; the staff and content tables need the width.
    wide = st.session_state.get("page", PAGES[0]) != PAGES[0]
    st.set_page_config(
        page_title="Health information assistant",
        page_icon=":material/health_and_safety:",
        layout="wide" if wide else "centered",
    )
    # Uncaught errors show their type only, never a traceback (the log has it); every
    # page also catches what it can and says what to do instead.
    st.set_option("client.showErrorDetails", "type")
    from chatbot.ui import chat, content, services, staff

    with st.sidebar:
        st.markdown("### :material/health_and_safety: Health information assistant")
        page = st.radio(
            "Page",
            PAGES,
            key="page",
            captions=["Ask a health question", "Password required", "Password required"],
        )
    try:
        settings = services.load_settings()
    except ValidationError:
        log.exception("invalid settings")
        st.error(
            "The app is misconfigured; an administrator needs to fix its settings "
            "(the details are in the app's log)."
        )
        return
    try:
        if page == "Staff":
            staff.page(settings)
        elif page == "Content":
            content.page(settings)
        else:
            chat.page(settings)
    except Exception:  # the last line of defence: a message, not a traceback
        log.exception("page %s failed", page)
        st.error("Sorry, something went wrong on this page. Please reload and try again.")
