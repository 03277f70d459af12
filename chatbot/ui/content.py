"""The content page (password): see the indexed articles, add or remove article files,
and re-ingest with the same :func:`ingest.sync.sync` that ``python -m ingest`` runs.

The file helpers (:func:`check_name`, :func:`save_upload`, :func:`remove_article`) do
not touch Streamlit, so they are tested directly.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from chatbot.config import Settings
from chatbot.store import Manifest, Pointer, StoreError
from chatbot.ui import auth, render, services
from ingest.load import SIDECAR_SUFFIX, SUPPORTED_SUFFIXES, discover, sidecar_path
from ingest.sync import IngestBusy, SyncReport, relative_source, sync

log = logging.getLogger(__name__)

TITLE = "Content"
MAX_NAME_CHARS = 150
_NAME = re.compile(r"^\w[\w .()\-]*$")
UPLOAD_TYPES = sorted({s.lstrip(".") for s in SUPPORTED_SUFFIXES} | {"yaml"})


class UploadRefused(ValueError):
    """A file name or content the articles directory must not take; says why."""


@dataclass
class UploadResult:
    name: str
    ok: bool
    message: str
    replaced: bool = False
    path: Path | None = None


def is_sidecar_name(name: str) -> bool:
    return name.lower().endswith(SIDECAR_SUFFIX) and len(name) > len(SIDECAR_SUFFIX)


def check_name(name: str) -> str:
    """The upload's file name if it is a safe, supported base name; else UploadRefused."""
    name = unicodedata.normalize("NFC", name or "")
    if not name.strip():
        raise UploadRefused("the file has no name")
    if any(sep in name for sep in ("/", "\\", "\0")) or name in (".", ".."):
        raise UploadRefused("file names must not contain folders or '..'")
    if name.startswith("."):
        raise UploadRefused("hidden file names (starting with '.') are not accepted")
    if len(name) > MAX_NAME_CHARS:
        raise UploadRefused(f"the file name is longer than {MAX_NAME_CHARS} characters")
    if not _NAME.match(name) or name != name.strip():
        raise UploadRefused(
            "use only letters, digits, spaces, '-', '_', '.', '(' and ')' in file names"
        )
    if is_sidecar_name(name):
        return name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES)) + f", {SIDECAR_SUFFIX}"
        raise UploadRefused(f"unsupported file type {suffix or '(none)'}; accepted: {allowed}")
    return name


def _check_sidecar(data: bytes) -> None:
    try:
        meta = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = exc.__class__.__name__
        raise UploadRefused(f"the metadata file is not valid YAML ({reason})") from exc
    if meta is not None and not isinstance(meta, dict):
        raise UploadRefused("the metadata file must be a YAML mapping (title: ..., publisher: ...)")


