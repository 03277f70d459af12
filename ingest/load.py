"""Find article files and load each one into an :class:`~ingest.models.Article`.

Supported: plain text, Markdown (YAML front matter, ``#`` headings), HTML (main content
only) and PDF (text layer). Citation metadata comes from, in order of precedence, a
sidecar ``STEM.meta.yaml`` beside the file, the Markdown front matter, and what the
document itself says (HTML ``<title>``/``<meta>``, PDF metadata, a "Last updated" line).
Cleaning rules live in :mod:`ingest.clean`.

Every problem with a file is a :class:`~ingest.models.LoadError` whose message is one
line meant for people (the caller prints it next to the file name).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml
from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, Tag
from bs4.element import ProcessingInstruction

from ingest import clean
from ingest.clean import Block
from ingest.models import Article, LoadError

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}
)
SIDECAR_SUFFIX = ".meta.yaml"

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})

METADATA_KEYS = ("id", "title", "publisher", "url", "last_updated", "review_status")
METADATA_ALIASES: Mapping[str, str] = {
    "source": "publisher",  # MedQuAD front matter
    "updated": "last_updated",
    "last_reviewed": "last_updated",
    "date_modified": "last_updated",
}

# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _is_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(SIDECAR_SUFFIX)


def is_article_file(path: Path) -> bool:
    """A supported suffix, not a sidecar, not hidden."""
    return (
        path.suffix.lower() in SUPPORTED_SUFFIXES and not _is_sidecar(path) and not _is_hidden(path)
    )


def sidecar_path(path: Path) -> Path:
    """``foo.txt`` -> ``foo.meta.yaml`` beside it."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def content_hash(raw: bytes, sidecar_raw: bytes | None) -> str:
    """sha256 of a source file's bytes plus its sidecar's, so metadata edits count."""
    return hashlib.sha256(raw + (sidecar_raw or b"")).hexdigest()


def source_hash(path: Path, max_bytes: int) -> str:
    """:func:`content_hash` of a file on disk, without loading the article. The size is
    checked (``stat``) before anything is read: a file over the limit is a
    :class:`LoadError`, never read whole."""
    sidecar = sidecar_path(path)
    return content_hash(
        _read_limited(path, max_bytes),
        _read_limited(sidecar, max_bytes) if sidecar.exists() else None,
    )


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Article files under ``paths`` (files or directories, recursive), sorted.

    Returns ``(articles, unsupported)``: ``unsupported`` are regular, non-hidden files
    that are not sidecars and have a suffix we cannot read (``notes.docx``); callers
    report them as failed rather than skipping them silently. Hidden files and anything
    inside a hidden directory are ignored, as are sidecars. A path that does not exist
    raises :class:`FileNotFoundError`.
    """
    articles: set[Path] = set()
    unsupported: set[Path] = set()

    def consider(file: Path) -> None:
        if _is_hidden(file) or _is_sidecar(file):
            return
        if file.suffix.lower() in SUPPORTED_SUFFIXES:
            articles.add(file)
        else:
            unsupported.add(file)

    for given in paths:
        given = Path(given)
        if given.is_dir():
            for file in given.rglob("*"):
                rel = file.relative_to(given)
                if any(part.startswith(".") for part in rel.parts) or not file.is_file():
                    continue
                consider(file)
        elif given.is_file():
            consider(given)
        else:
            raise FileNotFoundError(f"no such file or directory: {given}")
    return sorted(articles), sorted(unsupported)


# --------------------------------------------------------------------------------------
# Reading and decoding
# --------------------------------------------------------------------------------------


def _size_text(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} bytes"


def _read_limited(path: Path, max_bytes: int) -> bytes:
    """Read ``path`` after checking its size against ``max_bytes``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            have, limit = _size_text(size), _size_text(max_bytes)
            if have == limit:  # too close to tell apart when rounded
                have, limit = f"{size:,} bytes", f"{max_bytes:,} bytes"
            raise LoadError(f"{path.name} is too large ({have}; the limit is {limit})")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise LoadError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # grew while we were looking
        raise LoadError(f"{path.name} is too large (the limit is {_size_text(max_bytes)})")
    return data


_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # control characters, not whitespace


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    return len(_CONTROL_RE.findall(text)) / len(text)


