"""A versioned Chroma index that several processes can share safely.

Chroma's embedded store is not process-safe (one writer; a long-lived reader does not
see another process's writes). So an index is a series of immutable *versions*: an
ingest builds version N+1 next to the served version N (starting from a copy of it),
and only when N+1 is complete does it flip a small *pointer* to it. Readers check the
pointer before each question and open the new version when it moved. A killed ingest
leaves at most an incomplete version that nobody points to; the next ingest removes it.

Two backends share this design:

* ``LocalBackend``: one Chroma persistent directory per version under
  ``index/versions/``, the pointer in ``index/CURRENT.json`` (replaced atomically).
  Beside each version's database, ingest writes *reader files* (``reader/``: the chunk
  table as JSON and the BM25 index), so a new process loads a large index in well
  under a second instead of paging every chunk out of Chroma and re-indexing it.
* ``ServerBackend``: one collection per version on a Chroma server
  (``chromadb.HttpClient``), the pointer and manifests in a ``chatbot_meta`` collection.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from chatbot.config import Settings

log = logging.getLogger(__name__)

CHUNKS = "chunks"
META = "chatbot_meta"
POINTER = "CURRENT.json"
MANIFEST = "manifest.json"
COMPLETE = "COMPLETE"
READER_DIR = "reader"  # per-version files a reader loads instead of reading all of Chroma
TABLE = "chunks.json"


class StoreError(Exception):
    """A problem with the index that a person can act on; the message says how."""


class IndexMissing(StoreError):
    pass


class IndexCorrupt(StoreError):
    pass


class EncoderMismatch(StoreError):
    pass


class StoreUnavailable(StoreError):
    pass


def chroma_settings(token: str | None = None) -> Any:
    from chromadb.config import Settings as ChromaSettings

    if token:
        return ChromaSettings(
            anonymized_telemetry=False,
            allow_reset=False,
            chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
            chroma_client_auth_credentials=token,
        )
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def server_address(url: str) -> tuple[str, int, bool]:
    """Host, port and TLS of a Chroma server URL. Only http and https; a user or password
    in the URL is refused (and never repeated back): use CHATBOT_CHROMA_TOKEN."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    try:
        host, port = parsed.hostname, parsed.port or 8000
    except ValueError:
        host, port = None, 8000
    if parsed.scheme not in ("http", "https"):
        raise StoreError(
            f"Not a Chroma server URL: only http:// and https:// are supported, not "
            f"{parsed.scheme}://"
        )
    if parsed.username or parsed.password:
        raise StoreError(
            f"The Chroma URL for {host or 'the server'} carries a user or password, which is "
            "not used: set CHATBOT_CHROMA_TOKEN instead and give the URL without them"
        )
    if not host:
        raise StoreError("Not a Chroma server URL (expected http://host:port)")
    return host, port, parsed.scheme == "https"


