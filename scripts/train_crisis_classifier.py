"""Train the self-harm classifier on the labelled triage messages and write its weights.

    .venv/bin/python scripts/train_crisis_classifier.py                 # writes the file
    .venv/bin/python scripts/train_crisis_classifier.py --validate-on dev_blind_k.jsonl \\
        dev_selfharm_l.jsonl dev_blind_m.jsonl dev_selfharm_n.jsonl     # choose thresholds

Every message of ``data/eval/triage/`` (the dev sets; never the holdout or the test set)
and every exemplar sentence of ``data/triage/exemplars.yaml`` is prepared and embedded
exactly as triage does at run time; self-harm emergencies are
the positives, everything else (look-alikes, negated mentions, other emergencies) the
negatives. With ``--validate-on`` the named files are left out of training and the
recall and false alarms at several thresholds are printed for them: that is how the
thresholds in the file were chosen. Writes ``data/triage/crisis_classifier.json``
(format: :mod:`chatbot.safety.classifier`). Needs scikit-learn (a dev dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--c", type=float, default=4.0, help="inverse regularisation strength")
    parser.add_argument("--crisis-line-at", type=float, default=0.9)
    parser.add_argument("--report-at", type=float, default=0.8)
    parser.add_argument("--report-alone-at", type=float, default=0.95)
    parser.add_argument("--report-told-at", type=float, default=0.97)
    parser.add_argument("--validate-on", nargs="*", default=[], help="dev files to hold out")
    args = parser.parse_args()

    from chatbot.config import get_settings
    from chatbot.embed import load_serving_encoder
    from chatbot.safety import build_triage, default_tables_dir
    from chatbot.safety.classifier import FILE_NAME, fit
    from chatbot.safety.semantic import message_vectors
    from chatbot.safety.text import prepare

    settings = get_settings()
    encoder = load_serving_encoder(settings)
    tables_dir = settings.triage_dir or default_tables_dir()
    triage = build_triage(tables_dir, None)  # its typo table and sentence split
    folder = REPO / "data" / "eval" / "triage"
    rows = [
        (path.name, json.loads(line))
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    # the reviewed exemplar sentences too: the "none" ones are the everyday medicine and
    # cramp questions that labelled messages rarely are
    exemplars = yaml.safe_load((tables_dir / "exemplars.yaml").read_text(encoding="utf-8"))
    rows += [
        (
            "exemplars.yaml",
            {
                "text": text,
                "expect": "emergency" if label != "none" else "none",
                "categories": [label] if label != "none" else [],
            },
        )
        for label, texts in exemplars.items()
        for text in texts
    ]
    vectors = []
    for _, case in rows:
        prepared = prepare(case["text"], triage.typos)
        sentences = prepared.sentences()
        vectors.append(
            message_vectors(
                encoder,
                prepared.text,
                [(s.start, s.end) for s in sentences],
                [s.text for s in sentences],
            )[1]
        )
    x = np.stack(vectors)
    y = np.array(
        [int(c["expect"] != "none" and "self_harm" in c.get("categories", [])) for _, c in rows]
    )
    held = np.array([name in args.validate_on for name, _ in rows])
    labelled = {name for name, _ in rows} - set(args.validate_on) - {"exemplars.yaml"}
    trained_on = [
        *(f"data/eval/triage/{n}" for n in sorted(labelled)),
        "data/triage/exemplars.yaml",
    ]
    model = fit(
        x[~held],
        y[~held],
        encoder=encoder.identity,
        c=args.c,
        crisis_line_at=args.crisis_line_at,
        report_at=args.report_at,
        report_alone_at=args.report_alone_at,
        report_told_at=args.report_told_at,
        trained_on=trained_on,
        note="self-harm emergencies against every other labelled message; "
        "thresholds chosen on blind sets K, L, M, N held out (docs/benchmarks.md)",
    )
    if held.any():
        look = np.array([c["expect"] == "none" for _, c in rows])
        p = np.array([model.probability(v) for v in x])
        for th in (0.5, 0.6, 0.7, 0.8, 0.9):
            hit = p >= th
            positives = int((held & (y == 1)).sum())
            print(
                f"at {th}: self-harm {int((hit & held & (y == 1)).sum())}/{positives}"
                f", look-alikes {int((hit & held & look).sum())}/{int((held & look).sum())}"
                f", other emergencies {int((hit & held & (y == 0) & ~look).sum())}"
            )
        return 0
    model.save(tables_dir / FILE_NAME)
    print(f"wrote {tables_dir / FILE_NAME}: {model.examples} messages, {model.positives} self-harm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
