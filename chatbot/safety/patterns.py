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

:meth:`Compiler.anchors` gives, for a list of phrases, words of which any match must
contain one (a :class:`Anchors`): triage checks them against the message's words before
running a rule's pattern, which skips most rules; :class:`AnchorIndex` finds the rules a
message's words admit with one lookup per word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

# Indic vowel signs are not \w in Python's re: count them as word characters.
WORD_CHARS = r"\w\u0900-\u0dff"
_BEFORE = rf"(?<![{WORD_CHARS}])"
_AFTER = rf"(?![{WORD_CHARS}])"
_TOKEN = re.compile(r"^(?:~\d*|\(.+\)\??|[^\s~()]+)$")
_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
_WORD_TOKEN = re.compile(rf"^[{WORD_CHARS}']+\*?$")


_TEXT_WORD = re.compile(rf"[{WORD_CHARS}]+")


@dataclass(frozen=True)
class Anchors:
    """Words of which every match of a pattern contains at least one: ``exact`` as a whole
    word of the text, ``prefix`` as the start of one. ``None`` fields never occur; a
    pattern with unspaced (CJK) phrases has no anchors and always runs."""

    exact: frozenset[str]
    prefix: frozenset[str]

    def admit(self, words: TextWords) -> bool:
        return not self.exact.isdisjoint(words.exact) or not self.prefix.isdisjoint(words.prefixes)


@dataclass(frozen=True)
class TextWords:
    """The words of a prepared text (split where a pattern's word boundaries are) and every
    start of each, up to ``longest`` characters."""

    exact: frozenset[str]
    prefixes: frozenset[str]

    @classmethod
    def of(cls, text: str, longest: int) -> TextWords:
        exact = frozenset(_TEXT_WORD.findall(text))
        prefixes = frozenset(word[:n] for word in exact for n in range(min(len(word), longest) + 1))
        return cls(exact, prefixes)


class AnchorIndex:
    """Which of many patterns a text may match, looked up from the text's words: every
    anchor word names the patterns it admits, so a message costs a lookup per word and
    per word start instead of a check per pattern. Patterns without anchors always run."""

    def __init__(self, anchors: Sequence[Anchors | None]) -> None:
        self.size = len(anchors)
        self.longest = max((len(w) for a in anchors if a for w in a.prefix), default=0)
        self._always = frozenset(i for i, a in enumerate(anchors) if a is None)
        exact: dict[str, set[int]] = {}
        prefix: dict[str, set[int]] = {}
        for i, a in enumerate(anchors):
            if a is None:
                continue
            for word in a.exact:
                exact.setdefault(word, set()).add(i)
            for word in a.prefix:
                prefix.setdefault(word, set()).add(i)
        self._exact = {w: frozenset(i) for w, i in exact.items()}
        self._prefix = {w: frozenset(i) for w, i in prefix.items()}

    def words(self, text: str) -> TextWords:
        return TextWords.of(text, self.longest)

    def candidates(self, words: TextWords) -> list[int]:
        """The patterns (by position, in order) whose anchors the text has."""
        found = set(self._always)
        for word in words.exact:
            hit = self._exact.get(word)
            if hit is not None:
                found |= hit
        for start in words.prefixes:
            hit = self._prefix.get(start)
            if hit is not None:
                found |= hit
        return sorted(found)


@dataclass(frozen=True)
class Alternation:
    """A rule's phrases as separate patterns (each with its anchors), matched as the one
    pattern ``a|b|c`` would be: leftmost first, and at one position the first phrase in
    order. Running only the phrases whose anchors a message has gives the same matches as
    running them all (a phrase without its anchor word cannot match), and most rules have
    a few of their many phrases admitted."""

    patterns: tuple[re.Pattern[str], ...]
    anchors: tuple[Anchors | None, ...]

    def finditer(self, text: str, only: Sequence[int] | None = None) -> Iterator[re.Match[str]]:
        patterns = self.patterns if only is None else [self.patterns[i] for i in only]
        pos = 0
        while True:
            best: re.Match[str] | None = None
            for pattern in patterns:
                m = pattern.search(text, pos)
                if m is not None and (best is None or m.start() < best.start()):
                    best = m
            if best is None:
                return
            yield best
            pos = max(best.end(), best.start() + 1)

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        end = len(text) if endpos is None else endpos
        found = [m for p in self.patterns if (m := p.search(text, pos, end)) is not None]
        return min(found, key=lambda m: m.start()) if found else None


