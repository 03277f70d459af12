"""Components the pages share, built once per process with ``st.cache_resource``.

The encoder (a model load of several seconds) is cached by the settings that shape it;
the chatbot by all the settings, so two configurations (or two test runs with their own
temporary directories) never share an index. Nothing here caches an index snapshot:
:class:`chatbot.store.IndexReader` re-checks the index pointer before every question, so
an ingest run from the command line is served without restarting the app.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import streamlit as st

from chatbot.chain import Chatbot
from chatbot.config import Settings, get_settings
from chatbot.feedback import FeedbackStore
from chatbot.store import Backend, Manifest, Pointer


def load_settings() -> Settings:
    """The settings for this run (environment and ``.env``); cheap, so not cached."""
    return get_settings()


def _encoder_key(settings: Settings) -> str:
    return "|".join(
        str(part)
        for part in (
            settings.resolved_model_path,
            settings.models_dir.resolve(),
            settings.encoder,
            settings.onnx_quantization,
            settings.embed_batch_size,
            settings.torch_threads,
        )
    )


def _settings_key(settings: Settings) -> str:
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()


@st.cache_resource(show_spinner="Loading the search model…", max_entries=4)
def _cached_encoder(key: str, _settings: Settings) -> Any:
    from chatbot.embed import load_serving_encoder

    return load_serving_encoder(_settings)


@st.cache_resource(show_spinner="Starting the assistant…", max_entries=8)
def _cached_chatbot(key: str, _settings: Settings) -> Chatbot:
    from chatbot.chain import build_chatbot

    return build_chatbot(_settings, encoder=encoder(_settings))


@st.cache_resource(max_entries=8)
def _cached_feedback_store(path: str, retention_days: int) -> FeedbackStore:
    return FeedbackStore(Path(path), retention_days)


def encoder(settings: Settings) -> Any:
    """The embedding model, loaded once per process (shared by chat and ingest)."""
    return _cached_encoder(_encoder_key(settings), settings)


def chatbot(settings: Settings) -> Chatbot:
    """The chatbot for these settings, built once per process."""
    return _cached_chatbot(_settings_key(settings), settings)


def clear_chatbots() -> None:
    """Forget built chatbots (tests; the encoder stays loaded)."""
    _cached_chatbot.clear()


def feedback_store(settings: Settings) -> FeedbackStore:
    return _cached_feedback_store(
        str(settings.feedback_db.resolve()), settings.feedback_retention_days
    )


def backend(settings: Settings) -> Backend:
    """The index backend the chatbot reads (for the pointer and manifest)."""
    store: Backend = chatbot(settings).retriever.reader.backend
    return store


def index_state(settings: Settings) -> tuple[Pointer | None, Manifest]:
    """The served version's pointer and manifest (``None`` and empty when no index)."""
    store = backend(settings)
    pointer = store.read_pointer()
    if pointer is None:
        return None, Manifest()
    return pointer, store.read_manifest(pointer.version)
