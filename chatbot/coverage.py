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
from pathlib import Path

from chatbot.datafile import load_versioned
from chatbot.rephrase import subject_words
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


def _load(path: Path) -> MedicalTerms:
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


# The clause of a message that asks ("... after radiation for throat cancer, what helps":
# "what helps"); a name told in the story is not what is asked about.
_ASKING = re.compile(
    r"\b(what|how|can|could|does|do|is|are|should|why|when|which|will|would|any)\b|\?",
    re.IGNORECASE,
)


def _asking_part(question: str) -> str:
    clauses = [c for c in re.split(r"[,.;!\n]+|\s(?:and|but|so)\s", question) if c.strip()]
    asking = [c for c in clauses if _ASKING.search(c)]
    return " ".join(asking) if asking else question


def not_in_library(
    question: str, terms: MedicalTerms, known: Callable[[str], bool] | None
) -> list[str]:
    """Names of conditions or medicines the question asks about that no article uses."""
    if known is None:
        return []
    return terms.missing(_asking_part(question), known)


def asks_more_than(question: str, missing: list[str], known: Callable[[str], bool] | None) -> bool:
    """Whether the asking part names something the library does use besides the missing
    names ("quinine ... night time leg cramps": the cramps)."""
    text = _asking_part(question).lower()
    for name in missing:
        text = text.replace(name, " ")
    stems = tokenize([" ".join(subject_words(text))])[0]
    return known is not None and any(known(s) for s in stems)


def listed(names: list[str]) -> str:
    """ "quinine", "quinine or tizanidine", "a, b or c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def default_medical_terms_file() -> Path:
    """``data/answers/medical_terms.txt`` of this project (ships with the code)."""
    return Path(__file__).resolve().parents[1] / "data" / "answers" / "medical_terms.txt"


def load_medical_terms(path: Path | None = None) -> MedicalTerms:
    """The list at ``path`` (default: the project's), compiled once per file version."""
    return load_versioned(
        path or default_medical_terms_file(), _load, MedicalTermsError, "medical-terms list"
    )