def save_upload(
    articles_dir: Path,
    name: str,
    data: bytes,
    *,
    replace: bool = False,
    max_bytes: int = 5_000_000,
) -> UploadResult:
    """Write one uploaded file into the articles directory (atomically).

    Refuses unsafe names, unsupported types, empty or too-large files, invalid
    sidecars, and existing files unless ``replace`` (then it says it replaced one).
    """
    try:
        clean = check_name(name)
        if not data:
            raise UploadRefused("the file is empty")
        if len(data) > max_bytes:
            raise UploadRefused(f"the file is larger than {max_bytes:,} bytes")
        if is_sidecar_name(clean):
            _check_sidecar(data)
        articles_dir.mkdir(parents=True, exist_ok=True)
        root = articles_dir.resolve()
        target = articles_dir / clean
        if target.resolve().parent != root:
            raise UploadRefused("the file would land outside the articles folder")
        exists = target.exists() or target.is_symlink()
        if exists and (target.is_symlink() or not target.is_file()):
            raise UploadRefused("a folder or link with that name already exists")
        if exists and not replace:
            raise UploadRefused(
                "a file with that name already exists; tick 'Replace existing files' to replace it"
            )
    except UploadRefused as exc:
        return UploadResult(name=name, ok=False, message=f"{name}: refused: {exc}")
    fd, tmp = tempfile.mkstemp(dir=articles_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        return UploadResult(name=name, ok=False, message=f"{name}: could not be saved: {exc}")
    verb = "replaced the existing file" if exists else "saved"
    return UploadResult(
        name=clean, ok=True, message=f"{clean}: {verb}", replaced=exists, path=target
    )


def remove_article(articles_dir: Path, source: str) -> list[Path]:
    """Delete an article file and its sidecar from the articles directory.

    ``source`` is the path relative to the articles directory, as in the manifest.
    Returns what was deleted; refuses paths outside the directory.
    """
    if not source or Path(source).is_absolute() or "\0" in source:
        raise ValueError(f"not an article path: {source!r}")
    root = articles_dir.resolve()
    path = articles_dir / source
    if not path.resolve().is_relative_to(root) or path.resolve() == root:
        raise ValueError(f"{source!r} is outside the articles folder")
    removed = []
    for item in (path, sidecar_path(path)):
        if item.is_file() or item.is_symlink():
            item.unlink()
            removed.append(item)
    return removed


def articles_frame(manifest: Manifest) -> pd.DataFrame:
    columns = [
        "file",
        "title",
        "publisher",
        "last updated",
        "review status",
        "chunks",
        "last ingested",
        "url",
    ]
    rows = [
        {
            "file": source,
            "title": entry.get("title", ""),
            "publisher": entry.get("publisher", ""),
            "last updated": entry.get("last_updated", ""),
            "review status": entry.get("review_status", ""),
            "chunks": len(entry.get("chunk_ids", [])),
            "last ingested": entry.get("ingested_at", ""),
            "url": entry.get("url", ""),
        }
        for source, entry in sorted(manifest.articles.items())
    ]
    return pd.DataFrame(rows, columns=columns)


def pending(articles_dir: Path, manifest: Manifest) -> tuple[list[str], list[str]]:
    """(files not in the index yet, indexed articles whose file is gone)."""
    files, _ = discover([articles_dir]) if articles_dir.exists() else ([], [])
    on_disk = {relative_source(p, articles_dir) for p in files}
    return sorted(on_disk - set(manifest.articles)), sorted(set(manifest.articles) - on_disk)


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------


def _log(level: str, text: str) -> None:
    st.session_state.setdefault("content_log", []).append((level, text))


def _show_log() -> None:
    for level, text in st.session_state.get("content_log", []):
        getattr(st, level)(render.md(text))
    report = st.session_state.get("content_report")
    if report:
        with st.expander("Last ingest report", expanded=True):
            st.code(report, language=None)


def run_sync(settings: Settings) -> SyncReport | None:
    """Re-ingest with a progress bar; the outcome goes to the page's log."""
    bar = st.progress(0.0, text="Reading the article files…")

    def progress(done: int, total: int, what: str) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"{what.capitalize()}: {done} of {total}")

    try:
        report = sync(settings, encoder=services.encoder(settings), progress=progress)
    except IngestBusy as exc:
        _log("warning", f"Another ingest is running, so nothing was changed: {exc}")
        return None
    except StoreError as exc:
        _log("error", f"The ingest failed: {exc}")
        return None
    except Exception as exc:
        log.exception("ingest failed")
        _log("error", f"The ingest failed: {type(exc).__name__}: {exc}")
        return None
    finally:
        bar.empty()
    st.session_state["content_report"] = report.render()
    summary = (
        f"Ingest done: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {len(report.failed)} failed; "
        f"{report.chunks} chunks in version {report.version or 'none'}."
    )
    _log("success" if report.ok else "warning", summary)
    for path, reason in report.failed:
        _log("error", f"{path}: {reason}")
    return report


def _status(pointer: Pointer | None, manifest: Manifest) -> None:
    if pointer is None:
        st.info(
            "There is no index yet. Add article files below and press Re-ingest "
            "(or run python -m ingest)."
        )
        return
    cols = st.columns(2)
    cols[0].metric("Articles", pointer.articles)
    cols[1].metric("Chunks", pointer.chunks)
    st.caption(
        f"Serving index version {pointer.version}, built {pointer.created} with {pointer.encoder}."
    )


