"""Plain data passed between the ingest stages: load -> clean -> chunk -> sync."""

from __future__ import annotations

from dataclasses import dataclass, field


class LoadError(Exception):
    """A source file that cannot be turned into an article; the message is shown to people."""


@dataclass
class Section:
    heading: str
    text: str  # plain text; bullet items start with "- " on their own line


@dataclass
class Article:
    article_id: str  # stable: front matter ``id`` or the file stem
    source_path: str  # relative to the articles directory, POSIX separators
    title: str
    publisher: str = ""
    url: str = ""
    last_updated: str = ""
    review_status: str = ""
    sections: list[Section] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    content_hash: str = ""  # sha256 of the raw file bytes plus its sidecar, if any


@dataclass
class Chunk:
    chunk_id: str
    article_id: str
    source_path: str
    title: str
    section: str
    publisher: str
    url: str
    last_updated: str
    position: int
    text: str  # what is embedded: title and heading first, then the body
    body: str  # the body alone, for display and answer composition
    content_hash: str

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata as stored beside the vector (Chroma accepts only scalars)."""
        return {
            "article_id": self.article_id,
            "source_path": self.source_path,
            "title": self.title,
            "section": self.section,
            "publisher": self.publisher,
            "url": self.url,
            "last_updated": self.last_updated,
            "position": self.position,
            "content_hash": self.content_hash,
            "body": self.body,
        }
