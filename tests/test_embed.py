"""The encoder: CPU-matched int8 kernels, identity, and the real model's vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.config import Settings
from chatbot.embed import (
    OnnxRuntimeEncoder,
    _exported,
    _plain_mean_pooling,
    cpu_quantization_config,
    encoder_identity,
    load_serving_encoder,
)
from tests.conftest import MODEL_CACHE, SEEDS


def test_quantization_follows_the_cpu_flags() -> None:
    assert (
        cpu_quantization_config("flags : fpu sse avx2 avx512f avx512bw avx512_vnni")
        == "avx512_vnni"
    )
    assert cpu_quantization_config("flags : fpu sse avx2 avx512f avx512bw") == "avx512"
    assert cpu_quantization_config("flags : fpu sse avx2 fma") == "avx2"


def test_identity_names_model_backend_and_kernels() -> None:
    assert encoder_identity(Settings(onnx_quantization="avx2")) == "all-MiniLM-L6-v2:onnx-int8-avx2"
    assert encoder_identity(Settings(encoder="torch-fp32")) == "all-MiniLM-L6-v2:torch-fp32"
    assert encoder_identity(Settings()).startswith("all-MiniLM-L6-v2:onnx-int8-")


def test_int8_vectors_are_normalised_and_meaningful(encoder: Any) -> None:
    vectors = encoder.embed(
        [
            "What causes muscle cramps?",
            "Dehydration can trigger muscle cramps.",
            "Paris is in France.",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_serving_encoder_gives_the_sentence_transformers_vectors(encoder: Any) -> None:
    """The fast-start encoder (onnxruntime + tokenizers, no torch) must embed a question
    exactly as sentence-transformers does, or questions would miss what ingest stored.
    Text by text: int8 dynamic quantization scales activations per batch, so even
    sentence-transformers gives slightly different vectors for different batchings."""
    serving = load_serving_encoder(Settings(model_cache_dir=MODEL_CACHE))
    assert isinstance(serving, OnnxRuntimeEncoder)
    assert serving.identity == encoder.identity and serving.dim == encoder.dim
    seed_lines = [
        line.strip()
        for path in sorted(SEEDS.glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts = [
        *seed_lines[:40],
        "My mum (72) keeps getting cramps in her calves at night, what can she do??",
        "émigré café naïve ß 😀 — spasmes musculaires",
        "",
        " ".join(seed_lines),  # far beyond 256 word pieces: truncated alike
    ]
    for text in texts:
        ours, theirs = serving.embed([text])[0], encoder.embed([text])[0]
        assert float(ours @ theirs) > 0.99999, text[:60]
    batch = serving.embed(texts)  # sorted by length, padded, put back in order
    assert batch.shape == (len(texts), 384) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-4)
    for row, text in zip(batch, texts, strict=True):
        assert float(row @ serving.embed([text])[0]) > 0.9, text[:60]


def test_serving_encoder_only_runs_a_plain_mean_pooling_model(tmp_path: Path) -> None:
    exported = _exported(Settings(model_cache_dir=MODEL_CACHE))
    assert exported is not None
    folder = tmp_path / "model"
    shutil.copytree(exported[0], folder, ignore=shutil.ignore_patterns("*.onnx", "*.safetensors"))
    assert _plain_mean_pooling(folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config), encoding="utf-8")
    assert not _plain_mean_pooling(folder)
