"""Password gates for the staff and content pages.

The password comes from the settings (``CHATBOT_STAFF_PASSWORD`` /
``CHATBOT_CONTENT_PASSWORD``) or, failing that, from ``st.secrets`` (keys
``staff_password`` / ``content_password``). With neither set the page says it is
disabled. A protected page calls :func:`gate` first and renders nothing else unless it
returns True. Passwords are compared with :func:`hmac.compare_digest`; a signed-in
browser session keeps only a keyed fingerprint of the password it matched, so
changing the password signs everyone out.

Wrong passwords are counted across every session and process of the host
(:mod:`chatbot.signin`): after ``CHATBOT_SIGNIN_MAX_FAILURES`` the page refuses sign-ins
for ``CHATBOT_SIGNIN_LOCKOUT_MINUTES``. Failed and successful sign-ins are logged (never
the password). A password shorter than 12 characters disables the page with a message,
and a sign-in expires after ``CHATBOT_SIGNIN_IDLE_HOURS`` without activity.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Literal

import streamlit as st

from chatbot.config import Settings
from chatbot.signin import Attempts, password_problem

log = logging.getLogger(__name__)

Area = Literal["staff", "content"]

_KEY = secrets.token_bytes(32)  # per process: fingerprints are never valid elsewhere
WRONG_PASSWORD_DELAY = 1.0  # seconds, to slow guessing down


def _secret(name: str) -> str | None:
    """``st.secrets[name]`` if a secrets file defines it; never raises."""
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        value = st.secrets.get(name)
    except Exception:  # a malformed secrets file must not break the page
        log.warning("could not read %s from st.secrets", name)
        return None
    return str(value) if value else None


def configured_password(settings: Settings, area: Area) -> str | None:
    value = settings.staff_password if area == "staff" else settings.content_password
    return value or _secret(f"{area}_password")


def _fingerprint(password: str) -> str:
    return hmac.new(_KEY, password.encode("utf-8"), hashlib.sha256).hexdigest()


def _state_key(area: Area) -> str:
    return f"auth_{area}"


def attempts(settings: Settings) -> Attempts:
    return Attempts(
        settings.state_dir,
        max_failures=settings.signin_max_failures,
        window=settings.signin_lockout_minutes * 60,
        lockout=settings.signin_lockout_minutes * 60,
    )


def signed_in(settings: Settings, area: Area) -> bool:
    expected = configured_password(settings, area)
    if not expected or password_problem(expected, area):
        return False
    held = st.session_state.get(_state_key(area))
    if not (isinstance(held, str) and hmac.compare_digest(held, _fingerprint(expected))):
        return False
    seen = st.session_state.get(_state_key(area) + "_seen", 0.0)
    if time.time() - float(seen) > settings.signin_idle_hours * 3600:
        sign_out(area)
        st.session_state[_state_key(area) + "_expired"] = True
        return False
    st.session_state[_state_key(area) + "_seen"] = time.time()
    return True


def sign_out(area: Area) -> None:
    st.session_state.pop(_state_key(area), None)
    st.session_state.pop(_state_key(area) + "_seen", None)


def gate(settings: Settings, area: Area, title: str) -> bool:
    """Show the sign-in form unless this browser session already signed in.

    Returns True only when the page may render; otherwise it has shown why not.
    """
    expected = configured_password(settings, area)
    if not expected:
        st.title(title)
        st.warning(
            f"The {area} page is disabled: no password is set. To enable it, set "
            f"CHATBOT_{area.upper()}_PASSWORD in the environment, or {area}_password in "
            ".streamlit/secrets.toml, and restart the app."
        )
        return False
    problem = password_problem(expected, area)
    if problem:
        st.title(title)
        log.error("%s page disabled: the configured password is too short", area)
        st.error(problem)
        return False
    if signed_in(settings, area):
        st.sidebar.button(
            f"Sign out of {area}", key=f"sign_out_{area}", on_click=sign_out, args=(area,)
        )
        return True
    st.title(title)
    if st.session_state.pop(_state_key(area) + "_expired", False):
        st.info(f"You were signed out after {settings.signin_idle_hours:g} hours without activity.")
    st.write(f"This page is for {area} only. Enter the password to continue.")
    with st.form(f"login_{area}", clear_on_submit=True):
        password = st.text_input("Password", type="password", key=f"login_{area}_password")
        submitted = st.form_submit_button("Sign in", key=f"login_{area}_submit")
    if submitted:
        guard = attempts(settings)
        wait = guard.locked_for(area)
        if wait > 0:
            st.error(
                f"Too many wrong passwords: sign-in to the {area} page is paused for "
                f"{max(1, round(wait / 60))} more minute(s)."
            )
            return False
        if password and hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8")):
            guard.succeeded(area)
            st.session_state[_state_key(area)] = _fingerprint(expected)
            st.session_state[_state_key(area) + "_seen"] = time.time()
            st.rerun()
        guard.failed(area)
        time.sleep(WRONG_PASSWORD_DELAY)
        st.error("Wrong password.")
    return False
