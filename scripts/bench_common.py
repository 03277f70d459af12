"""Helpers shared by the benchmark scripts (not part of the product)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = (REPO / ".." / "shared" / "corpus" / "medquad").resolve()


def sample_names(every: int = 6) -> list[str]:
    """The fixed benchmark sample: every 6th article file name in sorted order (1,028)."""
    names = sorted(os.listdir(CORPUS / "articles"))
    return names[::every]


def link_articles(target: Path, names: list[str] | None) -> Path:
    """A data dir whose articles/ holds the chosen corpus files: hard links where the
    file system allows, else copies (ingest refuses symlinks that leave the folder)."""
    articles = target / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    source = CORPUS / "articles"
    for name in names if names is not None else sorted(os.listdir(source)):
        link = articles / name
        if link.is_symlink():
            link.unlink()  # an older layout of this script
        if not link.exists():
            try:
                os.link(source / name, link)
            except OSError:
                shutil.copy2(source / name, link)
    return target


def tutorial_documents(names: list[str]) -> list[Any]:
    """The LangChain RAG tutorial's chunks of the raw article text
    (RecursiveCharacterTextSplitter 1000/200), each credited with every section it
    overlaps (generous to the baseline) in ``metadata["sections"]``."""
    import frontmatter
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=1000, chunk_overlap=200, add_start_index=True
    )
    docs = []
    for name in names:
        post = frontmatter.load(CORPUS / "articles" / name)
        text = post.content
        headings = [(m.start(), m.group(1).strip()) for m in re.finditer(r"^## (.+)$", text, re.M)]
        for doc in splitter.split_documents([Document(page_content=text)]):
            start = doc.metadata["start_index"]
            end = start + len(doc.page_content)
            covered = [
                h
                for i, (pos, h) in enumerate(headings)
                if pos < end and (i + 1 == len(headings) or headings[i + 1][0] > start)
            ]
            doc.metadata = {"article": str(post["id"]), "sections": "\x1f".join(covered)}
            docs.append(doc)
    return docs


def machine() -> dict[str, object]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip(),
    }


def write(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
