"""Which language a message is written in: py3langid (offline, bundled model) plus two
things it cannot know: Devanagari is Hindi here, and Hindi typed in Latin letters
("saans nahi aa rahi") is recognised by the cue words of ``context.yaml``."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_LETTER = re.compile(r"[^\W\d_]")
_LATIN_WORD = re.compile(r"[a-z']+")
_ENGLISH = frozenset(
    [
        "i",
        "i'm",
        "my",
        "is",
        "am",
        "are",
        "was",
        "the",
        "an",
        "and",
        "have",
        "has",
        "it",
        "she",
        "his",
        "her",
        "what",
        "how",
        "can",
        "to",
        "of",
        "in",
        "with",
        "for",
        "not",
        "please",
        "help",
        "doctor",
        "can't",
        "i've",
        "think",
    ]
)


class LanguageDetector:
    def __init__(self, cues: Mapping[str, list[str]]) -> None:
        self._cues = {lang: frozenset(words) for lang, words in cues.items()}
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _langid(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            return self._identifier

    def warm(self) -> None:
        """Load py3langid's model now (about half a second) rather than on first use."""
        self._langid()

    def detect(self, text: str) -> str:
        """ "en", "hi", "hi-Latn", "es", "fr", or another ISO 639-1 code."""
        letters = _LETTER.findall(text)
        if not letters:
            return "en"
        if len(_DEVANAGARI.findall(text)) >= 0.3 * len(letters):
            return "hi"
        words = _LATIN_WORD.findall(text.lower())
        # the language with the most cue words ("je suis sur le quai ... que" has Spanish
        # "le" and "que" too); on a tie, the first listed
        best, best_hits = "", 0
        for lang, cues in self._cues.items():
            hits = len({w for w in words if w in cues})
            if hits > best_hits and (hits >= 2 or len(words) <= 3):
                best, best_hits = lang, hits
        if best:
            return best
        english = sum(w in _ENGLISH for w in words)
        if english >= 2 or (english and len(words) <= 3):
            return "en"
        code, probability = self._langid().classify(text)
        if probability < 0.8:
            return "en"
        return str(code)
