"""``python -m chatbot {ask,retrieve,eval,triage,status}``: the chatbot's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from chatbot.cli_common import add_store_options, run, settings_from_args
from chatbot.config import Settings
from chatbot.reply import Reply


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chatbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="ask a question; no question starts a conversation")
    ask.add_argument("question", nargs="?", help="the question (omit for an interactive session)")
    ask.add_argument("--json", action="store_true", help="print the reply object as JSON")
    ask.add_argument(
        "--jsonl",
        action="store_true",
        help='read conversations {"id", "turns": [...]} from stdin, one per line',
    )
    add_store_options(ask)

    retrieve = sub.add_parser("retrieve", help="show what retrieval finds")
    retrieve.add_argument("question", nargs="?")
    retrieve.add_argument("--k", type=int, default=10)
    retrieve.add_argument("--jsonl", action="store_true", help='read {"question"} lines from stdin')
    add_store_options(retrieve)

    ev = sub.add_parser("eval", help="run a staff question set and check expectations")
    ev.add_argument("files", nargs="*", type=Path, help="JSONL sets (default: data/eval/)")
    ev.add_argument("--json", action="store_true")
    add_store_options(ev)

    tri = sub.add_parser(
        "triage", help="measure emergency triage on labelled messages (no index needed)"
    )
    tri.add_argument(
        "files", nargs="*", type=Path, help="labelled JSONL (default: data/eval/triage/)"
    )
    tri.add_argument(
        "--scan",
        nargs="+",
        type=Path,
        metavar="JSONL",
        help='instead, list every flagged message of real question sets ({"question"} lines)',
    )
    tri.add_argument("--rules-only", action="store_true", help="without the semantic layer")
    tri.add_argument("--json", action="store_true")
    add_store_options(tri)

    status = sub.add_parser("status", help="say whether an index is ready; exit 1 if not")
    status.add_argument("--quiet", action="store_true")
    add_store_options(status)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), _command, argv)


def _command(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.command == "status":
        return _status(settings, args.quiet)
    if args.command == "triage":
        return _triage(settings, args)
    from chatbot.chain import build_chatbot
    from chatbot.store import IndexMissing, make_backend

    backend = make_backend(settings)
    if backend.read_pointer() is None:  # fail before the model load, not after
        raise IndexMissing(
            f"No index found at {backend.description}. Build it first: python -m ingest"
        )
    bot = build_chatbot(settings, backend=backend)
    bot.warm()
    if args.command == "ask":
        return _ask(bot, args, sys.stdin, sys.stdout)
    if args.command == "retrieve":
        return _retrieve(bot, args, sys.stdin, sys.stdout)
    return _eval(bot, settings, args)


def _triage(settings: Settings, args: argparse.Namespace) -> int:
    from chatbot.safety import triage_from_settings
    from chatbot.safety.evaluate import load_cases, run, scan

    encoder = None
    if not args.rules_only:
        from chatbot.embed import load_serving_encoder

        encoder = load_serving_encoder(settings)
    triage = triage_from_settings(settings, encoder)
    triage.warm()
    if args.scan:
        for path in args.scan:
            questions = [
                str(json.loads(line).get("question", ""))
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
            count, flagged = scan(triage, questions)
            if args.json:
                print(
                    json.dumps(
                        {
                            "file": str(path),
                            "questions": count,
                            "flagged": [
                                {"question": q, "level": a.level, "categories": a.categories}
                                for q, a in flagged
                            ],
                        }
                    )
                )
            else:
                print(f"{path}: {len(flagged)} of {count} flagged")
                for question, a in flagged:
                    text = " ".join(question.split())[:160]
                    print(f"  [{a.level} {','.join(a.categories)}] {text}")
        return 0
    files = args.files or sorted((settings.eval_dir / "triage").glob("*.jsonl"))
    if not files:
        print(f"No labelled triage messages in {settings.eval_dir / 'triage'}", file=sys.stderr)
        return 2
    report = run(triage, load_cases(files))
    print(json.dumps(report.as_dict(), indent=1) if args.json else report.render())
    return 0


def _status(settings: Settings, quiet: bool) -> int:
    from chatbot.embed import encoder_identity
    from chatbot.store import StoreError, make_backend

    backend = make_backend(settings)
    try:
        pointer = backend.read_pointer()
    except StoreError as exc:
        if not quiet:
            print(f"index problem: {exc}")
        return 1
    if pointer is None:
        if not quiet:
            print(f"no index at {backend.description}; build it with: python -m ingest")
        return 1
    if pointer.encoder != encoder_identity(settings):
        if not quiet:
            print(f"index built with {pointer.encoder}, settings use {encoder_identity(settings)}")
        return 1
    if not quiet:
        print(
            f"index {pointer.version} at {backend.description}: {pointer.articles} articles, "
            f"{pointer.chunks} chunks, encoder {pointer.encoder}, built {pointer.created}"
        )
        folder = backend.reader_dir(pointer.version)
        if folder is not None:
            from chatbot.retrieve import reader_files_current

            if reader_files_current(folder, pointer.chunks):
                print("reader files: ready (fast start)")
            else:
                print(
                    "reader files: missing or stale, so each new process reads the whole index "
                    "(slower start); write them with: python -m ingest"
                )
    return 0


def render(reply: Reply) -> str:
    lines = [reply.answer.removesuffix(reply.disclaimer).rstrip(), ""]
    if reply.citations:
        lines.append("Sources:")
        for c in reply.citations:
            where = ", ".join(
                x
                for x in (c.publisher, c.section, c.last_updated and f"updated {c.last_updated}")
                if x
            )
            lines.append(f"  [{c.n}] {c.title} ({where}){' ' + c.url if c.url else ''}")
        lines.append("")
    lines.append(reply.disclaimer)
    return "\n".join(lines)


def _ask(bot: Any, args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    if args.jsonl:
        for number, line in enumerate(stdin, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                turns = item["turns"]
                if not isinstance(turns, list):
                    raise TypeError("turns must be a list")
            except (ValueError, KeyError, TypeError) as exc:
                print(f'error: line {number}: expected {{"id", "turns"}} ({exc})', file=sys.stderr)
                return 2
            session = f"jsonl-{number}-{item.get('id')}"
            replies = [bot.ask(str(q), session_id=session).model_dump() for q in turns]
            bot.reset(session)
            stdout.write(json.dumps({"id": item.get("id"), "replies": replies}) + "\n")
            stdout.flush()
        return 0
    if args.question is not None:
        reply = bot.ask(args.question)
        stdout.write((reply.model_dump_json(indent=2) if args.json else render(reply)) + "\n")
        return 0
    print("Ask a health question (Ctrl-D to quit, 'new' for a new conversation).", file=sys.stderr)
    session = "interactive"
    while True:
        try:
            question = input("you> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        if question.strip().lower() in {"new", "/new"}:
            bot.reset(session)
            continue
        reply = bot.ask(question, session_id=session)
        stdout.write((reply.model_dump_json(indent=2) if args.json else render(reply)) + "\n\n")
        stdout.flush()


def _retrieve(bot: Any, args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    def results(question: str) -> list[dict[str, Any]]:
        hits = bot.retriever.search(question, args.k)
        return [
            {
                "text": h.body,
                "title": h.metadata.get("title", ""),
                "section": h.metadata.get("section", ""),
                "source": h.metadata.get("source_path", ""),
                "score": round(h.fused, 6),
                "dense": round(h.dense, 4),
                "bm25": h.bm25,
                "chunk_id": h.chunk_id,
            }
            for h in hits
        ]

    if args.jsonl:
        for number, line in enumerate(stdin, start=1):
            if not line.strip():
                continue
            try:
                question = str(json.loads(line)["question"])
            except (ValueError, KeyError, TypeError) as exc:
                print(
                    f'error: line {number}: expected {{"question": ...}} ({exc})', file=sys.stderr
                )
                return 2
            stdout.write(json.dumps({"question": question, "results": results(question)}) + "\n")
        return 0
    if not args.question:
        print("error: give a question, or --jsonl with questions on stdin", file=sys.stderr)
        return 2
    stdout.write(
        json.dumps({"question": args.question, "results": results(args.question)}, indent=2) + "\n"
    )
    return 0


def _eval(bot: Any, settings: Settings, args: argparse.Namespace) -> int:
    from chatbot.evaluate import load_sets, run_eval

    conversations = load_sets(args.files or [settings.eval_dir])
    report = run_eval(bot, conversations)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.passed == report.total else 1


if __name__ == "__main__":
    sys.exit(main())