def _upload(settings: Settings) -> None:
    st.subheader("Add articles")
    st.caption(
        "Accepted: " + ", ".join(sorted(SUPPORTED_SUFFIXES)) + f", and {SIDECAR_SUFFIX} "
        "metadata files (title, publisher, url, last_updated, review_status) named after "
        "their article (e.g. heat-cramps.md + heat-cramps.meta.yaml)."
    )
    counter = st.session_state.setdefault("upload_counter", 0)
    files = st.file_uploader(
        "Article files",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"upload_{counter}",
        max_upload_size=max(1, math.ceil(settings.max_file_bytes / 1_000_000)),
    )
    replace = st.checkbox("Replace existing files", key="upload_replace")
    ingest_after = st.checkbox("Re-ingest after saving", value=True, key="upload_ingest")
    if st.button("Save files", key="upload_save", type="primary", disabled=not files):
        st.session_state["content_log"] = []
        st.session_state.pop("content_report", None)
        saved = 0
        for item in files or []:
            result = save_upload(
                settings.articles_dir,
                item.name,
                item.getvalue(),
                replace=replace,
                max_bytes=settings.max_file_bytes,
            )
            _log("success" if result.ok else "error", result.message)
            saved += result.ok
        st.session_state["upload_counter"] = counter + 1  # clears the uploader
        if saved and ingest_after:
            run_sync(settings)
        st.rerun()


def _remove(settings: Settings, manifest: Manifest) -> None:
    st.subheader("Remove an article")
    on_disk, _ = discover([settings.articles_dir]) if settings.articles_dir.exists() else ([], [])
    sources = sorted(
        set(manifest.articles) | {relative_source(p, settings.articles_dir) for p in on_disk}
    )
    if not sources:
        st.caption("No articles.")
        return

    def describe(source: str) -> str:
        title = manifest.articles.get(source, {}).get("title")
        return f"{source} — {title}" if title else source

    source = st.selectbox("Article", sources, format_func=describe, key="remove_source")
    sure = st.checkbox(
        "Yes, delete this file (and its metadata file) from the articles folder",
        key="remove_confirm",
    )
    if st.button("Remove and re-ingest", key="remove_run", disabled=not sure):
        st.session_state["content_log"] = []
        st.session_state.pop("content_report", None)
        try:
            removed = remove_article(settings.articles_dir, source)
        except (ValueError, OSError) as exc:
            _log("error", f"Could not remove {source}: {exc}")
        else:
            names = ", ".join(p.name for p in removed) or "no file (it was already gone)"
            _log("success", f"Removed {names}.")
            run_sync(settings)
        st.session_state.pop("remove_confirm", None)
        st.rerun()


def page(settings: Settings) -> None:
    if not auth.gate(settings, "content", "Content"):
        return
    st.title(TITLE)
    _show_log()
    try:
        pointer, manifest = services.index_state(settings)
    except StoreError as exc:
        st.error("The index cannot be read: " + render.md(str(exc)))
        pointer, manifest = None, Manifest()
    _status(pointer, manifest)
    st.subheader("Indexed articles")
    if manifest.articles:
        st.dataframe(
            articles_frame(manifest),
            hide_index=True,
            column_config={"url": st.column_config.LinkColumn("url")},
        )
    new, missing = pending(settings.articles_dir, manifest)
    if new or missing:
        lines = [f"new file, not indexed yet: {n}" for n in new]
        lines += [f"file removed, still indexed: {m}" for m in missing]
        st.warning("The index is not up to date with the articles folder. Press Re-ingest.")
        st.text("\n".join(lines))
    if st.button("Re-ingest now", key="reingest", type="primary"):
        st.session_state["content_log"] = []
        st.session_state.pop("content_report", None)
        run_sync(settings)
        st.rerun()
    st.divider()
    _upload(settings)
    st.divider()
    _remove(settings, manifest)
