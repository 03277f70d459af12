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


def test_chat_in_a_real_browser(
    settings: Settings, seeded: Path, encoder: Any, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
            "scripts/test.sh does it) to run the browser test."
        )
    from playwright.sync_api import expect, sync_playwright

    report = sync(settings, encoder=encoder)
    assert report.ok and report.added

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
                box = page.get_by_test_id("stChatInputTextArea")
                expect(box).to_be_enabled(timeout=ANSWER_MS)
                messages = page.get_by_test_id("stChatMessage")

                box.fill("What is a muscle spasm?")
                box.press("Enter")
                expect(page.get_by_text("Supporting text for [1]")).to_have_count(
                    1, timeout=ANSWER_MS
                )
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
                expect(second.get_by_text("Supporting text for [1]")).to_be_visible(
                    timeout=ANSWER_MS
                )
                expect(second).to_contain_text("[1]")
                expect(second).to_contain_text(settings.disclaimer)
                assert any(title in second.inner_text() for title in TITLES)
                expect(page.get_by_test_id("stException")).to_have_count(0)
                time.sleep(0.5)  # let the last paint settle for the screenshot

                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(tmp_path / "browser.png"), full_page=True)
                shutil.copy2(tmp_path / "browser.png", ARTIFACTS / "browser.png")
            finally:
                browser.close()
    finally:
        _stop(server)
