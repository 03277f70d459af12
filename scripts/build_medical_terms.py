"""Write data/answers/medical_terms.txt: names of conditions, medicines and tests, taken
from the titles of the MedQuAD articles (NIH; CC BY 4.0).

    python scripts/build_medical_terms.py [--corpus ../shared/corpus/medquad/articles]

The chatbot uses the list to notice when a question names something the library never
mentions ("does quinine help with night cramps" in a library without quinine) and to say
so plainly. The content team may add or remove lines by hand; rerunning this script
rewrites the generated part and keeps the lines below the "# added by hand" marker.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "answers" / "medical_terms.txt"
HAND = "# added by hand"

_PREFIXES = re.compile(
    r"^(do you have information about|what i need to know about|do i need to see a doctor for|"
    r"where to find support for people with|what other information should i know about|"
    r"what important warning or information should i know about|what are the complications of|"
    r"what should i know about|can i learn more about|what to do for|prevent diabetes problems:"
    r"|should)\s+",
    re.IGNORECASE,
)
_SUFFIXES = re.compile(
    r"\s+(be used and what is the dosage|oral inhalation|nasal spray|oral|injection|topical|"
    r"ophthalmic|rectal|transdermal|vaginal|otic|inhalation|- children|- adults|- infants)$",
    re.IGNORECASE,
)


def term_of(title: str) -> str | None:
    text = re.sub(r"\([^)]*\)", " ", title)
    text = _PREFIXES.sub("", text.strip())
    for _ in range(2):
        text = _SUFFIXES.sub("", text.strip())
    text = " ".join(text.lower().replace(",", " ").split())
    words = text.split()
    if not 1 <= len(words) <= 4 or not re.fullmatch(r"[a-z0-9' -]+", text):
        return None
    if len(text) < 4 or any(w in {"type", "and", "or", "of", "with"} for w in words[-1:]):
        return None
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus", type=Path, default=REPO.parent / "shared" / "corpus" / "medquad" / "articles"
    )
    args = parser.parse_args()
    terms: set[str] = set()
    for path in sorted(args.corpus.glob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines()[:8]:
            if line.startswith("title:"):
                term = term_of(line.split(":", 1)[1].strip().strip('"'))
                if term:
                    terms.add(term)
                break
    kept = ""
    if OUT.exists() and HAND in (old := OUT.read_text(encoding="utf-8")):
        kept = old[old.index(HAND) :]
    header = (
        "# Names of conditions, medicines and tests (one per line, lower case), from the\n"
        "# titles of the MedQuAD articles (NIH; CC BY 4.0), written by\n"
        "# scripts/build_medical_terms.py. A question naming one the library never mentions\n"
        "# is told so plainly. Add terms by hand below the marker at the end.\n"
    )
    body = "\n".join(sorted(terms))
    OUT.write_text(f"{header}{body}\n{kept or HAND + chr(10)}", encoding="utf-8")
    print(f"{len(terms)} terms -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
