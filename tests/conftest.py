"""Shared fixtures. Every test runs isolated in its own tmp_path (state, data, index).

The real bundled embedding model is loaded once per session; its exported int8 ONNX
file is cached in the repository's .state/models so it is built once per machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatbot.config import Settings, get_settings

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "data" / "articles"
MODEL_CACHE = REPO / ".state" / "models"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test sees the developer's environment, state or another test's files."""
    for key in list(os.environ):
        if key.startswith("CHATBOT_"):
            monkeypatch.delenv(key)
    (tmp_path / "data" / "articles").mkdir(parents=True)
    (tmp_path / "data" / "eval").mkdir(parents=True)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHATBOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHATBOT_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def settings(isolated: Path) -> Settings:
    return get_settings()


@pytest.fixture
def make_settings(isolated: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return get_settings(**overrides)

    return make


@pytest.fixture(scope="session")
def encoder() -> Any:
    """The real int8 ONNX all-MiniLM-L6-v2, loaded once for the whole session."""
    from chatbot.embed import load_encoder

    return load_encoder(Settings(model_cache_dir=MODEL_CACHE))


@pytest.fixture
def articles_dir(settings: Settings) -> Path:
    return settings.articles_dir


@pytest.fixture
def seeded(articles_dir: Path) -> Path:
    """The two seed articles and their sidecars, copied into this test's data dir."""
    for path in SEEDS.iterdir():
        shutil.copy2(path, articles_dir / path.name)
    return articles_dir


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory: pytest.TempPathFactory, encoder: Any) -> Path:
    """One real index of the two seed articles for the whole session. Read-only: tests
    that change an index build their own."""
    from ingest.sync import sync

    root = tmp_path_factory.mktemp("seed-index")
    (root / "data" / "articles").mkdir(parents=True)
    for path in SEEDS.iterdir():
        (root / "data" / "articles" / path.name).write_bytes(path.read_bytes())
    settings = Settings(data_dir=root / "data", state_dir=root / "state")
    assert sync(settings, encoder=encoder).ok
    return settings.index_dir
