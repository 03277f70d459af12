"""Text preparation shared by every triage layer: one linear pass per message.

:func:`prepare` turns a message into a :class:`Prepared` text:

* ``text``: lowercase, NFKC, typographic quotes and dashes unified, control characters
  dropped, stretched letters squeezed ("paaain" -> "pain"), accents removed from Latin
  letters ("respiración" -> "respiracion"; Devanagari is left whole), and the typo table
  of ``context.yaml`` applied ("pian" -> "pain", "cant" -> "can't");
* ``match``: the same text, character for character, with sentence ends replaced by
  ``|`` and other punctuation by spaces, which is what the rule patterns run on (a
  pattern never spans two sentences, and "chest, arm" reads as "chest arm");
* the sentence and clause boundaries, found once, so that finding the sentence or clause
  around a match is a binary search (cost linear in the message, whatever its content).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

QUOTES = str.maketrans({c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u00b4`"})
_DASHES = re.compile(r"[\u2010-\u2015\u2212_/-]+")
_LAUGHING = re.compile(
    "[\U0001f602\U0001f923\U0001f605\U0001f606\U0001f604\U0001f601\U0001f61c\U0001f61d]"
)
_STRETCHED = re.compile(r"([a-z])\1{2,}")
# "3wks", "38wks", "2yo", "20mins": the number and its unit as two words
_NUMBER_UNIT = re.compile(r"\b(\d+)(wks?|weeks?|mths?|months?|mos?|yrs?|yo|days?|hrs?|mins?)\b")
# a whole Latin word, the unit the typo table corrects: not the "ur" of "cœur" (œ is a
# letter the accent strip keeps)
LATIN_WORD = re.compile(r"(?<![^\W\d_])[A-Za-z][A-Za-z']*(?![^\W\d_])")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_SENTENCE_END = re.compile(r"[.!?;\u0964\u0965\u3002\uff01\uff1f]+(?=\s|$)|\n|[\u0964\u3002]")
_CLAUSE_PUNCT = re.compile(r"[,:()\u060c\uff0c\u3001]")
_OTHER_PUNCT = re.compile(r"[^\w\s'|\u0900-\u0dff]")  # keep Indic vowel signs
_SENTENCE_CHARS = re.compile(r"[.!?;\u0964\u0965\u3002\uff01\uff1f\n]")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def _strip_latin_accents(text: str) -> str:
    """Drop combining marks that sit on Latin letters (é -> e), keep all other scripts."""
    decomposed = unicodedata.normalize("NFD", text)
    out: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch) and out and out[-1] < "\u0250":
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalize_line(text: str, typos: Mapping[str, str]) -> str:
    text = unicodedata.normalize("NFKC", text).translate(QUOTES).lower()
    if typos:  # an emoji of the table becomes its word ("💊" -> " pills ")
        text = "".join(
            f" {typos[ch]} " if not ch.isalnum() and not ch.isspace() and ch in typos else ch
            for ch in text
        )
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    text = _LAUGHING.sub(" lol ", text)
    text = _strip_latin_accents(text)
    text = _DASHES.sub(" ", text)
    text = _STRETCHED.sub(r"\1", text)  # no English word has three identical letters in a row
    text = _NUMBER_UNIT.sub(r"\1 \2", text)
    if typos:
        text = LATIN_WORD.sub(lambda m: typos.get(m.group(0), m.group(0)), text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Prepared:
    text: str  # normalized, punctuation kept
    match: str  # same length: sentence ends -> "|", other punctuation -> " "
    sentence_starts: tuple[int, ...]
    clause_starts: tuple[int, ...]
    segment_starts: tuple[int, ...]  # sentences split again at "but", "however", ...

    def _around(self, starts: tuple[int, ...], pos: int) -> tuple[int, int]:
        i = bisect_right(starts, pos) - 1
        start = starts[i] if i >= 0 else 0
        end = starts[i + 1] if i + 1 < len(starts) else len(self.text)
        return start, end

    def sentence_span(self, pos: int) -> tuple[int, int]:
        return self._around(self.sentence_starts, pos)

    def clause_span(self, pos: int) -> tuple[int, int]:
        return self._around(self.clause_starts, pos)

    def segment_at(self, pos: int) -> str:
        """The match text of the sentence part around ``pos`` ("... cramps, but now X":
        the part after "but")."""
        start, end = self._around(self.segment_starts, pos)
        return self.match[start:end]

    def sentence_at(self, pos: int) -> str:
        """The match text of the sentence around ``pos``."""
        start, end = self.sentence_span(pos)
        return self.match[start:end]

    def sentences(self) -> list[Sentence]:
        """Every non-empty sentence: its offset, match text and normalized text."""
        bounds = (*self.sentence_starts, len(self.text))
        out = []
        for start, end in itertools.pairwise(bounds):
            match = self.match[start:end].strip(" |")
            if match:
                out.append(Sentence(start, end, match, self.text[start:end].strip(" .!?;\n")))
        return out


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    match: str
    text: str


_CLAUSE_WORDS = re.compile(
    r"\b(?:but|however|although|though|except|yet|whereas|while|and now"
    r"|pero|mais|lekin|par|magar)\b"
)


def prepare(text: str, typos: Mapping[str, str]) -> Prepared:
    lines = (normalize_line(line, typos) for line in text.splitlines())
    norm = "\n".join(" ".join(line.split()) for line in lines if line)
    sentence_starts = [0]
    for m in _SENTENCE_END.finditer(norm):
        sentence_starts.append(m.end())
    segment_starts = set(sentence_starts)
    clause_starts = set(sentence_starts)
    for m in _CLAUSE_PUNCT.finditer(norm):
        clause_starts.add(m.end())
    for m in _CLAUSE_WORDS.finditer(norm):
        clause_starts.add(m.start())
        segment_starts.add(m.start())
    match = _SENTENCE_CHARS.sub("|", _DECIMAL_POINT.sub(" ", norm))  # "3.2" is one reading
    match = _OTHER_PUNCT.sub(" ", match)
    return Prepared(
        text=norm,
        match=match,
        sentence_starts=tuple(sorted(set(sentence_starts))),
        clause_starts=tuple(sorted(clause_starts)),
        segment_starts=tuple(sorted(segment_starts)),
    )
