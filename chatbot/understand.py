"""What a question asks: its focus and its question type, with a confidence.

The types (cause, treatment, prevention, symptoms, ... ) live in a reviewed data file,
``data/answers/question_types.yaml``: the cues that say a question asks it, the section
headings that answer it, and the words answering sentences use. A question that matches
one type's strong cue, or only one type, is understood with confidence; the retriever and
the composer prefer that type's sections only then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from chatbot.datafile import load_versioned, read_yaml
from chatbot.rephrase import subject_phrase

CONFIDENT = 0.7  # at or above: prefer the type's sections


class QuestionTypeError(ValueError):
    """The question-type table is missing or invalid; the message names file and field."""


class _TypeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cues: list[str] = Field(min_length=1)
    canonical: str = Field(min_length=1)
    strong: list[str] = Field(default_factory=list)
    outranks: list[str] = Field(
        default_factory=list,
        description="types this one wins over when both have a strong cue: a question to "
        "stop cramps coming back asks for prevention, though 'stop' is also a treatment cue",
    )
    headings: str
    answers: str
    examples: list[str] = Field(min_length=1)
    not_examples: list[str] = Field(default_factory=list)


class _TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: dict[str, _TypeSpec] = Field(min_length=1)


@dataclass(frozen=True)
class QuestionType:
    name: str
    canonical: str
    cues: tuple[re.Pattern[str], ...]
    strong: tuple[re.Pattern[str], ...]
    outranks: frozenset[str]
    headings: re.Pattern[str]
    answers: re.Pattern[str]
    examples: tuple[str, ...]
    not_examples: tuple[str, ...]

    def asked_by(self, question: str) -> bool:
        return any(p.search(question) for p in self.cues)


@dataclass(frozen=True)
class Understanding:
    """What a question is about and what it asks."""

    focus: str  # "muscle spasms", "spasticity after stroke" ("" when it names none)
    types: tuple[QuestionType, ...]  # most likely first
    confidence: float  # 0 (no type) .. 1

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT and bool(self.types)

    @property
    def primary(self) -> QuestionType | None:
        return self.types[0] if self.types else None

    def names(self) -> list[str]:
        return [t.name for t in self.types]

    def plain_question(self, topic: str) -> str:
        """The question asked plainly about ``topic`` ("how to treat muscle cramps"), or
        "" when the type is not known with confidence or there is no topic."""
        if not self.confident or not topic or self.primary is None:
            return ""
        return f"{self.primary.canonical} {topic}"


class QuestionTypes:
    """The compiled table; :meth:`understand` classifies a question."""

    def __init__(self, types: list[QuestionType]) -> None:
        self.types = types

    def understand(self, question: str) -> Understanding:
        text = " ".join(question.split())
        matched = [t for t in self.types if t.asked_by(text)]
        strong = [t for t in matched if any(p.search(text) for p in t.strong)]
        winners = [t for t in strong if all(o is t or o.name in t.outranks for o in strong)]
        if len(strong) > 1 and len(winners) == 1:
            strong = winners
        if len(strong) == 1:
            rest = [t for t in matched if t is not strong[0]]
            return Understanding(subject_phrase(text), (strong[0], *rest), 0.9)
        if len(matched) == 1:
            return Understanding(subject_phrase(text), tuple(matched), 0.75)
        if matched:
            # several: the one whose cue comes last is usually the question ("my calf
            # cramps at night because of my meds, what can I do?")
            order = sorted(matched, key=lambda t: -_last_cue(t, text))
            if strong:
                order = sorted(order, key=lambda t: t not in strong)
            return Understanding(subject_phrase(text), tuple(order), 0.4)
        return Understanding(subject_phrase(text), (), 0.0)


def _last_cue(qtype: QuestionType, text: str) -> int:
    return max((m.start() for p in qtype.cues for m in p.finditer(text)), default=-1)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise QuestionTypeError(f"{where}: {pattern!r} is not a valid pattern ({exc})") from exc


def _load(path: Path) -> QuestionTypes:
    spec = read_yaml(path, _TableSpec, QuestionTypeError, "question-type table")
    types = []
    for name, t in spec.types.items():
        where = f"{path}: types.{name}"
        types.append(
            QuestionType(
                name=name,
                canonical=t.canonical,
                cues=tuple(_compile(c, f"{where}.cues") for c in t.cues),
                strong=tuple(_compile(c, f"{where}.strong") for c in t.strong),
                outranks=frozenset(t.outranks),
                headings=_compile(t.headings, f"{where}.headings"),
                answers=_compile(t.answers, f"{where}.answers"),
                examples=tuple(t.examples),
                not_examples=tuple(t.not_examples),
            )
        )
    names = {q.name for q in types}
    for q in types:
        if unknown := sorted(q.outranks - names):
            raise QuestionTypeError(f"{path}: types.{q.name}.outranks names no type: {unknown}")
    return QuestionTypes(types)


def default_question_types_file() -> Path:
    """``data/answers/question_types.yaml`` of this project (ships with the code)."""
    return Path(__file__).resolve().parents[1] / "data" / "answers" / "question_types.yaml"


def load_question_types(path: Path | None = None) -> QuestionTypes:
    """The table at ``path`` (default: the project's), compiled once per file version."""
    return load_versioned(
        path or default_question_types_file(), _load, QuestionTypeError, "question-type table"
    )