def decode_text(raw: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM, or clearly-text cp1252.

    Raises LoadError for binary data (NUL or control bytes) and undecodable bytes.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError("not valid UTF-16 text despite its byte-order mark") from exc
    elif b"\x00" in raw:
        raise LoadError("binary file, not text (it contains NUL bytes)")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start]
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                text = ""
            non_ascii = sum(1 for ch in text if ord(ch) > 127)
            if not text or _control_ratio(text) > 0 or non_ascii > 0.05 * len(text):
                raise LoadError(
                    f"not UTF-8 text (invalid byte 0x{bad:02x} at offset {exc.start}); "
                    "save the file as UTF-8"
                ) from exc
            logger.warning("file is not UTF-8; read it as Windows-1252 (cp1252)")
    if _control_ratio(text) > 0.01:
        raise LoadError("binary file, not text (it contains control bytes)")
    return text


# --------------------------------------------------------------------------------------
# Metadata: sidecar and front matter
# --------------------------------------------------------------------------------------


def _yaml_problem(exc: yaml.YAMLError, line_offset: int = 0) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    if mark is not None:
        text += f" (line {mark.line + 1 + line_offset}, column {mark.column + 1})"
    return clean.collapse_spaces(text)


def _metadata(mapping: object, where: str) -> dict[str, str]:
    """Known metadata keys from a YAML mapping, as strings; unknown keys are ignored."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise LoadError(f"{where} must be a YAML mapping of keys to values")
    values: dict[str, object] = {}
    aliased: dict[str, object] = {}
    for raw_key, value in mapping.items():
        key = str(raw_key).strip().lower()
        if key in METADATA_KEYS:
            values[key] = value
        elif key in METADATA_ALIASES:
            aliased.setdefault(METADATA_ALIASES[key], value)
    for key, value in aliased.items():
        if values.get(key) in (None, ""):
            values[key] = value  # the real key wins over its alias
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict | list | tuple | set):
            raise LoadError(f"{where}: {key} must be a single value, not a list or mapping")
        text = clean.normalize_date(value) if key == "last_updated" else str(value).strip()
        out[key] = clean.collapse_spaces(text)
    return out


def read_sidecar(path: Path, raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path.name} is not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LoadError(f"{path.name} is not valid YAML: {_yaml_problem(exc)}") from exc
    return _metadata(data, path.name)


def split_front_matter(text: str, name: str) -> tuple[dict[str, str], str]:
    """``(metadata, body)`` of a Markdown text; no front matter gives ``({}, text)``."""
    handler = frontmatter.YAMLHandler()
    if not handler.detect(text):
        return {}, text
    try:
        fm, body = handler.split(text)
    except ValueError:
        return {}, text
    try:
        data = handler.load(fm)
    except yaml.YAMLError as exc:
        raise LoadError(f"front matter of {name} is not valid YAML: {_yaml_problem(exc)}") from exc
    return _metadata(data, f"front matter of {name}"), body


# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    blocks: list[Block]
    references: list[str]
    plain: bool  # heading levels unknown (plain text, PDF)
    doc_meta: dict[str, str] = field(default_factory=dict)  # what the document says
    front_matter: dict[str, str] = field(default_factory=dict)
    header_lines: list[str] = field(default_factory=list)


def _parse_plain(text: str) -> _Parsed:
    lines = clean.normalize_text(text).split("\n")
    stripped = clean.strip_chrome_lines(lines)
    body, refs = clean.extract_references(stripped.lines, chrome_rows=stripped.chrome_rows)
    blocks, updated = clean.clean_blocks(clean.parse_plain_lines(body, detect_headings=True))
    meta = {"last_updated": stripped.last_updated or updated}
    return _Parsed(blocks, refs, True, meta, header_lines=stripped.header_lines)


# --- Markdown -------------------------------------------------------------------------

MD_HEADING_RE = re.compile(r"^\s{0,3}(?P<hashes>#{1,6})\s+(?P<text>.*?)(?:\s+#+)?\s*$")
_MD_BOLD_LINE_RE = re.compile(r"^\s*(\*\*|__)(?P<text>[^*_]{1,80}?)\1\s*$")
_MD_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_MD_RULE_RE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_MD_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_LINK_DEF_RE = re.compile(r"^\s{0,3}\[(?!\^?\d+\])[^\]]+\]:\s+\S+")
_MD_IMAGE_RE = re.compile(r"!\[[^\]]*\]\((?:[^()]|\([^)]*\))*\)")
_MD_LINK_RE = re.compile(
    r"\[(?P<text>[^\]]+)\]\((?P<url>(?:[^()\s]|\([^)]*\))*)(?:\s+\"[^\"]*\")?\)"
)
_MD_REF_LINK_RE = re.compile(r"\[(?P<text>[^\]]+)\]\[[^\]]*\]")
_MD_AUTOLINK_RE = re.compile(r"<(?P<url>(?:https?|mailto):[^>\s]+)>")
_MD_TAG_RE = re.compile(r"</?[A-Za-z][^>]*>")


def _md_inline(line: str) -> str:
    """Strip inline Markdown formatting but keep link targets for now."""
    line = _MD_IMAGE_RE.sub("", line)
    line = _MD_AUTOLINK_RE.sub(lambda m: m.group("url"), line)
    line = _MD_TAG_RE.sub("", line)
    line = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", line)
    line = re.sub(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![\w*])", r"\1", line)
    line = re.sub(r"(?<![\w_])_(?=[^\s_])([^_]+?)(?<=\S)_(?![\w_])", r"\1", line)
    line = re.sub(r"`([^`]+)`", r"\1", line)
    line = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>])", r"\1", line)
    return line


def _md_links(line: str, *, keep_urls: bool) -> str:
    def link(match: re.Match[str]) -> str:
        text, url = match.group("text"), match.group("url")
        if keep_urls and url and url != text and url.startswith(("http", "www")):
            return f"{text} ({url})"
        return text

    return _MD_REF_LINK_RE.sub(lambda m: m.group("text"), _MD_LINK_RE.sub(link, line))


def _md_prepare(body: str) -> list[str]:
    text = re.sub(r"<!--.*?-->", "", clean.normalize_text(body), flags=re.DOTALL)
    out: list[str] = []
    for line in text.split("\n"):
        if _MD_FENCE_RE.match(line) or _MD_RULE_RE.match(line) or _MD_LINK_DEF_RE.match(line):
            out.append("")
            continue
        if _MD_TABLE_RULE_RE.match(line) and "|" in line:
            out.append("")
            continue
        bold = _MD_BOLD_LINE_RE.match(line)
        if bold and clean.looks_like_heading_text(bold.group("text")):
            out.append(f"###### {bold.group('text').strip()}")
            continue
        line = re.sub(r"^\s{0,3}>\s?", "", line)  # block quotes
        if line.strip().startswith("|") and line.strip().endswith("|"):
            line = " | ".join(c.strip() for c in line.strip().strip("|").split("|"))
        out.append(_md_inline(line))
    return out


def _markdown_blocks(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    segment: list[str] = []
    for line in lines:
        heading = MD_HEADING_RE.match(line)
        if heading:
            blocks.extend(clean.parse_plain_lines(segment, detect_headings=False))
            segment = []
            text = clean.collapse_spaces(heading.group("text"))
            if text:
                blocks.append(Block("heading", text, len(heading.group("hashes"))))
        else:
            segment.append(line)
    blocks.extend(clean.parse_plain_lines(segment, detect_headings=False))
    return blocks


def _parse_markdown(text: str, name: str) -> _Parsed:
    meta, body = split_front_matter(clean.normalize_text(text), name)
    lines = _md_prepare(body)
    stripped = clean.strip_chrome_lines(lines, stop_header_at=MD_HEADING_RE)
    body_lines, refs = clean.extract_references(
        stripped.lines, chrome_rows=stripped.chrome_rows, heading_level=MD_HEADING_RE
    )
    refs = [clean.collapse_spaces(_md_links(r, keep_urls=True)) for r in refs]
    body_lines = [_md_links(line, keep_urls=False) for line in body_lines]
    blocks, updated = clean.clean_blocks(_markdown_blocks(body_lines))
    doc_meta = {"last_updated": stripped.last_updated or updated}
    return _Parsed(blocks, refs, False, doc_meta, meta, stripped.header_lines)


# --- HTML -----------------------------------------------------------------------------

HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK_TAG_NAMES = "p div section article main blockquote figure figcaption dl dt dd address"
BLOCK_TAGS = frozenset(
    f"{_BLOCK_TAG_NAMES} details summary center header hgroup li body html".split()
)
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
_LINE_BREAK = "\ue000"  # stands for <br> while text nodes are being joined


def _is_text(node: object) -> bool:
    return isinstance(node, NavigableString) and not isinstance(node, _SKIP_STRINGS)


def _inline_text(tag: Tag) -> str:
    parts: list[str] = []
    for node in tag.children:
        if _is_text(node):
            parts.append(str(node))
        elif isinstance(node, Tag):
            if node.name == "br":
                parts.append(" ")
            elif node.name in BLOCK_TAGS or node.name in ("ul", "ol", "table", "tr", "td", "th"):
                parts.append(f" {_inline_text(node)} ")
            else:
                parts.append(_inline_text(node))
    return "".join(parts)


class _HtmlBlocks:
    """Walks a cleaned DOM and emits headings, paragraphs and list items."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.buf: list[str] = []

    def flush(self) -> None:
        for line in "".join(self.buf).split(_LINE_BREAK):
            text = clean.collapse_spaces(line)
            if text:
                self.blocks.append(Block("para", text))
        self.buf.clear()

    def walk(self, element: Tag) -> None:
        for node in element.children:
            if _is_text(node):
                self.buf.append(str(node))
                continue
            if not isinstance(node, Tag):
                continue
            name = node.name
            if name in HEADING_TAGS:
                self.flush()
                text = clean.collapse_spaces(_inline_text(node))
                if text:
                    self.blocks.append(Block("heading", text, int(name[1])))
            elif name in ("ul", "ol"):
                self.flush()
                self.list(node, 0)
            elif name == "br":
                self.buf.append(_LINE_BREAK)
            elif name == "table":
                self.flush()
                for row in node.find_all("tr"):
                    cells = [
                        clean.collapse_spaces(_inline_text(cell))
                        for cell in row.find_all(["td", "th"], recursive=False)
                    ]
                    line = " | ".join(c for c in cells if c)
                    if line:
                        self.blocks.append(Block("para", line))
            elif name == "pre":
                self.flush()
                self.buf.append(node.get_text().replace("\n", _LINE_BREAK))
                self.flush()
            elif name in BLOCK_TAGS:
                self.flush()
                self.walk(node)
                self.flush()
            else:
                self.walk(node)
        # text at the end of an inline element stays in the buffer for the caller

    def list(self, element: Tag, level: int) -> None:
        ordered = element.name == "ol"
        try:
            number = int(str(element.get("start") or 1))
        except ValueError:
            number = 1
        for li in element.find_all("li", recursive=False):
            parts: list[str] = []
            nested: list[Tag] = []
            for node in li.children:
                if isinstance(node, Tag) and node.name in ("ul", "ol"):
                    nested.append(node)
                elif isinstance(node, Tag):
                    block = node.name in BLOCK_TAGS
                    text = _inline_text(node)
                    parts.append(f" {text} " if block else text)
                elif _is_text(node):
                    parts.append(str(node))
            text = clean.collapse_spaces("".join(parts))
            marker = f"{number}." if ordered else "-"
            number += 1
            if text:
                self.blocks.append(Block("item", text, min(level, 2), marker))
            for sub in nested:
                self.list(sub, level + 1)


