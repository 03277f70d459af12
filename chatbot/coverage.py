"""What the library never mentions: a question that names a condition, medicine or test
none of the articles contains is told so plainly ("The articles in this library don't
mention quinine"), instead of being answered as if they did.

The names come from ``data/answers/medical_terms.txt`` (written from the MedQuAD article
titles by ``scripts/build_medical_terms.py``; the content team may add lines by hand).
A name counts as missing when one of its words (other than generic ones such as
"disease" or "problems") is in no article of the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chatbot.retrieve import tokenize

# Words of a name that say what kind of thing it is, not which: "walking problems" is not
# a subject the library lacks because it never says "problems".
GENERIC = frozenset(
    [
        "disease",
        "diseases",
        "disorder",
        "disorders",
        "syndrome",
        "problem",
        "problems",
        "condition",
        "conditions",
        "infection",
        "infections",
        "injury",
        "injuries",
        "care",
        "health",
        "test",
        "tests",
        "testing",
        "exam",
        "treatment",
        "pain",
        "safety",
        "diet",
        "exercise",
        "use",
        "abuse",
        "type",
        "types",
        "medicine",
        "medicines",
        "medication",
        "medications",
        "drug",
        "drugs",
        "symptoms",
        "signs",
        "risk",
        "acute",
        "chronic",
        "child",
        "children",
        "adult",
        "adults",
        "older",
        "women",
        "men",
    ]
)


class MedicalTermsError(ValueError):
    """The medical-terms list is missing or unreadable."""


@dataclass(frozen=True)
class MedicalTerms:
    pattern: re.Pattern[str] | None

    def named(self, text: str) -> list[str]:
        """The names in ``text``, longest first where they overlap, in text order."""
        if self.pattern is None:
            return []
        return list(dict.fromkeys(m.group(0) for m in self.pattern.finditer(text.lower())))

    def missing(self, text: str, known: Callable[[str], bool]) -> list[str]:
        """The names in ``text`` with a specific word the library never uses (``known``
        tells whether a BM25 stem is in the index)."""
        out = []
        for name in self.named(text):
            words = [w for w in name.split() if w not in GENERIC]
            stems = tokenize([" ".join(words)])[0] if words else []
            if stems and not all(known(s) for s in stems):
                out.append(name)
        return out


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float) -> MedicalTerms:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise MedicalTermsError(f"{path}: the medical-terms list is missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MedicalTermsError(f"{path}: cannot be read ({exc})") from exc
    terms = sorted(
        {" ".join(x.lower().split()) for x in lines if x.strip() and not x.startswith("#")},
        key=lambda t: (-len(t), t),
    )
    if not terms:
        return MedicalTerms(None)
    body = "|".join(r"\s+".join(re.escape(w) for w in t.split()) for t in terms)
    return MedicalTerms(re.compile(rf"(?<![\w'-])(?:{body})(?![\w'-])"))


def default_medical_terms_file() -> Path:
    """``data/answers/medical_terms.txt`` of this project (ships with the code)."""
    return Path(__file__).resolve().parents[1] / "data" / "answers" / "medical_terms.txt"


def load_medical_terms(path: Path | None = None) -> MedicalTerms:
    """The list at ``path`` (default: the project's), compiled once per file version."""
    path = path or default_medical_terms_file()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise MedicalTermsError(f"{path}: the medical-terms list is missing") from exc
    return _load(path, mtime)
