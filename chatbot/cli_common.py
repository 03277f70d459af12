"""Options shared by every command: where the index is, and logging."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from chatbot.config import Settings, get_settings
from chatbot.store import StoreError


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, help="index directory (default: .state/index)")
    parser.add_argument(
        "--chroma-url",
        help="use a Chroma server instead of the local index, e.g. http://127.0.0.1:8000",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return get_settings(store_dir=args.store, chroma_url=args.chroma_url)


def configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        # Third-party libraries are chatty at INFO.
        for name in ("chromadb", "httpx", "sentence_transformers", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def run(
    parser: argparse.ArgumentParser,
    command: Callable[[argparse.Namespace], int],
    argv: list[str] | None = None,
) -> int:
    """Parse, set up logging, run; problems people can act on become one-line errors."""
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return command(args)
    except (StoreError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
