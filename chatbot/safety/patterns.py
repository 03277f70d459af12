"""The phrase language of ``data/triage/red_flags.yaml``, compiled to regular expressions.

A phrase is words separated by spaces, matched as whole words on the prepared text
(lowercase, accents off, punctuation blanked, see :mod:`chatbot.safety.text`)::

    chest pain              the two words in a row
    breath*                 a word starting with "breath" (breath, breathe, breathing)
    arm|jaw|neck|{PAIN}     any one of these words or lists
    (too many|too much)     any one of these phrases (several words each)
    {PAIN}                  any phrase of the vocabulary list PAIN (defined in the file)
    really?                 an optional word (also {PAIN}? and a|b?)
    ~  or  ~5               up to 3 (or 5) other words in between, within one sentence

So ``{CHEST} ~ {PAIN}`` matches "chest really hurts", "chest feels so tight".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Indic vowel signs are not \w in Python's re: count them as word characters.
WORD_CHARS = r"\w\u0900-\u0dff"
_BEFORE = rf"(?<![{WORD_CHARS}])"
_AFTER = rf"(?![{WORD_CHARS}])"
_TOKEN = re.compile(r"^(?:~\d*|\(.+\)\??|[^\s~()]+)$")
_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
_WORD_TOKEN = re.compile(rf"^[{WORD_CHARS}']+\*?$")


class PatternError(ValueError):
    """A phrase that does not follow the phrase language."""


class Compiler:
    """Compiles phrases, expanding ``{NAME}`` from a vocabulary (itself phrases)."""

    def __init__(self, vocabulary: Mapping[str, list[str]]) -> None:
        self.vocabulary = vocabulary
        self._cache: dict[str, str] = {}
        self._expanding: set[str] = set()

    def _vocab(self, name: str) -> str:
        if name in self._cache:
            return self._cache[name]
        if name not in self.vocabulary:
            raise PatternError(f"unknown vocabulary list {{{name}}}")
        if name in self._expanding:
            raise PatternError(f"vocabulary list {{{name}}} refers to itself")
        self._expanding.add(name)
        try:
            body = "|".join(self.body(phrase) for phrase in self.vocabulary[name])
        finally:
            self._expanding.discard(name)
        self._cache[name] = f"(?:{body})"
        return self._cache[name]

    def _alternative(self, word: str, phrase: str) -> str:
        if not word or not _WORD_TOKEN.match(word):
            raise PatternError(f"{word!r} is not a word in phrase {phrase!r}")
        if word.endswith("*"):
            return re.escape(word[:-1]) + rf"[{WORD_CHARS}']*"
        return re.escape(word)

    def _token(self, token: str, phrase: str) -> tuple[str, bool]:
        optional = token.endswith("?")
        core = token[:-1] if optional else token
        if core.startswith("("):
            if not core.endswith(")"):
                raise PatternError(f"unclosed ( in phrase {phrase!r}")
            inner = [p.strip() for p in _split_top(core[1:-1], "|")]
            return f"(?:{'|'.join(self.body(p) for p in inner)})", optional
        alternatives = [
            self._vocab(w[1:-1])
            if w.startswith("{") and w.endswith("}")
            else self._alternative(w, phrase)
            for w in core.split("|")
        ]
        body = alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
        return body, optional

    def body(self, phrase: str) -> str:
        """The regex of one phrase, without word boundaries."""
        tokens = _split_top(phrase, " ")
        if not tokens:
            raise PatternError("empty phrase")
        out = ""
        started = False
        for token in tokens:
            if not _TOKEN.match(token):
                raise PatternError(f"{token!r} is not a word, {{LIST}} or ~ in {phrase!r}")
            if token.startswith("~"):
                if not started:
                    raise PatternError(f"a phrase cannot start with a gap: {phrase!r}")
                gap = int(token[1:] or 3)
                out += rf"(?:\s+[^\s|]+){{0,{gap}}}"
                continue
            body, optional = self._token(token, phrase)
            if not started:
                out += f"(?:{body}\\s+)?" if optional else body
                started = not optional
            else:
                out += f"(?:\\s+{body})?" if optional else f"\\s+{body}"
        if not started:
            raise PatternError(f"a phrase needs at least one word that is not optional: {phrase!r}")
        return out

    def compile(self, phrases: list[str]) -> re.Pattern[str]:
        """One pattern matching any of the phrases as whole words."""
        if not phrases:
            raise PatternError("no phrases given")
        spaced = [p for p in phrases if not _CJK.search(p)]
        unspaced = [p for p in phrases if _CJK.search(p)]  # no spaces between words there
        parts = []
        if spaced:
            parts.append(f"{_BEFORE}(?:{'|'.join(f'(?:{self.body(p)})' for p in spaced)}){_AFTER}")
        if unspaced:
            parts.append("|".join(f"(?:{self.body(p)})" for p in unspaced))
        return re.compile("|".join(parts))


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses ("a (b c|d) e" -> "a", "(b c|d)", "e")."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise PatternError(f"unbalanced ) in {text!r}")
        if ch == sep and depth == 0:
            if current.strip():
                parts.append(current.strip())
            current = ""
            continue
        current += ch
    if depth != 0:
        raise PatternError(f"unclosed ( in {text!r}")
    if current.strip():
        parts.append(current.strip())
    return parts
