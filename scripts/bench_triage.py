"""Triage benchmark: the dev set, a semantic threshold sweep, false alarms on real
question sets, and time per message. Writes docs/bench/triage.json.

    python scripts/bench_triage.py [--quick]

Thresholds are chosen on the labelled dev set (data/eval/triage/); the false-alarm scans
of MedQuAD's templated questions and the real consumer questions are never tuned on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
MEDQUAD = REPO.parent / "shared" / "corpus" / "medquad"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 17,896-question scan")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "triage.json")
    args = parser.parse_args()

    from chatbot.config import get_settings
    from chatbot.embed import load_serving_encoder
    from chatbot.safety import Triage, load_tables
    from chatbot.safety.evaluate import load_cases, run, scan

    settings = get_settings()
    encoder = load_serving_encoder(settings)
    tables = load_tables(REPO / "data" / "triage")
    cases = load_cases(sorted((REPO / "data" / "eval" / "triage").glob("*.jsonl")))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    flags = Path("/proc/cpuinfo").read_text()
    result: dict[str, object] = {
        "cpu": cpu,
        "avx512_vnni": "avx512_vnni" in flags,
        "cases": len(cases),
        "encoder": encoder.identity,
    }

    blind = {
        name: load_cases(sorted((REPO / "data" / "eval" / name).glob("*.jsonl")))
        for name in ("triage_holdout", "triage_test")
    }
    rules = Triage(tables, None)
    rules.warm()  # the language model loads once, before any message is timed
    result["rules_only"] = {
        "dev": _summary(run(rules, cases)),
        **{name: _summary(run(rules, blind_cases)) for name, blind_cases in blind.items()},
    }
    sweep = []
    for threshold in (0.55, 0.6, 0.65, 0.7):
        for margin in (0.0, 0.05):
            t = Triage(
                tables,
                encoder,
                threshold=threshold,
                margin=margin,
                crisis_threshold=settings.triage_crisis_threshold,
                cache_dir=settings.models_dir,
            )
            summary = {"threshold": threshold, "margin": margin, "dev": _summary(run(t, cases))}
            summary["triage_holdout"] = _summary(run(t, blind["triage_holdout"]))
            sweep.append(summary)
            print(json.dumps(summary), file=sys.stderr)
    # chosen on the dev set and the first holdout; the test set is only read here, once
    result["sweep"] = sweep

    chosen = Triage(
        tables,
        encoder,
        threshold=settings.triage_threshold,
        margin=settings.triage_margin,
        crisis_threshold=settings.triage_crisis_threshold,
        cache_dir=settings.models_dir,
    )
    chosen.warm()
    report = run(chosen, cases)
    hidden = ("misses", "false_alarm_cases", "crisis_misses")  # blind sets stay unread
    result["chosen"] = {
        "threshold": settings.triage_threshold,
        "margin": settings.triage_margin,
        "crisis_threshold": settings.triage_crisis_threshold,
        "dev": report.as_dict(),
        **{
            name: {k: v for k, v in run(chosen, blind_cases).as_dict().items() if k not in hidden}
            for name, blind_cases in blind.items()
        },
    }
    scans = {}
    sets = [("consumer", MEDQUAD / "consumer_questions.jsonl")]
    if not args.quick:
        sets.append(("templated", MEDQUAD / "questions.jsonl"))
    for name, path in sets:
        if not path.is_file():
            continue
        questions = [json.loads(line)["question"] for line in path.read_text().splitlines() if line]
        started = time.perf_counter()
        count, flagged = scan(chosen, questions)
        scans[name] = {
            "questions": count,
            "flagged": [
                {"question": q[:300], "categories": list(a.categories), "level": a.level}
                for q, a in flagged
            ],
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(f"{name}: {len(flagged)} of {count} flagged", file=sys.stderr)
    result["scans"] = scans
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(report.render().split("\n\nmissed")[0])
    return 0


def _summary(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    p50, p95 = report.latency()
    return {
        "recall_by_category": report.recall_by_category(),
        "recall": report.recall(),
        "false_alarms": report.false_alarms(),
        "crisis_lines": report.crisis_lines(),
        "ms_p50": round(p50, 3),
        "ms_p95": round(p95, 3),
    }


if __name__ == "__main__":
    sys.exit(main())