def _html_chrome(element: Tag, root: Tag, protected: set[int]) -> bool:
    """Is ``element`` page chrome? ``protected`` holds the ids of the h1s and their parents."""
    if element is root or id(element) in protected:
        return False
    if element.name in clean.HTML_CHROME_TAGS:
        return True
    if element.name == "header" and element.find(HEADING_TAGS) is None:
        return True
    role = str(element.get("role") or "").lower()
    if role in clean.HTML_CHROME_ROLES:
        return True
    if str(element.get("aria-hidden") or "").lower() == "true" or element.has_attr("hidden"):
        return True
    style = str(element.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    classes: object = element.get("class") or []
    words = [str(c) for c in classes] if isinstance(classes, list) else [str(classes)]
    names = " ".join([*words, str(element.get("id") or "")]).strip()
    return bool(names) and clean.is_chrome_html_name(names)


def _meta_content(soup: BeautifulSoup, *names: str) -> str:
    """The content of the first ``<meta>`` whose property/name/itemprop is in ``names``."""
    found: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        if not isinstance(tag, Tag) or not tag.get("content"):
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = str(tag.get(attr) or "").lower()
            if key:
                found.setdefault(key, clean.collapse_spaces(str(tag.get("content"))))
    return next((found[n.lower()] for n in names if found.get(n.lower())), "")


def _site_title(title: str) -> str:
    parts = re.split(r"\s+[|–—:-]\s+", title)
    return parts[0].strip() if len(parts) > 1 and parts[0].strip() else title.strip()


# Real articles nest a few dozen elements deep; a file nested deeper than this is refused
# before any tree is built (the tree walkers recurse, and bs4's own work grows with depth).
MAX_HTML_DEPTH = 300
# elements that never hold others, or that html.parser closes implicitly
_FLAT_TAGS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "td",
        "th",
        "tr",
        "option",
        "dt",
        "dd",
    ]
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*?(/?)>")


