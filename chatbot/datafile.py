"""Reading the reviewed data files of ``data/answers/``: one place for "missing", "not
valid YAML" and "field: message" errors that name the file, and for reading a file again
only when it changed.

Each table's module keeps its own schema and its own error class (so a caller can tell
a broken question-type table from a broken lay-words table); this module only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def read_yaml(path: Path, model: type[M], error: type[ValueError], what: str) -> M:
    """``path`` parsed and validated as ``model``; any problem raises ``error`` naming the
    file (and the field), e.g. "lay_words.yaml: words.0.means: Field required"."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path}: the {what} is missing") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc})") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise error(f"{path}: {field}: {first['msg']}") from exc


def load_versioned(path: Path, build: Callable[[Path], T], error: type[ValueError], what: str) -> T:
    """``build(path)``, run again only when the file changed (its modification time)."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError as exc:
        raise error(f"{path}: the {what} is missing") from exc
    return _built(path, mtime, build)


@lru_cache(maxsize=16)
def _built(path: Path, mtime: float, build: Callable[[Path], Any]) -> Any:
    return build(path)
