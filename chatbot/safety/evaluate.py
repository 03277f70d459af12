"""Measure triage on labelled messages (``data/eval/triage/*.jsonl``) and scan real
question sets for false alarms. Used by ``python -m chatbot triage`` and the benchmark.

A labelled line::

    {"id": "em-cardiac-01", "text": "...", "expect": "emergency" | "urgent" | "none",
     "categories": ["cardiac"], "resembles": "cardiac", "lang": "en", "crisis": false}

* recall: an ``emergency`` line must be assessed ``emergency``; an ``urgent`` line
  ``urgent`` or ``emergency`` (over-triage is safe);
* false alarm: a ``none`` line assessed emergency or urgent;
* crisis line: every line with ``self_harm`` among its categories, and every ``none``
  line marked ``"crisis": true``, must get the crisis line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot.safety.tables import SELF_HARM
from chatbot.safety.triage import Assessment, Triage


class TriageCase(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    text: str = Field(min_length=1)
    expect: Literal["emergency", "urgent", "none"]
    categories: list[str] = Field(default_factory=list)
    resembles: str = ""
    kind: str = ""
    lang: str = "en"
    crisis: bool = False

    @property
    def needs_crisis_line(self) -> bool:
        return self.crisis or SELF_HARM in self.categories


class TriageCaseError(ValueError):
    pass


def load_cases(files: Iterable[Path]) -> list[TriageCase]:
    cases: list[TriageCase] = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                cases.append(TriageCase.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise TriageCaseError(f"{path}:{number}: {exc}") from None
    return cases


@dataclass
class Outcome:
    case: TriageCase
    assessment: Assessment

    @property
    def caught(self) -> bool:
        if self.case.expect == "emergency":
            return self.assessment.level == "emergency"
        return self.assessment.level != "none"

    @property
    def false_alarm(self) -> bool:
        return self.case.expect == "none" and self.assessment.level != "none"


@dataclass
class TriageReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def _select(self, expect: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expect == expect]

    @property
    def positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expect != "none"]

    def recall(self, lang: str | None = None) -> tuple[int, int]:
        chosen = [o for o in self.positives if lang is None or o.case.lang == lang]
        return sum(o.caught for o in chosen), len(chosen)

    def recall_by_category(self) -> dict[str, tuple[int, int]]:
        total: Counter[str] = Counter()
        hit: Counter[str] = Counter()
        for o in self.positives:
            main = o.case.categories[0] if o.case.categories else "?"
            total[main] += 1
            hit[main] += o.caught
        return {c: (hit[c], total[c]) for c in sorted(total)}

    def false_alarms(self) -> tuple[int, int]:
        negatives = self._select("none")
        return sum(o.false_alarm for o in negatives), len(negatives)

    def crisis_lines(self) -> tuple[int, int]:
        chosen = [o for o in self.outcomes if o.case.needs_crisis_line]
        return sum(o.assessment.crisis for o in chosen), len(chosen)

    def misses(self) -> list[Outcome]:
        return [o for o in self.positives if not o.caught]

    def alarms(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.false_alarm]

    def crisis_misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.needs_crisis_line and not o.assessment.crisis]

    def latency(self) -> tuple[float, float]:
        times = sorted(o.assessment.ms for o in self.outcomes)
        if not times:
            return 0.0, 0.0
        return _percentile(times, 50), _percentile(times, 95)

    def languages(self) -> list[str]:
        return sorted({o.case.lang for o in self.outcomes})

    def as_dict(self) -> dict[str, object]:
        p50, p95 = self.latency()
        return {
            "recall": self.recall(),
            "recall_by_category": self.recall_by_category(),
            "recall_by_language": {lang: self.recall(lang) for lang in self.languages()},
            "false_alarms": self.false_alarms(),
            "crisis_lines": self.crisis_lines(),
            "ms_p50": round(p50, 3),
            "ms_p95": round(p95, 3),
            "misses": [_brief(o) for o in self.misses()],
            "false_alarm_cases": [_brief(o) for o in self.alarms()],
            "crisis_misses": [_brief(o) for o in self.crisis_misses()],
        }

    def render(self) -> str:
        def pct(pair: tuple[int, int]) -> str:
            hit, total = pair
            return f"{hit}/{total} ({100 * hit / total:.1f} %)" if total else "0/0"

        p50, p95 = self.latency()
        lines = [
            f"recall (emergency + urgent): {pct(self.recall())}",
            f"false alarms on look-alikes: {pct(self.false_alarms())}",
            f"crisis line where due:       {pct(self.crisis_lines())}",
            f"triage time per message:     p50 {p50:.2f} ms, p95 {p95:.2f} ms",
            "",
            "recall per category:",
        ]
        lines += [f"  {c:20} {pct(v)}" for c, v in self.recall_by_category().items()]
        lines += ["", "recall per language:"]
        lines += [
            f"  {lang:20} {pct(self.recall(lang))}"
            for lang in self.languages()
            if self.recall(lang)[1]
        ]
        for title, items in (
            ("missed", self.misses()),
            ("false alarms", self.alarms()),
            ("crisis line missing", self.crisis_misses()),
        ):
            lines += ["", f"{title} ({len(items)}):"]
            lines += [f"  {_brief(o)}" for o in items]
        return "\n".join(lines)


def _brief(o: Outcome) -> str:
    got = o.assessment.level + (
        f" {','.join(o.assessment.categories)}" if o.assessment.categories else ""
    )
    text = " ".join(o.case.text.split())
    return f"{o.case.id} [{o.case.expect} -> {got}] {text[:140]}"


def _percentile(values: list[float], q: float) -> float:
    index = (len(values) - 1) * q / 100
    low = int(index)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (index - low)


def run(triage: Triage, cases: Iterable[TriageCase]) -> TriageReport:
    return TriageReport([Outcome(case, triage.assess(case.text)) for case in cases])


def scan(triage: Triage, questions: Iterable[str]) -> tuple[int, list[tuple[str, Assessment]]]:
    """Every question assessed emergency or urgent (real traffic: all are false alarms)."""
    flagged: list[tuple[str, Assessment]] = []
    count = 0
    for question in questions:
        count += 1
        assessment = triage.assess(question)
        if assessment.level != "none":
            flagged.append((question, assessment))
    return count, flagged