def html_depth(text: str, limit: int = MAX_HTML_DEPTH) -> int:
    """How deep the elements of ``text`` nest (one linear scan; stops past ``limit``)."""
    depth = deepest = 0
    for m in _TAG_RE.finditer(text):
        closing, name, self_closing = m.group(1), m.group(2).lower(), m.group(3)
        if name in _FLAT_TAGS or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
    return deepest


def _parse_html(text: str) -> _Parsed:
    if html_depth(text) > MAX_HTML_DEPTH:
        raise LoadError(
            f"HTML nested more than {MAX_HTML_DEPTH} elements deep; an article never needs "
            "that: save the page again or as plain text"
        )
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup.find_all(clean.HTML_DROP_TAGS):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()

    meta: dict[str, str] = {}
    title_tag = soup.find("title")
    page_title = _meta_content(soup, "og:title") or (
        clean.collapse_spaces(title_tag.get_text()) if isinstance(title_tag, Tag) else ""
    )
    if page_title:
        meta["title"] = _site_title(page_title)
    meta["publisher"] = _meta_content(soup, "og:site_name", "publisher")
    canonical = soup.find("link", rel="canonical")
    url = str(canonical.get("href") or "") if isinstance(canonical, Tag) else ""
    url = url or _meta_content(soup, "og:url")
    meta["url"] = url if url.startswith(("http://", "https://")) else ""
    updated = _meta_content(
        soup,
        "article:modified_time",
        "og:updated_time",
        "dateModified",
        "last-modified",
        "dcterms.modified",
        "DC.date.modified",
    )
    modified = soup.select_one('[itemprop="dateModified"]')
    if not updated and isinstance(modified, Tag):
        updated = str(modified.get("datetime") or modified.get("content") or "")
    for tag in soup.find_all(["head", "meta", "link", "title"]):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()

    root: Tag = soup
    main = soup.find("main") or soup.select_one('[role="main"]')
    if isinstance(main, Tag):
        root = main
    else:
        articles = [a for a in soup.find_all("article") if isinstance(a, Tag)]
        if articles:
            root = max(articles, key=lambda a: len(a.get_text(" ", strip=True)))
        elif isinstance(soup.body, Tag):
            root = soup.body

    protected = {
        id(node) for h1 in root.find_all("h1") for node in (h1, *h1.parents) if node is not None
    }
    for element in list(root.find_all(True)):
        if (
            isinstance(element, Tag)
            and not element.decomposed
            and _html_chrome(element, root, protected)
        ):
            element.decompose()

    walker = _HtmlBlocks()
    walker.walk(root)
    walker.flush()
    blocks, refs = clean.extract_reference_blocks(walker.blocks)
    blocks, text_updated = clean.clean_blocks(blocks)
    meta["last_updated"] = clean.normalize_date(updated) if updated else text_updated
    return _Parsed(blocks, refs, False, meta)


