"""Patients' words for what the articles name otherwise ("locked up" for a cramp, "valium"
for a benzodiazepine), from the reviewed table ``data/answers/lay_words.yaml``.

:meth:`LayWords.library_words` gives the library's words for a question; the chain adds
them to the search (never replacing what the patient wrote) and to the words that show
an article is about the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from chatbot.datafile import load_versioned, read_yaml


class LayWordsError(ValueError):
    """The lay-words table is missing or invalid; the message names file and field."""


class _EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    says: list[str] = Field(min_length=1)
    means: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)
    not_examples: list[str] = Field(default_factory=list)


class _TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    words: list[_EntrySpec] = Field(min_length=1)


@dataclass(frozen=True)
class LayEntry:
    pattern: re.Pattern[str]
    means: str
    examples: tuple[str, ...]
    not_examples: tuple[str, ...]


def _phrase(text: str) -> str:
    words = text.strip().lower().split()
    if not words or not all(re.fullmatch(r"[\w'-]+\*?", w) for w in words):
        raise ValueError(f"{text!r} is not a phrase of words")
    parts = [re.escape(w[:-1]) + r"[\w'-]*" if w.endswith("*") else re.escape(w) for w in words]
    return r"\s+".join(parts)


@dataclass(frozen=True)
class LayWords:
    entries: tuple[LayEntry, ...]

    def library_words(self, question: str) -> str:
        """The library's words for the patient's phrases in ``question`` that the question
        does not already use, in table order ("" when none)."""
        lowered = question.lower()
        found: list[str] = []
        for entry in self.entries:
            wanted = entry.pattern.search(lowered) and entry.means.lower() not in lowered
            if wanted and entry.means not in found:
                found.append(entry.means)
        return " ".join(found)


def _load(path: Path) -> LayWords:
    spec = read_yaml(path, _TableSpec, LayWordsError, "lay-words table")
    entries = []
    for i, entry in enumerate(spec.words):
        try:
            body = "|".join(_phrase(p) for p in entry.says)
        except ValueError as exc:
            raise LayWordsError(f"{path}: words.{i}.says: {exc}") from exc
        entries.append(
            LayEntry(
                pattern=re.compile(rf"(?<![\w'-])(?:{body})(?![\w'-])"),
                means=entry.means,
                examples=tuple(entry.examples),
                not_examples=tuple(entry.not_examples),
            )
        )
    return LayWords(tuple(entries))


def default_lay_words_file() -> Path:
    """``data/answers/lay_words.yaml`` of this project (ships with the code)."""
    return Path(__file__).resolve().parents[1] / "data" / "answers" / "lay_words.yaml"


def load_lay_words(path: Path | None = None) -> LayWords:
    """The table at ``path`` (default: the project's), compiled once per file version."""
    return load_versioned(path or default_lay_words_file(), _load, LayWordsError, "lay-words table")
