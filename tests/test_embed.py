"""The encoder: CPU-matched int8 kernels, identity, and the real model's vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from chatbot.config import Settings
from chatbot.embed import cpu_quantization_config, encoder_identity


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
