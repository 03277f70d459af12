"""``python -m ingest [PATHS...]``: sync article files into the index."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chatbot.cli_common import add_store_options, run, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Sync article files (.txt .md .html .pdf) into the chatbot's index. "
        "Unchanged articles are skipped; changed ones replaced; removed ones deleted.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="files or folders to sync (default: the articles folder, data/articles)",
    )
    add_store_options(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change, change nothing"
    )
    parser.add_argument("--rebuild", action="store_true", help="start over: re-embed everything")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), _ingest, argv)


def _ingest(args: argparse.Namespace) -> int:
    from ingest.sync import sync

    try:
        report = sync(
            settings_from_args(args),
            args.paths or None,
            dry_run=args.dry_run,
            rebuild=args.rebuild,
            show_progress=not args.no_progress and not args.json and sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        print("interrupted: the index that was being served is unchanged", file=sys.stderr)
        return 130
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
