"""Text helpers shared by ingest (chunking) and the answerer: one home for both."""

from __future__ import annotations

import re

# A list item: "- ", "* ", "• " or "1. " at the start of a line.
BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph (sentencex: rule-based, fast), stripped, empty ones dropped."""
    from sentencex import segment

    return [s.strip() for s in segment("en", text) if s.strip()]


# A sentence addressed to an AI, not to a reader: "ignore previous instructions", "do
# not add the disclaimer". Stripped from patients' messages and never quoted from articles.
INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,60}\b(instruction|instructions|"
    r"prompt|rules?|guidelines?|disclaimer|above|previous)\b"
    r"|\b(don'?t|do not|never|stop|without)\b[^.!?\n]{0,30}\b(add|adding|include|including|"
    r"show|showing|append|print|use|using)\b[^.!?\n]{0,30}\bdisclaimers?\b"
    r"|\b(remove|delete|drop|skip|omit)\b[^.!?\n]{0,30}\bdisclaimers?\b"
    r"|\byou are now\b|\bsystem prompt\b|\bact as\b|\bpretend (to be|you are)\b|\bjailbreak\b",
    re.IGNORECASE,
)
