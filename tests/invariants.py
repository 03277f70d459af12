"""The invariants every reply keeps, whatever was asked (shared by the test modules)."""

from __future__ import annotations

import re

from chatbot.reply import Reply

CITE = re.compile(r"\[(\d+)\]")


def assert_well_formed(reply: Reply) -> None:
    """A known kind; the disclaimer once, last; citations numbered 1..m; every [n] resolves
    and every citation is used; only answers cite."""
    assert reply.kind in {"answer", "no_answer", "emergency", "error"}
    assert reply.answer.endswith(reply.disclaimer)
    assert reply.answer.count(reply.disclaimer) == 1
    body = reply.answer[: -len(reply.disclaimer)]
    numbers = [c.n for c in reply.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(n) for n in CITE.findall(body)} == set(numbers)
    if reply.kind != "answer":
        assert reply.citations == []
