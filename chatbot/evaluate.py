"""Staff question sets: run conversations through the chatbot and check expectations.

A set is a JSONL file, one conversation per line (see ``data/eval/README.md``)::

    {"id": "...", "category": "...", "turns": [{"q": "...", "expect": {"kind": "answer",
     "contains_all": [], "contains_any": [], "not_contains": [], "cites": []}}]}

Every turn is also checked for the disclaimer at the end of the reply.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatbot.chain import Chatbot
from chatbot.compose import DANGLING
from chatbot.reply import Reply


class EvalFileError(ValueError):
    pass


@dataclass
class TurnResult:
    conversation: str
    category: str
    turn: int
    question: str
    expected_kind: str
    kind: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    query: str = ""
    cited: list[str] = field(default_factory=list)
    ms: float = 0.0


@dataclass
class EvalReport:
    results: list[TurnResult]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    def by_category(self) -> dict[str, tuple[int, int]]:
        totals: Counter[str] = Counter()
        passes: Counter[str] = Counter()
        for r in self.results:
            totals[r.category] += 1
            passes[r.category] += r.passed
        return {c: (passes[c], totals[c]) for c in sorted(totals)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.total - self.passed,
            "total": self.total,
            "by_category": {
                c: {"passed": p, "total": t} for c, (p, t) in self.by_category().items()
            },
            "turns": [asdict(r) for r in self.results],
        }

    def render(self) -> str:
        rows = [f"{'result':6} {'conversation':28} {'#':>2} {'kind':10} question"]
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            rows.append(
                f"{mark:6} {r.conversation[:28]:28} {r.turn:>2} {r.kind:10} {r.question[:60]}"
            )
            rows.extend(f"{'':6} {'':28} {'':>2} {'':10} ! {f}" for f in r.failures)
        rows.append("")
        for category, (p, t) in self.by_category().items():
            rows.append(f"  {category:20} {p}/{t}")
        rows.append(f"{self.passed} passed, {self.total - self.passed} failed")
        return "\n".join(rows)


def load_sets(paths: Iterable[Path]) -> list[dict[str, Any]]:
    conversations: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise EvalFileError(f"No .jsonl question sets in {path}")
        for file in files:
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise EvalFileError(f"Cannot read {file}: {exc.strerror}") from exc
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    turns = item["turns"]
                    if not turns or not all("q" in t for t in turns):
                        raise KeyError("turns[].q")
                except (ValueError, KeyError, TypeError) as exc:
                    raise EvalFileError(f"{file}:{number}: not a conversation ({exc})") from exc
                item.setdefault("id", f"{file.stem}-{number}")
                item.setdefault("category", "general")
                conversations.append(item)
    return conversations


def answer_body(reply: Reply) -> str:
    """What the patient reads as the answer: the reply without the disclaimer (the source
    list is not part of ``answer``). Word checks run on this, so "doctor" in the
    disclaimer never makes a check pass."""
    text = reply.answer
    if reply.disclaimer and text.rstrip().endswith(reply.disclaimer):
        text = text.rstrip()[: -len(reply.disclaimer)]
    return text.strip()


def check(reply: Reply, expect: dict[str, Any]) -> list[str]:
    failures = []
    text = answer_body(reply).lower()
    kind = expect.get("kind", "answer")
    if reply.kind != kind:
        failures.append(f"kind {reply.kind}, expected {kind}")
    if not reply.answer.rstrip().endswith(reply.disclaimer):
        failures.append("disclaimer missing at the end")
    for word in expect.get("contains_all", []):
        if word.lower() not in text:
            failures.append(f"missing {word!r}")
    any_of = expect.get("contains_any", [])
    if any_of and not any(w.lower() in text for w in any_of):
        failures.append(f"none of {any_of}")
    for word in expect.get("not_contains", []):
        if word.lower() in text:
            failures.append(f"contains {word!r}")
    cites = expect.get("cites", [])
    cited = {c.source for c in reply.citations} | {Path(c.source).name for c in reply.citations}
    if cites and not any(c in cited for c in cites):
        failures.append(f"cites none of {cites}")
    section = str(expect.get("section", "")).lower()
    if section and not any(section in c.section.lower() for c in reply.citations):
        cited_sections = [c.section for c in reply.citations] or "nothing"
        failures.append(f"answered from {cited_sections!r}, expected {expect['section']!r}")
    seen: set[tuple[str, str]] = set()
    for c in reply.citations:  # one [n] per article section
        key = (c.article_id or c.source, c.section)
        if key in seen:
            failures.append(f"{c.section!r} cited twice")
        seen.add(key)
    if reply.kind == "answer":
        for paragraph in answer_body(reply).split("\n\n"):
            if DANGLING.match(paragraph):
                failures.append(f"a paragraph opens on a dangling sentence: {paragraph[:40]!r}")
    return failures


def run_eval(
    bot: Chatbot,
    conversations: list[dict[str, Any]],
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    results: list[TurnResult] = []
    total = sum(len(c["turns"]) for c in conversations)
    done = 0
    for conversation in conversations:
        session = f"eval-{uuid.uuid4().hex}"
        for number, turn in enumerate(conversation["turns"], start=1):
            reply = bot.ask(turn["q"], session_id=session)
            expect = turn.get("expect", {})
            failures = check(reply, expect)
            results.append(
                TurnResult(
                    conversation=str(conversation["id"]),
                    category=str(conversation["category"]),
                    turn=number,
                    question=turn["q"],
                    expected_kind=expect.get("kind", "answer"),
                    kind=reply.kind,
                    passed=not failures,
                    failures=failures,
                    query=reply.query,
                    cited=[c.source for c in reply.citations],
                    ms=reply.timings.get("total_ms", 0.0),
                )
            )
            done += 1
            if progress is not None:
                progress(done, total)
        bot.reset(session)
    return EvalReport(results)