class PatternError(ValueError):
    """A phrase that does not follow the phrase language."""


class Compiler:
    """Compiles phrases, expanding ``{NAME}`` from a vocabulary (itself phrases)."""

    def __init__(self, vocabulary: Mapping[str, list[str]]) -> None:
        self.vocabulary = vocabulary
        self._cache: dict[str, str] = {}
        self._anchor_cache: dict[str, frozenset[tuple[str, bool]]] = {}
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

    def compile_each(self, phrases: list[str]) -> Alternation:
        """The phrases one by one, in the order ``compile`` tries them (spaced phrases,
        then unspaced ones), each with its anchors."""
        if not phrases:
            raise PatternError("no phrases given")
        ordered = [p for p in phrases if not _CJK.search(p)] + [
            p for p in phrases if _CJK.search(p)
        ]
        return Alternation(
            tuple(self.compile([p]) for p in ordered),
            tuple(self.anchors([p]) for p in ordered),
        )

    # ------------------------------------------------------------- anchors
    def anchors(self, phrases: list[str]) -> Anchors | None:
        """Words one of which every match of ``compile(phrases)`` contains (None when a
        phrase is unspaced and has no word boundaries to anchor on)."""
        if any(_CJK.search(p) for p in phrases):
            return None
        found: set[tuple[str, bool]] = set()
        for phrase in phrases:
            found |= self._phrase_anchors(phrase)
        return Anchors(
            exact=frozenset(w for w, prefix in found if not prefix),
            prefix=frozenset(w for w, prefix in found if prefix),
        )

    def _phrase_anchors(self, phrase: str) -> frozenset[tuple[str, bool]]:
        """The anchors of the phrase's most selective required word: fewest words, and no
        word shorter than three letters when a longer choice exists."""
        choices = []
        for token in _split_top(phrase, " "):
            if token.startswith("~") or token.endswith("?"):
                continue
            choices.append(self._token_anchors(token))
        return min(choices, key=lambda a: (any(len(w) < 3 for w, _ in a), len(a)))

    def _token_anchors(self, token: str) -> frozenset[tuple[str, bool]]:
        if token.startswith("("):
            inner = _split_top(token[1:-1], "|")
            return frozenset().union(*(self._phrase_anchors(p.strip()) for p in inner))
        out: set[tuple[str, bool]] = set()
        for word in token.split("|"):
            if word.startswith("{"):
                out |= self._list_anchors(word[1:-1])
            else:
                out.add(_word_anchor(word))
        return frozenset(out)

    def _list_anchors(self, name: str) -> frozenset[tuple[str, bool]]:
        if name not in self._anchor_cache:
            self._anchor_cache[name] = frozenset().union(
                *(self._phrase_anchors(p) for p in self.vocabulary[name])
            )
        return self._anchor_cache[name]


def _word_anchor(word: str) -> tuple[str, bool]:
    """A phrase word as the text word it needs: "breath*" -> any word starting "breath";
    "can't" -> the word "can" (the text's words split at apostrophes, as the pattern's
    word boundaries do)."""
    prefix = word.endswith("*")
    core = word[:-1] if prefix else word
    if "'" in core:
        head = core.split("'", 1)[0]
        # "'s" alone has no letters to anchor on: any word at all will do
        return (head, False) if head else ("", True)
    return core, prefix


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
