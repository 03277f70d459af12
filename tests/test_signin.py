"""Sign-in attempts shared by every session and process of a host (chatbot/signin.py)."""

from __future__ import annotations

from pathlib import Path

from chatbot.signin import Attempts, password_problem


def test_a_page_locks_after_too_many_failures_from_any_session(tmp_path: Path) -> None:
    tab_one = Attempts(tmp_path, max_failures=3, window=600, lockout=900)
    tab_two = Attempts(tmp_path, max_failures=3, window=600, lockout=900)  # another process
    assert [tab_one.failed("staff", now=100), tab_two.failed("staff", now=101)] == [1, 2]
    assert tab_one.locked_for("staff", now=102) == 0
    tab_two.failed("staff", now=102)
    assert tab_one.locked_for("staff", now=103) == 900 - 1
    assert tab_two.locked_for("content", now=103) == 0  # each page counts its own
    assert tab_one.locked_for("staff", now=102 + 900) == 0  # the lockout ends


def test_old_failures_fall_out_of_the_window_and_success_clears_them(tmp_path: Path) -> None:
    guard = Attempts(tmp_path, max_failures=2, window=60, lockout=60)
    guard.failed("staff", now=0)
    guard.failed("staff", now=100)  # the first is outside the window by now
    assert guard.locked_for("staff", now=101) == 0
    guard.succeeded("staff")
    assert guard.failed("staff", now=102) == 1


def test_the_file_holds_no_password_and_is_owner_only(tmp_path: Path) -> None:
    guard = Attempts(tmp_path)
    guard.failed("content", now=5)
    assert guard.path.read_text(encoding="utf-8") == '{"content": [5]}'
    assert guard.path.stat().st_mode & 0o777 == 0o600


def test_a_damaged_file_counts_as_no_failures(tmp_path: Path) -> None:
    guard = Attempts(tmp_path)
    guard.path.write_text("{not json", encoding="utf-8")
    assert guard.locked_for("staff") == 0
    assert guard.failed("staff", now=1) == 1


def test_short_passwords_are_refused() -> None:
    assert password_problem("correct horse battery", "staff") is None
    problem = password_problem("hunter2", "staff")
    assert problem is not None and "too short (7 characters)" in problem
    assert "CHATBOT_STAFF_PASSWORD" in problem and "at least 12" in problem
