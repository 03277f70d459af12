"""The semantic layer: nearest labelled exemplars in the sentence encoder's space.

Each exemplar of ``data/triage/exemplars.yaml`` is embedded once (and cached on disk per
encoder and table content). A message's sentences are embedded in one batch; for each
sentence the layer finds the most similar exemplar of every label. A category is
suggested when its best similarity reaches ``threshold`` *and* beats the best "none"
exemplar (what an emergency is not: first-aid questions, past events, hyperbole) by
``margin``. Both numbers are settings chosen by ``scripts/bench_triage.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class TextEncoder(Protocol):
    identity: str
    dim: int

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray: ...


def message_vectors(
    encoder: TextEncoder, text: str, spans: Sequence[tuple[int, int]], texts: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Each sentence's vector and the whole message's, as triage and the classifier's
    training both read them: one model pass pooled per span when the encoder can (several
    sentences), else the sentences embedded as they are (one sentence: it is the message)."""
    pooled = getattr(encoder, "embed_spans", None)
    if pooled is not None and len(spans) > 1:
        vectors = pooled(text, [*spans, (0, len(text))])
        return vectors[:-1], vectors[-1]
    vectors = encoder.embed(list(texts))
    whole = vectors.mean(axis=0)
    return vectors, whole / max(float(np.linalg.norm(whole)), 1e-12)


@dataclass(frozen=True)
class Suggestion:
    label: str
    score: float  # best cosine to an exemplar of this label
    margin: float  # score minus the best "none" cosine
    exemplar: str
    sentence: int  # index of the sentence it came from


class ExemplarBank:
    def __init__(self, labels: list[str], texts: list[str], vectors: np.ndarray) -> None:
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        self.labels = [labels[i] for i in order]
        self.texts = [texts[i] for i in order]
        self.vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        # columns of each label are contiguous: one reduceat gives every label's best
        self.names = sorted(set(self.labels))
        self._starts = np.array([self.labels.index(n) for n in self.names])

    @classmethod
    def build(
        cls, exemplars: dict[str, list[str]], encoder: TextEncoder, cache_dir: Path | None
    ) -> ExemplarBank:
        labels = [label for label, texts in exemplars.items() for _ in texts]
        texts = [text for texts in exemplars.values() for text in texts]
        key = hashlib.sha256(
            json.dumps([encoder.identity, "each alone", labels, texts], ensure_ascii=False).encode()
        ).hexdigest()[:20]
        cached = cache_dir / f"triage-exemplars-{key}.npy" if cache_dir else None
        vectors: np.ndarray | None = None
        if cached is not None and cached.is_file():
            try:
                vectors = np.load(cached)
                if vectors.shape != (len(texts), encoder.dim):
                    vectors = None
            except (OSError, ValueError):
                vectors = None
        if vectors is None:
            # one at a time: in a padded batch the int8 model's activation scales depend on
            # the other texts, so adding one exemplar would move every other one's vector
            vectors = np.vstack([encoder.embed([text]) for text in texts])
            if cached is not None:
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cached.with_suffix(".tmp.npy")
                    np.save(tmp, vectors)
                    tmp.replace(cached)
                except OSError as exc:
                    log.warning("could not cache the triage exemplars: %s", exc)
        return cls(labels, texts, vectors)

    def suggest(self, vectors: np.ndarray) -> list[list[Suggestion]]:
        """For each vector, one suggestion per label but "none" (its best exemplar),
        best first."""
        # (sentences, exemplars). Not ``@``: a BLAS matmul wants both cores while the
        # encoder's worker threads still spin after their run, and took 4.7 ms instead of
        # 0.3 ms measured on 2 cores; einsum's own loop stays on this thread
        sims = np.einsum("ij,kj->ik", vectors, self.vectors, optimize=False)
        best = np.maximum.reduceat(sims, self._starts, axis=1)  # (sentences, labels)
        none_i = self.names.index("none") if "none" in self.names else -1
        out: list[list[Suggestion]] = []
        for row_i, row in enumerate(best):
            best_none = float(row[none_i]) if none_i >= 0 else -1.0
            ranked = np.argsort(-row)
            per_label = []
            for label_i in ranked[:4]:
                if label_i == none_i:
                    continue
                start = self._starts[label_i]
                end = (
                    self._starts[label_i + 1]
                    if label_i + 1 < len(self._starts)
                    else len(self.labels)
                )
                j = start + int(sims[row_i, start:end].argmax())
                score = float(row[label_i])
                per_label.append(
                    Suggestion(self.names[label_i], score, score - best_none, self.texts[j], row_i)
                )
            out.append(per_label)
        return out
