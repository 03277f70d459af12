"""End to end: a real ``streamlit run app.py`` driven by a headless Chromium (Playwright).

Needs Debian's /usr/bin/chromium (scripts/test.sh installs it). Without it this test
fails with a clear message rather than skipping. The screenshot is saved to
tests/artifacts/browser.png and to the test's tmp directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings
from ingest.sync import sync

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_SECONDS = 90
ANSWER_MS = 120_000
TITLES = ("What are muscle spasms?", "Understanding Muscle Spasms")

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    tail = log.read_text()[-3000:]
    pytest.fail(f"streamlit did not become healthy in {STARTUP_SECONDS}s:\n{tail}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


@contextmanager
def _running_app(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """``streamlit run app.py`` on a free port and a headless Chromium page open on it,
    its chat box ready."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
            "scripts/test.sh does it) to run the browser test."
        )
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    env = dict(os.environ)  # the conftest points CHATBOT_* at this test's tmp dirs
    env.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    assert env["CHATBOT_STATE_DIR"] == str(settings.state_dir)
    assert env["CHATBOT_DATA_DIR"] == str(settings.data_dir)
    assert "CHATBOT_MODEL_CACHE_DIR" in env
    log = tmp_path / "streamlit.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "app.py"),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{base}/_stcore/health", server, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 2400})
                page.goto(base)
                expect(page.get_by_test_id("stChatInputTextArea")).to_be_enabled(timeout=ANSWER_MS)
                yield page
            finally:
                browser.close()
    finally:
        _stop(server)


def test_chat_in_a_real_browser(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    report = sync(settings, encoder=encoder)
    assert report.ok and report.added
    with _running_app(settings, tmp_path) as page:
        box = page.get_by_test_id("stChatInputTextArea")
        messages = page.get_by_test_id("stChatMessage")

        box.fill("What is a muscle spasm?")
        box.press("Enter")
        expect(page.get_by_text("Supporting text for [1]")).to_have_count(1, timeout=ANSWER_MS)
        expect(messages).to_have_count(2)
        first = messages.nth(1)
        expect(first).to_contain_text("[1]")
        expect(first).to_contain_text(settings.disclaimer)
        text = first.inner_text()
        assert any(title in text for title in TITLES), text

        box.fill("What causes them?")
        box.press("Enter")
        expect(messages).to_have_count(4, timeout=ANSWER_MS)
        second = messages.nth(3)
        expect(second.get_by_text("Supporting text for [1]")).to_be_visible(timeout=ANSWER_MS)
        expect(second).to_contain_text("[1]")
        expect(second).to_contain_text(settings.disclaimer)
        assert any(title in second.inner_text() for title in TITLES)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        time.sleep(0.5)  # let the last paint settle for the screenshot

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(tmp_path / "browser.png"), full_page=True)
        shutil.copy2(tmp_path / "browser.png", ARTIFACTS / "browser.png")


LINKED_ARTICLE = """---
title: Calf cramps in runners
publisher: Test Health Library
url: https://library.example.org/calf-cramps
last_updated: 2024-05-01
---
# Calf cramps in runners

## Treatment

Gently stretching the calf and massaging the muscle usually relieves calf cramps in
runners. Order the leaflet at www.cramp-leaflets.example or https://phish.example/login
and write to help@cramps.example for a copy.
"""


def test_no_link_is_made_from_article_text_or_a_question(
    settings: Settings, articles_dir: Path, encoder: Any, tmp_path: Path
) -> None:
    """Bare addresses in an article and in a patient's question stay text; the only link
    is the citation's, from the article's metadata, shown as its domain."""
    from playwright.sync_api import expect

    (articles_dir / "runners.md").write_text(LINKED_ARTICLE, encoding="utf-8")
    report = sync(settings, encoder=encoder)
    assert report.ok and report.added == ["runners.md"]
    question = (
        "How do I treat calf cramps in runners? my coach (coach@club.example) said "
        "see www.club.example and http://club.example/cramps"
    )
    with _running_app(settings, tmp_path) as page:
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(question)
        box.press("Enter")
        messages = page.get_by_test_id("stChatMessage")
        expect(messages).to_have_count(2, timeout=ANSWER_MS)
        answer = messages.nth(1)
        expect(answer.get_by_text("Supporting text for [1]")).to_be_visible(timeout=ANSWER_MS)
        expect(answer).to_contain_text("massaging the muscle")
        # the addresses are shown, as text
        expect(answer).to_contain_text("phish.example")
        expect(answer).to_contain_text("cramps.example")
        expect(messages.nth(0)).to_contain_text("club.example")
        links = page.locator("[data-testid=stChatMessage] a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        texts = [links.nth(i).inner_text() for i in range(links.count())]
        assert hrefs == ["https://library.example.org/calf-cramps"], hrefs
        assert texts == ["library.example.org"], texts


def test_fast_typing_gets_every_question_shown_exactly_one_reply_in_order(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    """Twelve questions sent as fast as the chat box takes them (it is disabled while a
    reply is worked out; Playwright types the moment it is enabled again): the questions
    shown are in the order sent, none twice, and each has exactly one reply right after
    it. (Two questions sent within the same fraction of a second, before the first is
    shown, can still lose the first: Streamlit keeps the newest; docs/security.md.)"""
    from playwright.sync_api import expect

    report = sync(settings, encoder=encoder)
    assert report.ok
    questions = [
        f"question {n}: {q}"
        for n, q in enumerate(
            [
                "what is a muscle spasm",
                "what causes them",
                "how do i stop a cramp at night",
                "are cramps dangerous",
                "what helps a calf cramp",
                "when should i see a doctor",
                "do stretches help",
                "can dehydration cause cramps",
                "what is a charley horse",
                "does magnesium help",
                "why do my legs cramp in bed",
                "how long does a spasm last",
            ],
            start=1,
        )
    ]
    with _running_app(settings, tmp_path) as page:
        box = page.get_by_test_id("stChatInputTextArea")
        messages = page.get_by_test_id("stChatMessage")
        for question in questions:
            # as the fastest person would: type the moment the box takes text again (a
            # box greyed out while a reply is worked out ignores Enter), and the next
            # one as soon as this one shows in the conversation
            expect(box).to_be_enabled(timeout=ANSWER_MS)
            box.fill(question)
            box.press("Enter")
            expect(messages.filter(has_text=question)).to_have_count(1, timeout=ANSWER_MS)
        expect(messages.last).to_contain_text(settings.disclaimer, timeout=ANSWER_MS)
        expect(page.get_by_test_id("stSpinner")).to_have_count(0, timeout=ANSWER_MS)
        expect(box).to_be_enabled(timeout=ANSWER_MS)
        page.wait_for_timeout(3000)  # nothing more arrives later
        shown = [messages.nth(i) for i in range(messages.count())]
        users = [m.get_by_test_id("stChatMessageAvatarUser").count() == 1 for m in shown]
        assert users == [True, False] * (len(shown) // 2), users  # question, reply, ...
        asked = [next(q for q in questions if q in m.inner_text()) for m in shown[::2]]
        assert asked == sorted(set(asked), key=questions.index), asked  # in order, none twice
        assert asked == questions, asked  # every one, in order, none twice
        for reply in shown[1::2]:
            expect(reply.get_by_test_id("stChatMessageAvatarAssistant")).to_have_count(1)
            expect(reply).to_contain_text(settings.disclaimer)
        expect(page.get_by_test_id("stException")).to_have_count(0)