@dataclass
class Pointer:
    version: str
    encoder: str
    dim: int
    chunks: int
    articles: int
    created: str
    chunker: str = ""  # how the chunks were cut (ingest.chunk.chunker_signature)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pointer:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Manifest:
    """Which article files the version holds: source path -> entry."""

    articles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def chunk_ids(self) -> list[str]:
        return [cid for entry in self.articles.values() for cid in entry["chunk_ids"]]

    def to_json(self) -> str:
        return json.dumps({"articles": self.articles}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(articles=json.loads(text)["articles"])


class Backend(Protocol):
    description: str

    def read_pointer(self) -> Pointer | None: ...
    def write_pointer(self, pointer: Pointer) -> None: ...
    def pointer_token(self) -> object: ...
    def list_versions(self) -> list[str]: ...
    def is_complete(self, version: str) -> bool: ...
    def create_version(self, version: str, base: str | None) -> Any: ...
    def open_version(self, version: str) -> Any: ...
    def finish_version(self, version: str, manifest: Manifest) -> None: ...
    def read_manifest(self, version: str) -> Manifest: ...
    def delete_version(self, version: str) -> None: ...
    def lock_path(self) -> Path: ...
    def reader_dir(self, version: str) -> Path | None: ...


def _new_collection(client: Any, name: str) -> Any:
    return client.create_collection(
        name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def lock_path(self) -> Path:
        return self.root / "ingest.lock"

    def reader_dir(self, version: str) -> Path | None:
        return self.versions_dir / version / READER_DIR

    def pointer_token(self) -> object:
        try:
            stat = (self.root / POINTER).stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def read_pointer(self) -> Pointer | None:
        path = self.root / POINTER
        if not path.exists():
            if self.versions_dir.exists() and any(self.versions_dir.iterdir()):
                raise IndexCorrupt(
                    f"The index at {self.root} has versions but no {POINTER}. "
                    f"Rebuild it: python -m ingest --rebuild --store {self.root}"
                )
            return None
        try:
            pointer = Pointer.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(
                f"The index pointer {path} is unreadable ({exc}). "
                f"Rebuild it: python -m ingest --rebuild --store {self.root}"
            ) from exc
        if not self.is_complete(pointer.version):
            raise IndexCorrupt(
                f"The index at {self.root} points to version {pointer.version}, which is "
                f"missing or incomplete. Rebuild it: python -m ingest --rebuild --store {self.root}"
            )
        database = self.versions_dir / pointer.version / "chroma.sqlite3"
        try:
            with database.open("rb") as handle:
                header = handle.read(16)
        except OSError:
            header = b""
        if header != b"SQLite format 3\x00":  # cheap check: status must see it too
            raise IndexCorrupt(
                f"The database of index version {pointer.version} ({database}) is missing or "
                f"damaged. Rebuild it: python -m ingest --rebuild --store {self.root}"
            )
        return pointer

    def write_pointer(self, pointer: Pointer) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".pointer-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(pointer.__dict__, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / POINTER)

    def list_versions(self) -> list[str]:
        if not self.versions_dir.exists():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir() if p.is_dir())

    def is_complete(self, version: str) -> bool:
        return (self.versions_dir / version / COMPLETE).exists()

    def _client(self, version: str) -> Any:
        import chromadb

        with self._lock:
            if version not in self._clients:
                path = self.versions_dir / version
                self._clients[version] = chromadb.PersistentClient(
                    path=str(path), settings=chroma_settings()
                )
            return self._clients[version]

    def create_version(self, version: str, base: str | None) -> Any:
        target = self.versions_dir / version
        if target.exists():
            shutil.rmtree(target)
        if base is None:
            target.mkdir(parents=True)
            return _new_collection(self._client(version), CHUNKS)
        # Immutable base: a file copy of its Chroma directory is consistent.
        shutil.copytree(
            self.versions_dir / base,
            target,
            ignore=shutil.ignore_patterns(COMPLETE, MANIFEST, READER_DIR, f".{READER_DIR}-*"),
        )
        return self._client(version).get_collection(CHUNKS)

    def open_version(self, version: str) -> Any:
        try:
            collection = self._client(version).get_collection(CHUNKS)
        except Exception as exc:  # chromadb raises several types for a damaged directory
            raise IndexCorrupt(
                f"Cannot open index version {version} in {self.root}: {exc}. "
                f"Rebuild it: python -m ingest --rebuild --store {self.root}"
            ) from exc
        return _Guarded(lambda fn, *a, **kw: self._read(version, fn, *a, **kw), collection)

    def _read(self, version: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # A version damaged under a running reader (files deleted or overwritten) fails
        # here, after it was opened; say so with the way out, not as an internal error.
        from chromadb.errors import InternalError, NotFoundError

        try:
            return fn(*args, **kwargs)
        except (InternalError, NotFoundError) as exc:
            raise IndexCorrupt(
                f"Cannot read index version {version} in {self.root}: {exc}. If this "
                f"persists, rebuild it: python -m ingest --rebuild --store {self.root}"
            ) from exc

    def finish_version(self, version: str, manifest: Manifest) -> None:
        folder = self.versions_dir / version
        (folder / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        (folder / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S"), encoding="utf-8")

    def read_manifest(self, version: str) -> Manifest:
        path = self.versions_dir / version / MANIFEST
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(
                f"The manifest of index version {version} is unreadable ({exc}). "
                f"Rebuild it: python -m ingest --rebuild --store {self.root}"
            ) from exc

    def release(self, version: str) -> None:
        # Chroma's clear_system_cache() would drop every client of the process, so
        # only forget ours: a reader switching versions must not break another's query.
        with self._lock:
            self._clients.pop(version, None)

    def delete_version(self, version: str) -> None:
        self.release(version)
        shutil.rmtree(self.versions_dir / version, ignore_errors=True)


class ServerBackend:
    """The same versioning on a Chroma server: a collection per version."""

    def __init__(self, url: str, lock_dir: Path, token: str | None = None) -> None:
        import chromadb

        host, port, ssl = server_address(url)
        address = f"{'https' if ssl else 'http'}://{host}:{port}"
        self.description = f"Chroma server {address}"
        self._lock_dir = lock_dir
        try:
            self.client = chromadb.HttpClient(
                host=host, port=port, ssl=ssl, settings=chroma_settings(token)
            )
        except Exception as exc:
            raise StoreUnavailable(
                f"The Chroma server at {address} is not reachable ({exc}). Start it with: "
                "chroma run --path DIR --host 127.0.0.1 --port PORT"
            ) from exc

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                raise StoreUnavailable(f"The {self.description} is not reachable: {exc}") from exc
            raise

    def _meta(self) -> Any:
        return self._call(self.client.get_or_create_collection, META, embedding_function=None)

    def lock_path(self) -> Path:
        return self._lock_dir / "server-ingest.lock"

    def reader_dir(self, version: str) -> Path | None:
        return None  # readers may be on other hosts: they read the collection itself

    def pointer_token(self) -> object:
        pointer = self.read_pointer()
        return None if pointer is None else pointer.version

    def _get_doc(self, doc_id: str) -> str | None:
        got = self._call(self._meta().get, ids=[doc_id], include=["documents"])
        docs = got.get("documents") or []
        return docs[0] if docs else None

    def _put_doc(self, doc_id: str, text: str) -> None:
        self._call(self._meta().upsert, ids=[doc_id], documents=[text], embeddings=[[1.0]])

    def read_pointer(self) -> Pointer | None:
        text = self._get_doc("pointer")
        if text is None:
            return None
        try:
            return Pointer.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(
                f"The index pointer on the {self.description} is unreadable. "
                "Rebuild it: python -m ingest --rebuild --chroma-url URL"
            ) from exc

    def write_pointer(self, pointer: Pointer) -> None:
        self._put_doc("pointer", json.dumps(pointer.__dict__))

    def list_versions(self) -> list[str]:
        names = [
            c if isinstance(c, str) else c.name for c in self._call(self.client.list_collections)
        ]
        return sorted(n[len(CHUNKS) + 1 :] for n in names if n.startswith(CHUNKS + "_"))

    def is_complete(self, version: str) -> bool:
        return self._get_doc(f"complete:{version}") is not None

    def create_version(self, version: str, base: str | None) -> Any:
        name = f"{CHUNKS}_{version}"
        try:
            self._call(self.client.delete_collection, name)
        except StoreUnavailable:
            raise
        except Exception:
            pass
        collection = self._call(_new_collection, self.client, name)
        if base is not None:
            source = self.open_version(base)
            batch = 1000
            offset = 0
            while True:
                got = self._call(
                    source.get,
                    include=["embeddings", "documents", "metadatas"],
                    limit=batch,
                    offset=offset,
                )
                if not got["ids"]:
                    break
                self._call(
                    collection.add,
                    ids=got["ids"],
                    embeddings=got["embeddings"],
                    documents=got["documents"],
                    metadatas=got["metadatas"],
                )
                offset += len(got["ids"])
        return _Guarded(self._call, collection)

    def open_version(self, version: str) -> Any:
        try:
            collection = self._call(self.client.get_collection, f"{CHUNKS}_{version}")
            return _Guarded(self._call, collection)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise IndexCorrupt(
                f"Index version {version} is missing on the {self.description}. "
                "Rebuild it: python -m ingest --rebuild --chroma-url URL"
            ) from exc

    def finish_version(self, version: str, manifest: Manifest) -> None:
        self._put_doc(f"manifest:{version}", manifest.to_json())
        self._put_doc(f"complete:{version}", time.strftime("%Y-%m-%dT%H:%M:%S"))

    def read_manifest(self, version: str) -> Manifest:
        text = self._get_doc(f"manifest:{version}")
        if text is None:
            raise IndexCorrupt(
                f"The manifest of index version {version} is missing on the {self.description}. "
                "Rebuild it: python -m ingest --rebuild --chroma-url URL"
            )
        return Manifest.from_json(text)

    def delete_version(self, version: str) -> None:
        try:
            self._call(self.client.delete_collection, f"{CHUNKS}_{version}")
        except StoreUnavailable:
            raise
        except Exception:
            log.debug("collection for %s already gone", version)
        self._call(self._meta().delete, ids=[f"manifest:{version}", f"complete:{version}"])


class _Guarded:
    """A collection whose method calls go through ``call``, which turns a gone server
    (StoreUnavailable) or a damaged version (IndexCorrupt) into a StoreError. Readers
    keep the collection in their snapshot for as long as the version is served."""

    def __init__(self, call: Any, collection: Any) -> None:
        self._guard = call
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: self._guard(attr, *args, **kwargs)


def _is_connection_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    markers = ("connect", "connection", "refused", "timed out", "timeout", "unreachable")
    return any(marker in text for marker in markers)


def make_backend(settings: Settings) -> Backend:
    """The backend the settings select: a Chroma server URL, else the local directory."""
    if settings.chroma_url:
        token = settings.chroma_token.get_secret_value() if settings.chroma_token else None
        return ServerBackend(settings.chroma_url, settings.state_dir, token)
    return LocalBackend(settings.index_dir)


def next_version_name(existing: list[str]) -> str:
    """``v000007-3fa2c1``: ordered by number; the suffix makes a name never come back,
    because Chroma caches clients by path and a reused path would hit a stale handle."""
    numbers = [int(m.group(1)) for v in existing if (m := re.match(r"v(\d+)", v))]
    return f"v{(max(numbers) + 1 if numbers else 1):06d}-{uuid.uuid4().hex[:6]}"


@dataclass
class Snapshot:
    """One immutable index version as a reader sees it."""

    pointer: Pointer
    collection: Any
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    files: Path | None = None  # the version's reader files, when the table came from them
    cache: dict[str, Any] = field(default_factory=dict)  # per-version derived data (BM25...)

    @property
    def version(self) -> str:
        return self.pointer.version

    @cached_property
    def position(self) -> dict[str, int]:
        """Chunk id -> index into ``ids``/``texts``/``metadatas``."""
        return {cid: i for i, cid in enumerate(self.ids)}


class IndexReader:
    """Serves the version the pointer names; re-checks the pointer on every call."""

    def __init__(self, backend: Backend, encoder_identity: str) -> None:
        self.backend = backend
        self.encoder_identity = encoder_identity
        self._snapshot: Snapshot | None = None
        self._token: object = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        token = self.backend.pointer_token()
        current = self._snapshot
        if current is not None and token == self._token:
            return current
        with self._lock:
            if self._snapshot is not None and token == self._token:
                return self._snapshot
            pointer = self.backend.read_pointer()
            if pointer is None:
                raise IndexMissing(
                    f"No index found at {self.backend.description}. Build it first: "
                    "python -m ingest (add --store DIR or --chroma-url URL as needed)"
                )
            if pointer.encoder != self.encoder_identity:
                raise EncoderMismatch(
                    f"The index was built with the encoder {pointer.encoder!r} but this "
                    f"process uses {self.encoder_identity!r}. Set CHATBOT_ENCODER (and "
                    "CHATBOT_ONNX_QUANTIZATION) to match, or rebuild the index: "
                    "python -m ingest --rebuild"
                )
            if self._snapshot is not None and self._snapshot.version == pointer.version:
                self._token = token
                return self._snapshot
            started = time.perf_counter()
            snap = self._load(pointer)
            previous = self._snapshot
            self._snapshot, self._token = snap, token
            log.info(
                "serving index %s (%d chunks) loaded in %.0f ms",
                pointer.version,
                len(snap.ids),
                (time.perf_counter() - started) * 1000,
            )
            if previous is not None and isinstance(self.backend, LocalBackend):
                self.backend.release(previous.version)
            return snap

    def _load(self, pointer: Pointer) -> Snapshot:
        collection = self.backend.open_version(pointer.version)
        folder = self.backend.reader_dir(pointer.version)
        table = load_table(folder, pointer.chunks) if folder is not None else None
        if table is None:
            try:
                table = read_chunks(collection)
            except StoreError:
                raise
            except Exception as exc:  # a damaged database can open and fail on the first read
                raise IndexCorrupt(
                    f"Cannot read index version {pointer.version} at "
                    f"{self.backend.description}: {exc}. Rebuild it: python -m ingest --rebuild"
                ) from exc
            folder = None
        ids, texts, metadatas = table
        return Snapshot(
            pointer=pointer,
            collection=collection,
            ids=ids,
            texts=texts,
            metadatas=metadatas,
            files=folder,
        )


Table = tuple[list[str], list[str], list[dict[str, Any]]]  # ids, texts, metadatas


def read_chunks(collection: Any, page: int = 5000) -> Table:
    """Every chunk's id, text and metadata, read in pages: one ``get()`` of a large
    collection exceeds SQLite's limit on query variables inside Chroma."""
    ids: list[str] = []
    texts: list[str] = []
    metadatas: list[dict[str, Any]] = []
    while True:
        got = collection.get(include=["documents", "metadatas"], limit=page, offset=len(ids))
        ids.extend(got["ids"])
        texts.extend(got["documents"] or [])
        metadatas.extend(dict(m or {}) for m in (got["metadatas"] or []))
        if len(got["ids"]) < page:
            return ids, texts, metadatas


def save_table(folder: Path, table: Table) -> None:
    ids, texts, metadatas = table
    data = {"ids": ids, "texts": texts, "metadatas": metadatas}
    (folder / TABLE).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def load_table(folder: Path, expected: int) -> Table | None:
    """The chunk table ingest saved for a version, or None (then read Chroma instead)
    when it is missing, unreadable or does not hold the version's ``expected`` chunks."""
    path = folder / TABLE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        table: Table = (list(data["ids"]), list(data["texts"]), list(data["metadatas"]))
    except FileNotFoundError:
        return None
    except Exception as exc:  # whatever a damaged file raises, the index itself is there
        log.warning("ignoring unreadable chunk table %s (%s); reading the index instead", path, exc)
        return None
    if not len(table[0]) == len(table[1]) == len(table[2]) == expected:
        log.warning(
            "ignoring chunk table %s: %d chunks, the index has %d; reading the index instead",
            path,
            len(table[0]),
            expected,
        )
        return None
    return table
