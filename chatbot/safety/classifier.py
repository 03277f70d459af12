"""The self-harm classifier: a logistic regression on the whole message's sentence vector.

The rules and the exemplar bank know the wording somebody has written down; a message
about passwords left "for after", a note and the car keys on the table, or five pill
emojis and "forever" shares no phrase with them. Trained on every labelled message of
``data/eval/triage/`` (self-harm against everything else, look-alikes included), the
classifier reads the theme of the whole message. On blind sets it had never seen it
caught most of what the rules missed (``docs/benchmarks.md``).

``data/triage/crisis_classifier.json`` is written by ``scripts/train_crisis_classifier.py``
and read here; this module owns that format. The weights only fit the encoder they were
trained with: with another encoder (or a test's fake one) the classifier is not used.

Its thresholds, chosen on blind sets the model was not trained on (English messages
only: the encoder reads no other language):

* ``report_at``: with two concrete cues of the category's ``semantic_escalate`` groups
  (a time, a means, a goodbye, a place ...) and nothing setting it aside (a negation the
  rules saw, a joke, "it is over", a past event, a benign context such as song lyrics),
  the message is a self-harm emergency;
  from ``report_alone_at`` one cue is enough, and from ``report_told_at`` none when a
  sentence is a personal statement, not a question ("how do I stop using rasagiline"
  scores 0.95);
* ``crisis_line_at``: otherwise the reply carries the crisis line. Everyday dose
  questions ("how much ibuprofen is too much") score 0.8-0.9, so this one is higher.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FILE_NAME = "crisis_classifier.json"


class CrisisClassifierError(ValueError):
    """The classifier file is malformed."""


class CrisisClassifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: str = Field(description="the sentence model the weights belong to")
    trained_with: str = Field(description="the encoder identity used for training")
    dim: int = Field(gt=0)
    coef: list[float]
    intercept: float
    crisis_line_at: float = Field(gt=0, lt=1)
    report_at: float = Field(gt=0, lt=1)
    report_alone_at: float = Field(default=0.95, gt=0, lt=1, description="one cue is enough")
    report_told_at: float = Field(
        default=0.97, gt=0, lt=1, description="no cue needed in a personal statement"
    )
    trained_on: list[str] = Field(description="the labelled files, relative to the project")
    examples: int = Field(ge=0)
    positives: int = Field(ge=0)
    regularisation_c: float = Field(gt=0)
    note: str = ""

    @model_validator(mode="after")
    def _shape(self) -> CrisisClassifier:
        if len(self.coef) != self.dim:
            raise ValueError(f"coef has {len(self.coef)} weights, dim says {self.dim}")
        return self

    def fits(self, encoder_identity: str, dim: int) -> bool:
        """The same sentence model (any backend: int8 kernels differ by CPU, the vectors
        hardly do) and the same width."""
        return encoder_identity.split(":")[0] == self.encoder and self.dim == dim

    def probability(self, vector: np.ndarray) -> float:
        z = float(np.dot(np.asarray(self.coef, dtype=np.float32), vector)) + self.intercept
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    # ----------------------------------------------------------------- file format
    @classmethod
    def load(cls, path: Path) -> CrisisClassifier | None:
        """The classifier in ``path``, or None when there is none. A file that is not
        JSON is a :class:`CrisisClassifierError`; one that fails the schema raises
        pydantic's ``ValidationError``."""
        if not path.is_file():
            return None
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except ValidationError:
            raise  # the tables loader reports it like every other table's
        except (OSError, ValueError) as exc:
            raise CrisisClassifierError(f"{path}: cannot be read: {exc}") from None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        data = self.model_dump()
        coef = data.pop("coef")
        text = json.dumps(data, indent=1)[:-2] + ',\n "coef": ' + json.dumps(coef) + "\n}\n"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def fit(
    vectors: np.ndarray,
    labels: Sequence[int],
    *,
    encoder: str,
    c: float,
    crisis_line_at: float,
    report_at: float,
    report_alone_at: float,
    report_told_at: float,
    trained_on: list[str],
    note: str = "",
) -> CrisisClassifier:
    """Fit the logistic regression (scikit-learn, a development dependency)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(vectors, y)
    return CrisisClassifier(
        encoder=encoder.split(":")[0],
        trained_with=encoder,
        dim=int(vectors.shape[1]),
        coef=[round(float(w), 6) for w in model.coef_[0]],
        intercept=round(float(model.intercept_[0]), 6),
        crisis_line_at=crisis_line_at,
        report_at=report_at,
        report_alone_at=report_alone_at,
        report_told_at=report_told_at,
        trained_on=trained_on,
        examples=len(y),
        positives=int(y.sum()),
        regularisation_c=c,
        note=note,
    )
