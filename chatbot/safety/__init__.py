"""Safety checks run on every message before anything is retrieved.

* :mod:`~chatbot.safety.triage`: emergencies and urgent red flags (rules + context +
  semantic layer), from the reviewed tables in ``data/triage/`` (:mod:`.tables`);
* :mod:`~chatbot.safety.replies`: the emergency, urgent and crisis replies per language;
* :mod:`~chatbot.safety.medication`: personal medication questions, and instructions aimed
  at the assistant.

Nothing here does work at import time: :func:`build_triage` loads the tables (and embeds
the exemplars) once per process.
"""

from __future__ import annotations

import threading
from pathlib import Path

from chatbot.config import Settings
from chatbot.safety.medication import is_personal_medication_question, strip_instructions
from chatbot.safety.replies import ReplyWriter
from chatbot.safety.semantic import TextEncoder
from chatbot.safety.tables import Tables, TriageTableError, load_tables
from chatbot.safety.triage import Assessment, Finding, Triage

__all__ = [
    "Assessment",
    "Finding",
    "ReplyWriter",
    "Tables",
    "Triage",
    "TriageTableError",
    "build_triage",
    "default_tables_dir",
    "is_personal_medication_question",
    "load_tables",
    "strip_instructions",
    "triage_from_settings",
]


def default_tables_dir() -> Path:
    """``data/triage`` of this project (the tables ship with the code, not the library)."""
    return Path(__file__).resolve().parents[2] / "data" / "triage"


def build_triage(
    folder: Path | None = None,
    encoder: TextEncoder | None = None,
    *,
    threshold: float = 0.6,
    margin: float = 0.0,
    crisis_threshold: float = 0.45,
    crisis_margin: float = -0.02,
    cache_dir: Path | None = None,
) -> Triage:
    """Load and validate the tables, and embed the exemplars when an encoder is given."""
    folder = (folder or default_tables_dir()).resolve()
    stamp = tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.yaml"))
    )
    key = (
        str(folder),
        stamp,
        id(encoder),
        threshold,
        margin,
        crisis_threshold,
        crisis_margin,
        str(cache_dir),
    )
    with _LOCK:
        cached = _BUILT.get(key)
        if cached is None:
            tables = load_tables(folder)
            cached = Triage(
                tables,
                encoder,
                threshold=threshold,
                margin=margin,
                crisis_threshold=crisis_threshold,
                crisis_margin=crisis_margin,
                cache_dir=cache_dir,
            )
            _BUILT[key] = cached
        return cached


def triage_from_settings(settings: Settings, encoder: TextEncoder | None) -> Triage:
    """The triage the settings describe (tables folder, thresholds, exemplar cache)."""
    return build_triage(
        settings.triage_dir,
        encoder,
        threshold=settings.triage_threshold,
        margin=settings.triage_margin,
        crisis_threshold=settings.triage_crisis_threshold,
        crisis_margin=settings.triage_crisis_margin,
        cache_dir=settings.models_dir,
    )


# One Triage per tables version and encoder in a process: building one embeds every
# exemplar; the object is read-only once built.
_BUILT: dict[tuple[object, ...], Triage] = {}
_LOCK = threading.Lock()