# --- PDF ------------------------------------------------------------------------------

_JUNK_PDF_TITLE_RE = re.compile(r"^(untitled|microsoft word\b|document\d*$|\s*$)", re.IGNORECASE)


# bullet glyphs as PDF text layers spell them (DEL from WinAnsi fonts, Symbol/Wingdings PUA)
_PDF_BULLET_RE = re.compile(r"(?m)^(\s*)[\x7f\uf0b7\uf0a7\uf076\uf0d8\uf0fc\u2219\u2043](?=\s)")


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Remove running headers and footers: the same short line at the top or bottom of
    at least half of the pages (and at least two)."""
    if len(pages) < 2:
        return pages
    counts: dict[str, int] = {}
    for lines in pages:
        content = [line.strip() for line in lines if line.strip()]
        for line in {*content[:2], *content[-2:]}:
            if len(line) <= 80:
                key = re.sub(r"\d+", "#", line)
                counts[key] = counts.get(key, 0) + 1
    running = {k for k, n in counts.items() if n >= max(2, len(pages) / 2)}
    if not running:
        return pages
    return [
        [line for line in lines if re.sub(r"\d+", "#", line.strip()) not in running]
        for lines in pages
    ]


def _parse_pdf(raw: bytes) -> _Parsed:
    from pypdf import PdfReader

    if b"%PDF-" not in raw[:1024]:
        raise LoadError("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(raw))
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many types on damaged files
        raise LoadError(f"damaged or unreadable PDF ({_one_line(exc)})") from exc
    if encrypted:
        try:
            unlocked = bool(reader.decrypt(""))
        except Exception:
            unlocked = False
        if not unlocked:
            raise LoadError("PDF is encrypted (password protected); save an unprotected copy")
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise LoadError(f"damaged or unreadable PDF ({_one_line(exc)})") from exc
    if not pages:
        raise LoadError("PDF has no pages")
    page_lines: list[list[str]] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            logger.warning("cannot extract text from PDF page %d: %s", number, _one_line(exc))
            text = ""
        text = _PDF_BULLET_RE.sub(r"\1•", clean.normalize_text(text))
        page_lines.append(text.split("\n"))
    if not any(line.strip() for lines in page_lines for line in lines):
        raise LoadError("PDF has no text layer (a scanned image?); OCR it or add a text version")
    page_lines = _drop_running_lines(page_lines)
    parsed = _parse_plain("\n\n".join("\n".join(lines) for lines in page_lines))
    try:
        info = reader.metadata
        title = clean.collapse_spaces(str(info.title or "")) if info is not None else ""
    except Exception:
        title = ""
    if title and not _JUNK_PDF_TITLE_RE.match(title):
        parsed.doc_meta["title"] = title
    return parsed


def _one_line(exc: BaseException) -> str:
    text = clean.collapse_spaces(str(exc)) or type(exc).__name__
    return text[:200]


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _source_path(path: Path, root: Path) -> str:
    for candidate, base in (
        (Path(os.path.abspath(path)), Path(os.path.abspath(root))),
        (path.resolve(), root.resolve()),
    ):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    return Path(os.path.abspath(path)).as_posix()


def _first(*values: str) -> str:
    return next((v for v in values if v), "")


def load_article(path: Path, root: Path, max_bytes: int) -> Article:
    """Load one article file (and its sidecar, if any) into an :class:`Article`.

    Raises :class:`LoadError` with a one-line message for anything that is not a
    readable article: unsupported type, too large, empty, binary or undecodable,
    invalid front matter or sidecar YAML, a PDF without a text layer, encrypted or
    damaged PDFs, or a file with no article text left after cleaning.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(no extension)'}")
    raw = _read_limited(path, max_bytes)
    if not raw.strip():
        raise LoadError("file is empty")

    sidecar_raw: bytes | None = None
    sidecar: dict[str, str] = {}
    side = sidecar_path(path)
    if side.is_file():
        sidecar_raw = _read_limited(side, max_bytes)
        sidecar = read_sidecar(side, sidecar_raw)

    if suffix == ".pdf":
        parsed = _parse_pdf(raw)
    else:
        text = decode_text(raw)
        if not text.strip():
            raise LoadError("file is empty")
        if suffix in MARKDOWN_SUFFIXES:
            parsed = _parse_markdown(text, path.name)
        elif suffix in HTML_SUFFIXES:
            parsed = _parse_html(text)
        else:
            parsed = _parse_plain(text)

    fm, doc = parsed.front_matter, parsed.doc_meta

    def pick(key: str) -> str:
        return _first(sidecar.get(key, ""), fm.get(key, ""), doc.get(key, ""))

    known_title = _first(sidecar.get("title", ""), fm.get("title", ""))
    blocks = clean.convert_bare_markers(parsed.blocks, parsed.references)
    sections, title_heading = clean.build_sections(
        blocks, title=known_title or doc.get("title", ""), plain=parsed.plain
    )
    if not sections:
        raise LoadError("no article text left after removing page chrome")
    title = _first(
        known_title,
        title_heading,
        doc.get("title", ""),
        parsed.header_lines[0] if parsed.header_lines else "",
        clean.readable_stem(path.stem),
    )
    article = Article(
        article_id=_first(sidecar.get("id", ""), fm.get("id", ""), path.stem),
        source_path=_source_path(path, root),
        title=title,
        publisher=pick("publisher"),
        url=pick("url"),
        last_updated=clean.normalize_date(pick("last_updated")),
        review_status=pick("review_status"),
        sections=sections,
        references=parsed.references,
        content_hash=content_hash(raw, sidecar_raw),
    )
    logger.debug(
        "loaded %s: %d sections, %d references",
        article.source_path,
        len(article.sections),
        len(article.references),
    )
    return article
