"""The locks: runtime and dev apart, every pin hash-checked, the same pins in both."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    text = (REPO / name).read_text(encoding="utf-8")
    return {m.group(1).lower().replace("_", "-"): m.group(2) for m in PIN.finditer(text)}


def _blocks(name: str) -> list[str]:
    """Each requirement with its continuation lines (its hashes)."""
    text = (REPO / name).read_text(encoding="utf-8")
    return [b for b in re.split(r"\n(?=\S)", text) if PIN.match(b)]


def test_every_pin_has_a_hash() -> None:
    for name in ("requirements.lock", "requirements-dev.lock"):
        unhashed = [b.split()[0] for b in _blocks(name) if "--hash=sha256:" not in b]
        assert unhashed == [], (name, unhashed)


def test_runtime_lock_has_no_dev_tools_and_no_unused_packages() -> None:
    runtime = _pins("requirements.lock")
    for tool in ("pytest", "ruff", "mypy", "playwright", "hypothesis", "reportlab"):
        assert tool not in runtime, tool
    for unused in ("langchain-community", "langchain-classic", "sqlalchemy"):
        assert unused not in runtime, unused
        assert unused not in _pins("requirements-dev.lock"), unused


def test_dev_lock_adds_tools_with_the_same_runtime_pins() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert {"pytest", "ruff", "mypy", "playwright"} <= dev.keys()
