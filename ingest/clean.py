"""Turn captured page text into clean sections: drop site chrome, keep the article.

Everything here is format-independent. :mod:`ingest.load` turns each file format into
lines (plain text, Markdown, PDF) or :class:`Block` objects (HTML); the functions below

* blank out site chrome (navigation, review badges, payment partners, "Personalize"
  widgets, app-store prompts, footers) using the data-driven pattern tables
  :data:`CHROME_LINE_PATTERNS`, :data:`DISCLAIMER_HEADING_PATTERNS` and
  :data:`DISCLAIMER_PARAGRAPH_PATTERNS`, plus a few generic rules (the page header zone
  above the article, bare page numbers, disclaimer blocks);
* pull the "last updated" date out of the text as metadata;
* pull the reference list out of the text into ``Article.references``;
* classify plain-text lines into headings, paragraphs and list items;
* build :class:`~ingest.models.Section` objects.

The pattern tables are plain tuples of regular expressions so that a new site's chrome
is one line of data, never a rule tied to a file name.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from typing import Literal

from ingest.models import Section

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Data: what counts as chrome. Each entry is a regular expression matched
# (case-insensitively, with ``re.search``) against one stripped line or text block.
# --------------------------------------------------------------------------------------

CHROME_LINE_PATTERNS: tuple[str, ...] = (
    # reading-time and review badges
    r"^read(ing)? time\b",
    r"^\d+\s*min(ute)?s?\s+read$",
    r"^medical advisory board",
    r"^educational purpose only",
    r"^article review status$",
    r"^(submitted|under review|approved|pending review|in review)$",
    r"^view editorial policy$",
    r"^(fact[- ]checked|medically reviewed)( by)?$",
    # personalisation widgets and follow-up prompts
    r"^personali[sz]e$",
    r"^help us tailor your experience",
    r"^which best describes you\?",
    r"^have a follow-?up question\??$",
    r"^our medical a\.?i\.? is used by",
    r"^ask (any|a) follow[- ]up question",
    r"^was this (article|page|information) helpful\??$",
    # site footer: company links, addresses, apps, payment partners, versions
    r"^company$",
    r"^about us",
    r"^registered office( address)?",
    r"^grievance officer",
    r"^download( the)? [\w.&' -]{1,30}$",
    r"^(get|download) (it|the app) on",
    r"^contact us$",
    r"^our customer (representative|care|support|service) team",
    r"^v\d+(\.\d+){1,3}$",
    r"all rights reserved",
    r"^(©|\(c\)|copyright\b)",
    r"^our payment partners$",
    r"^payment partners$",
    r"^follow us( on)?\b",
    r"^(privacy policy|terms (of use|and conditions|& conditions)|cookie policy|sitemap)$",
    r"^(we use cookies|this (web)?site uses cookies)",
    r"^(accept|reject|manage)( all)? cookies",
    # navigation crumbs and buttons that survive copy and paste
    r"^(share|share this( article| page)?|print|print this page|back to top|"
    r"skip to (main )?content|advertisement|sponsored|subscribe|sign in|log ?in|"
    r"sign up|menu|search|home)$",
    r"^espa(n|ñ)?ol$",
    r"^en espa(n|ñ)?ol$",
    # PDF page furniture: bare page numbers
    r"^(page\s+)?\d{1,3}(\s*(of|/)\s*\d{1,3})?$",
)
"""A line matching one of these is chrome wherever it appears."""

DISCLAIMER_HEADING_PATTERNS: tuple[str, ...] = (
    r"^(professional |important |medical |legal )?(medical )?disclaimers?\s*:?$",
)
"""A heading matching one of these starts a block (up to the next heading) that is dropped."""

DISCLAIMER_PARAGRAPH_PATTERNS: tuple[str, ...] = (
    r"^the information provided in this article is for general informational purposes only",
    r"^our healthcare experts have carefully reviewed",
    r"^this information is intended for healthcare professionals",
    r"^this (article|content|information) is (provided )?for (general )?informational "
    r"purposes only",
)
"""A paragraph matching one of these is the site's own disclaimer and is dropped."""

REFERENCES_HEADING_PATTERN = (
    r"^(references?|sources?|bibliography|citations?|reference list|works cited|"
    r"sources and references|references and sources)\s*:?$"
)
"""A heading (a line on its own) that opens the reference list."""

REFERENCE_TYPE_LABELS: tuple[str, ...] = (
    "Research",
    "Guideline",
    "Review",
    "Systematic Review",
    "Meta-analysis",
    "Clinical Trial",
    "Study",
    "Drug Label",
    "FDA Drug Label",
    "Textbook",
    "Consensus Statement",
)
"""Labels some sites put on a line of their own above each reference (Dr.Oracle does)."""

NUMBER_TAKING_WORDS: frozenset[str] = frozenset(
    """to and or of than from between about around approximately over under least most at
    by in on with per is are was were be times plus minus only every each above below
    type types stage stages grade grades class phase level levels step steps day days
    week weeks month months year years hour hours minute minutes age aged ages dose
    doses page pages chapter part section table figure fig vitamin covid trisomy
    chromosome factor number version generation schedule tier category score size
    mg ml kg cm mm mcg iu bmi apgar gcs week's day's""".split()  # noqa: SIM905
)
"""Words after which a trailing number is a real number, not a reference marker."""

HTML_DROP_TAGS: tuple[str, ...] = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "iframe",
    "object",
    "embed",
    "canvas",
    "video",
    "audio",
    "picture",
    "img",
    "map",
    "button",
    "input",
    "select",
    "textarea",
    "dialog",
)
"""HTML elements that never hold article text."""

HTML_CHROME_TAGS: frozenset[str] = frozenset({"nav", "footer", "aside", "form", "menu"})
"""HTML elements that are page chrome (a ``header`` is chrome unless it holds a heading)."""

HTML_CHROME_ROLES: frozenset[str] = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
)

HTML_CHROME_CLASS_WORDS: tuple[str, ...] = (
    "cookie",
    "cookies",
    "consent",
    "banner",
    "breadcrumb",
    "breadcrumbs",
    "share",
    "sharing",
    "social",
    "newsletter",
    "subscribe",
    "advert",
    "advertisement",
    "ad",
    "ads",
    "promo",
    "related",
    "sidebar",
    "menu",
    "navbar",
    "skip",
    "popup",
    "modal",
    "comments",
    "feedback",
    "rating",
    "personalize",
    "personalise",
)
"""A class or id containing one of these words (split on - _ and spaces) marks chrome."""

HEADING_SEPARATOR = " > "
"""Joins a heading that has no text of its own to the subheadings under it."""

OVERVIEW = "Overview"
"""Heading of the text that comes before the first heading."""

# --------------------------------------------------------------------------------------
# Compiled patterns
# --------------------------------------------------------------------------------------

BULLET_RE = re.compile(r"^(?P<indent>\s*)(?:[-*+•●▪◦·‣–—∙⁃■□➢►✓✔])\s+(?P<text>\S.*)$")
NUMBERED_RE = re.compile(r"^(?P<indent>\s*)(?P<num>\d{1,3})[.)]\s+(?P<text>\S.*)$")
NUMBERED_HEADING_RE = re.compile(r"^\d{1,2}\.\s+[A-Z0-9]")
REFERENCE_LINE_RE = re.compile(r"^\[\^?(?P<num>\d{1,3})\]:?\s*(?P<text>\S.*)$")
BODY_MARKER_RE = re.compile(r"\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]")
TERMINAL_RE = re.compile(r"[.!?:;]['\"”’)\]]*(?:\s*\[\d{1,3}\])?$")
DATE_TOKEN_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2}(?:[T ][\d:.+\-Z]*)?"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]{3,9}\.?,?\s+\d{4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}/\d{1,2}/\d{4}"
    r"|[A-Za-z]{3,9}\s+\d{4})"
)
LAST_UPDATED_RE = re.compile(
    r"^(?P<lead>(?:page\s+)?last\s+(?:updated|reviewed|modified|revised)|"
    r"(?:updated|reviewed|modified|revised)(?=\s+on\b|\s*:))"
    r"(?:\s+on)?\s*[:\-–]?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d %Y",
    "%B %d %Y",
)


@cache
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation of all ``patterns`` (compiled once, on first use)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _matches_any(text: str, patterns: tuple[str, ...]) -> bool:
    return bool(_compiled(patterns).search(text))


# --------------------------------------------------------------------------------------
# Blocks: the format-independent shape of an article body
# --------------------------------------------------------------------------------------

BlockKind = Literal["heading", "para", "item"]


@dataclass
class Block:
    """One heading, paragraph or list item.

    ``level`` is the heading level (1-6; 0 when unknown, as in plain text) or, for
    items, the nesting depth (0 = top level). ``marker`` is "-" or "N." for items.
    """

    kind: BlockKind
    text: str
    level: int = 0
    marker: str = "-"


@dataclass
class CleanLines:
    """Result of :func:`strip_chrome_lines`."""

    lines: list[str]
    last_updated: str = ""
    header_lines: list[str] = field(default_factory=list)  # dropped page-header text
    chrome_rows: set[int] = field(default_factory=set)  # indexes of blanked chrome lines


# --------------------------------------------------------------------------------------
# Small text helpers
# --------------------------------------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = {ord(c): " " for c in "\u00a0\u2007\u202f\u2002\u2003\u2009\u3000"}


def normalize_text(text: str) -> str:
    """Unify newlines and odd spaces, drop zero-width characters and trailing blanks."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = text.translate(_ZERO_WIDTH).translate(_SPACES).expandtabs(4)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def collapse_spaces(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def norm_key(text: str) -> str:
    """Comparison key for headings and titles: lower case, letters and digits only."""
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def readable_stem(stem: str) -> str:
    """``muscle_cramps-2024`` -> ``Muscle cramps 2024`` (the title of last resort)."""
    words = collapse_spaces(re.sub(r"[_\-.]+", " ", stem))
    return words[:1].upper() + words[1:] if words else stem


def ends_sentence(text: str) -> bool:
    return bool(TERMINAL_RE.search(text.rstrip()))


def is_chrome(text: str) -> bool:
    """True when ``text`` (one line or block) is site chrome."""
    stripped = text.strip()
    return bool(stripped) and _matches_any(stripped, CHROME_LINE_PATTERNS)


def is_disclaimer_heading(text: str) -> bool:
    return _matches_any(text.strip(), DISCLAIMER_HEADING_PATTERNS)


def is_disclaimer_paragraph(text: str) -> bool:
    return _matches_any(text.strip(), DISCLAIMER_PARAGRAPH_PATTERNS)


def is_chrome_html_name(names: str) -> bool:
    """True when an element's class/id words include one of HTML_CHROME_CLASS_WORDS."""
    words = set(re.split(r"[-_\s]+", names.lower()))
    return not words.isdisjoint(HTML_CHROME_CLASS_WORDS)


def is_references_heading(text: str) -> bool:
    return bool(re.match(REFERENCES_HEADING_PATTERN, text.strip(), re.IGNORECASE))


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------


def normalize_date(value: object) -> str:
    """ISO ``YYYY-MM-DD`` when the value parses as a date, else the stripped raw string."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raw = collapse_spaces(str(value))
    if not raw:
        return ""
    iso = re.match(r"^(\d{4}-\d{2}-\d{2})(?:[T ][\d:.+\-Z]*)?$", raw)
    candidate = iso.group(1) if iso else raw
    candidate = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", candidate)
    candidate = re.sub(r"\bSept\b", "Sep", candidate, flags=re.IGNORECASE)
    candidate = collapse_spaces(candidate.replace(",", " ").replace(".", " "))
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(candidate, fmt).date().isoformat()
        except ValueError:
            continue
    return raw


def find_last_updated(line: str) -> str | None:
    """The date of a "Last updated on : 08 Nov, 2025" line, normalized; None otherwise.

    Whatever follows the date on the same line (``View editorial policy``) is chrome.
    """
    stripped = line.strip()
    match = LAST_UPDATED_RE.match(stripped)
    if not match:
        return None
    rest = match.group("rest")
    token = DATE_TOKEN_RE.match(rest)
    if token:
        return normalize_date(token.group("date"))
    if match.group("lead").lower().startswith(("last", "page")) and 0 < len(stripped) <= 60:
        return rest.strip()
    return None


# --------------------------------------------------------------------------------------
# Line-level cleaning (plain text, Markdown, PDF)
# --------------------------------------------------------------------------------------

HEADER_ZONE_LINES = 40  # how far down the page header zone may reach
HEADER_ZONE_MAX_TEXT_LINES = 6  # non-chrome lines it may hold (page question, title, ...)


def strip_chrome_lines(
    lines: Sequence[str], *, stop_header_at: re.Pattern[str] | None = None
) -> CleanLines:
    """Blank out chrome and "last updated" lines and the page header above the article.

    The page header zone is the run of short lines at the top of a capture that ends
    with the last chrome or date line before the first real paragraph (Dr.Oracle's page
    question, review badges and "Personalize" widget; Truemeds' date and read time). A
    long line, a list item, a line ending a sentence, or a seventh non-chrome line ends
    the search for it.
    Short lines inside that zone are dropped too and returned in ``header_lines`` (the
    loader may use one as a title of last resort). Lines matching ``stop_header_at``
    (Markdown headings) end the zone.
    """
    out = list(lines)
    flagged: set[int] = set()
    last_updated = ""
    for i, line in enumerate(out):
        stripped = line.strip()
        if not stripped:
            continue
        found = find_last_updated(stripped)
        if found is not None:
            if not last_updated:
                last_updated = found
            flagged.add(i)
        elif is_chrome(stripped):
            flagged.add(i)

    # the header zone: short lines at the top, closed by the last chrome/date line
    zone_end = -1
    candidates = 0
    for i, line in enumerate(out[:HEADER_ZONE_LINES]):
        stripped = line.strip()
        if not stripped:
            continue
        if i in flagged:
            zone_end = i
            continue
        if stop_header_at is not None and stop_header_at.match(stripped):
            break
        if len(stripped) > 80 or BULLET_RE.match(line) or NUMBERED_RE.match(line):
            break
        if stripped.endswith((".", "!", ":", ";")):
            break  # a sentence: the article has started
        candidates += 1
        if candidates > HEADER_ZONE_MAX_TEXT_LINES:
            break
    header_lines = [
        out[i].strip() for i in range(zone_end + 1) if out[i].strip() and i not in flagged
    ]
    if header_lines:
        logger.debug("dropping page header lines %s", header_lines)
    flagged.update(i for i in range(zone_end + 1) if out[i].strip())
    for i in flagged:
        out[i] = ""
    return CleanLines(out, last_updated, header_lines, flagged)


# --------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------


def _label_of(line: str) -> str | None:
    for label in REFERENCE_TYPE_LABELS:
        if line.strip().casefold() == label.casefold():
            return label
    return None


def _join_parts(parts: Sequence[str]) -> str:
    text = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if not text:
            text = part
        elif text.endswith((".", "!", "?", ":", ",", ";")):
            text = f"{text} {part}"
        else:
            text = f"{text}. {part}"
    return text


def parse_reference_block(lines: Sequence[str]) -> list[str]:
    """Reference entries from the lines under a "References" heading.

    Handles numbered lists ("[1] ...", "1. ..."), bullets, one reference per line or
    paragraph, and the labelled layout ("Research / Muscle cramps. / Muscle & nerve, 2005"
    becomes "Muscle cramps. Muscle & nerve, 2005 (Research)").
    """
    rows = [line.strip() for line in lines]
    nonblank = [r for r in rows if r]
    if not nonblank:
        return []
    refs: list[str] = []
    if _label_of(nonblank[0]):
        label = ""
        parts: list[str] = []
        for row in nonblank:
            new_label = _label_of(row)
            if new_label:
                if label and parts:
                    refs.append(f"{_join_parts(parts)} ({label})")
                label, parts = new_label, []
            else:
                parts.append(row)
        if label and parts:
            refs.append(f"{_join_parts(parts)} ({label})")
        return refs

    numbered = any(REFERENCE_LINE_RE.match(r) or NUMBERED_RE.match(r) for r in nonblank)
    current = ""
    for row in rows:
        if not row:
            if not numbered and current:
                refs.append(current)
                current = ""
            continue
        ref = REFERENCE_LINE_RE.match(row)
        num = NUMBERED_RE.match(row)
        bullet = BULLET_RE.match(row)
        if ref or num:
            if current:
                refs.append(current)
            match = ref or num
            assert match is not None
            current = f"[{match.group('num')}] {match.group('text').strip()}"
        elif bullet:
            if current:
                refs.append(current)
            current = bullet.group("text").strip()
        elif current and (numbered or row[:1].islower() or current.endswith(("-", ","))):
            current = f"{current} {row}"
        else:
            if current:
                refs.append(current)
            current = row
    if current:
        refs.append(current)
    return [collapse_spaces(r) for r in refs if r.strip()]


def extract_references(
    lines: Sequence[str],
    *,
    chrome_rows: Iterable[int] = (),
    heading_level: re.Pattern[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Take the reference list out of the text.

    Returns ``(lines, references)`` where the reference lines are blanked. Two shapes are
    recognised: a "References" heading followed by the list (up to a disclaimer heading,
    a chrome line, a Markdown heading of the same or a higher level when
    ``heading_level`` is given, or the end), and "[n] ..." lines anywhere.
    """
    out = list(lines)
    chrome = set(chrome_rows)
    refs: list[str] = []
    i = 0
    while i < len(out):
        stripped = out[i].strip()
        md = heading_level.match(stripped) if heading_level else None
        heading_text = md.group("text") if md else stripped
        if heading_text and is_references_heading(heading_text):
            level = len(md.group("hashes")) if md else 0
            j = i + 1
            while j < len(out):
                row = out[j].strip()
                if j in chrome or (row and is_disclaimer_heading(row)):
                    break
                inner = heading_level.match(row) if (heading_level and row) else None
                if inner and (level == 0 or len(inner.group("hashes")) <= level):
                    break
                j += 1
            block = out[i + 1 : j]
            refs.extend(parse_reference_block(block))
            for k in range(i, j):
                out[k] = ""
            i = j
            continue
        ref = REFERENCE_LINE_RE.match(stripped)
        if ref:
            text = ref.group("text").strip()
            j = i + 1
            while j < len(out):
                row = out[j].strip()
                if (
                    not row
                    or j in chrome
                    or REFERENCE_LINE_RE.match(row)
                    or is_disclaimer_heading(row)
                    or is_chrome(row)
                    or ends_sentence(text)
                ):
                    break
                if not (
                    row[:1].islower()
                    or row.startswith(("http", "doi", "www"))
                    or text.endswith(("-", ",", "/"))
                ):
                    break
                text = f"{text} {row}"
                j += 1
            refs.append(collapse_spaces(f"[{ref.group('num')}] {text}"))
            for k in range(i, j):
                out[k] = ""
            i = j
            continue
        i += 1
    return out, refs


def extract_reference_blocks(blocks: Sequence[Block]) -> tuple[list[Block], list[str]]:
    """The block-level twin of :func:`extract_references` (used for HTML)."""
    out: list[Block] = []
    refs: list[str] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if block.kind == "heading" and is_references_heading(block.text):
            j = i + 1
            lines: list[str] = []
            while j < len(blocks):
                nxt = blocks[j]
                if nxt.kind == "heading" and (
                    nxt.level == 0 or block.level == 0 or nxt.level <= block.level
                ):
                    break
                if is_disclaimer_heading(nxt.text) or is_chrome(nxt.text):
                    break
                if nxt.kind == "item" and nxt.marker != "-":
                    lines.append(f"[{nxt.marker.rstrip('.')}] {nxt.text}")
                else:
                    lines.append(nxt.text)
                lines.append("")
                j += 1
            refs.extend(parse_reference_block(lines))
            i = j
            continue
        ref = REFERENCE_LINE_RE.match(block.text.strip()) if block.kind != "heading" else None
        if ref:
            refs.append(collapse_spaces(f"[{ref.group('num')}] {ref.group('text')}"))
        else:
            out.append(block)
        i += 1
    return out, refs


# --------------------------------------------------------------------------------------
# Plain-text structure: headings, paragraphs, list items
# --------------------------------------------------------------------------------------


def looks_like_heading_text(text: str) -> bool:
    """Shape test for a plain-line heading, without looking at its neighbours."""
    s = text.strip()
    if not (1 <= len(s) <= 80) or len(s.split()) > 12:
        return False
    if s.endswith((".", ",", ";", ":", "-", "–")) or s.startswith(("[", "(", "http")):
        return False
    if "www." in s or "://" in s or not re.search(r"[A-Za-z]", s):
        return False
    if NUMBERED_HEADING_RE.match(s):
        return True
    return s[0].isupper()


def _wrapped_break(line: str, max_len: int) -> bool:
    """In hard-wrapped text: does ``line`` end its paragraph?

    It does when it ends a sentence and is either clearly shorter than the wrap width or
    the lines are too short (under 60 characters) to be hard-wrapped prose at all.
    """
    return ends_sentence(line) and (len(line) < 0.75 * max_len or max_len < 60)


def parse_plain_lines(lines: Sequence[str], *, detect_headings: bool = True) -> list[Block]:
    """Classify plain-text lines into blocks.

    * runs of non-blank lines are separated by blank lines;
    * bullets ("•", "*", "-", "–", ...) become items, "1." items keep their number, and
      indentation gives the nesting depth (kept across blank lines inside a list);
    * a heading is a short line with no terminal punctuation that starts with an upper
      case letter or "N. ", is not indented, and stands on its own: preceded by a blank
      line or a finished sentence and followed by a blank line or a longer line. A line
      ending in "?" is a heading only between blank lines;
    * lines of a run are one paragraph each when the run has long lines (one paragraph
      per line, as in web captures), and are joined when the text is hard-wrapped.
    """
    rows = [line.rstrip() for line in lines]
    n = len(rows)
    blocks: list[Block] = []
    indent_stack: list[int] = []
    para: list[str] = []
    item: Block | None = None

    def flush_para() -> None:
        if para:
            blocks.append(Block("para", _join_lines(para)))
            para.clear()

    def flush_item() -> None:
        nonlocal item
        if item is not None:
            blocks.append(item)
            item = None

    i = 0
    while i < n:
        if not rows[i].strip():
            i += 1
            continue
        start = i
        while i < n and rows[i].strip():
            i += 1
        run = rows[start:i]
        text_lens = [len(r.strip()) for r in run]
        long_style = max(text_lens) > 120
        max_len = max(text_lens)
        item_indent = 0

        for k, row in enumerate(run):
            stripped = row.strip()
            indent = len(row) - len(row.lstrip(" "))
            bullet = BULLET_RE.match(row)
            numbered = NUMBERED_RE.match(row)
            if detect_headings and indent == 0 and not bullet and _is_heading(run, k, blocks):
                flush_para()
                flush_item()
                indent_stack.clear()
                blocks.append(Block("heading", stripped))
                continue
            if bullet or numbered:
                flush_para()
                flush_item()
                while indent_stack and indent < indent_stack[-1]:
                    indent_stack.pop()
                if not indent_stack or indent > indent_stack[-1]:
                    indent_stack.append(indent)
                level = min(len(indent_stack) - 1, 2)
                if bullet:
                    item = Block("item", bullet.group("text"), level, "-")
                else:
                    assert numbered is not None
                    item = Block("item", numbered.group("text"), level, f"{numbered.group('num')}.")
                item_indent = indent
                continue
            if item is not None and (indent > item_indent or stripped[:1].islower()):
                item.text = f"{item.text} {stripped}"
                continue
            flush_item()
            if indent == 0:
                indent_stack.clear()
            if long_style:
                para.append(stripped)
                flush_para()
            else:
                para.append(stripped)
                if _wrapped_break(stripped, max_len):
                    flush_para()
        flush_para()
        flush_item()
    return _demote_numbered_heading_runs(blocks)


def _is_heading(run: Sequence[str], k: int, blocks: Sequence[Block]) -> bool:
    stripped = run[k].strip()
    if not looks_like_heading_text(stripped):
        return False
    first, last = k == 0, k == len(run) - 1
    if stripped.endswith("?") and not (first and last):
        return False
    before_ok = (
        first
        or ends_sentence(run[k - 1])
        or (bool(blocks) and blocks[-1].kind == "heading" and blocks[-1].text == run[k - 1].strip())
    )
    if not before_ok:
        return False
    if last:
        return True
    nxt = run[k + 1].strip()
    if nxt[:1].islower():
        return False  # the line wraps on into the next one
    if BULLET_RE.match(run[k + 1]) or NUMBERED_RE.match(run[k + 1]):
        return True
    return len(nxt) > len(stripped) and (len(nxt) > 50 or not looks_like_heading_text(nxt))


def _join_lines(lines: Sequence[str]) -> str:
    text = ""
    for line in lines:
        line = line.strip()
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            text = text[:-1] + line  # undo hyphenation at a line break
        elif text:
            text = f"{text} {line}"
        else:
            text = line
    return text  # runs of spaces are kept: split_inline_lists() reads them


def _demote_numbered_heading_runs(blocks: list[Block]) -> list[Block]:
    """Numbered "headings" that follow one another with nothing between are a list."""
    out = list(blocks)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if not (a.kind == b.kind == "heading"):
            continue
        if NUMBERED_HEADING_RE.match(a.text) and NUMBERED_HEADING_RE.match(b.text):
            for j in (i, i + 1):
                num, _, rest = out[j].text.partition(" ")
                out[j] = Block("item", rest.strip(), 0, num)
    return out


# --------------------------------------------------------------------------------------
# Block-level cleaning (all formats)
# --------------------------------------------------------------------------------------

_INLINE_BULLET_RE = re.compile(r"\s{2,}[-•*]\s+(?=\S)")
_INLINE_NUMBER_RE = re.compile(r"\s{2,}(?=\d{1,2}\.\s+[A-Z])")
_LIST_TAIL_RE = re.compile(r"\s{3,}(?=[A-Z])")


def split_inline_lists(block: Block) -> list[Block]:
    """Split "lead:  - one  - two   Tail." (MedQuAD style) into a paragraph and items."""
    text = block.text
    if block.kind == "heading":
        return [block]
    if block.kind == "item" and block.marker != "-" and len(_INLINE_NUMBER_RE.findall(text)) >= 1:
        out: list[Block] = []
        parts = _INLINE_NUMBER_RE.split(text)
        out.append(Block("item", collapse_spaces(parts[0]), block.level, block.marker))
        for part in parts[1:]:
            num, _, rest = part.partition(" ")
            out.append(Block("item", collapse_spaces(rest), block.level, num))
        return [b for b in out if b.text]
    bullets = len(_INLINE_BULLET_RE.findall(text))
    if bullets < 2 and not (block.kind == "item" and bullets >= 1):
        return [replace(block, text=collapse_spaces(text))]
    pieces = _INLINE_BULLET_RE.split(text)
    out = []
    lead = pieces[0]
    if block.kind == "item":
        out.append(Block("item", collapse_spaces(lead), block.level, block.marker))
        level = block.level
    elif lead.strip():
        out.append(Block("para", collapse_spaces(lead)))
        level = 0
    else:
        level = 0
    for piece in pieces[1:]:
        head, *tails = _LIST_TAIL_RE.split(piece, maxsplit=1)
        out.append(Block("item", collapse_spaces(head), level, "-"))
        for tail in tails:
            if tail.strip():
                out.append(Block("para", collapse_spaces(tail)))
    return [b for b in out if b.text]


def clean_blocks(blocks: Sequence[Block]) -> tuple[list[Block], str]:
    """Drop chrome and disclaimers; pull out the "last updated" date.

    Returns ``(blocks, last_updated)``. A disclaimer heading (or a paragraph that is only
    the word "Disclaimer") drops everything up to the next heading.
    """
    out: list[Block] = []
    last_updated = ""
    skipping = False
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if block.kind == "heading" or (block.kind == "para" and len(text) <= 40):
            if is_disclaimer_heading(text):
                skipping = True
                continue
            if block.kind == "heading":
                skipping = False
        if skipping:
            continue
        found = find_last_updated(text) if len(text) <= 120 else None
        if found is not None and block.kind != "heading":
            last_updated = last_updated or found
            continue
        if is_chrome(text) or (block.kind != "heading" and is_disclaimer_paragraph(text)):
            continue
        out.extend(split_inline_lists(block))
    return out, last_updated


_BARE_MARKER_RE = re.compile(
    r"(?P<before>(?P<word>[A-Za-z][A-Za-z'’-]*|\))[\"”’]?)\s+"
    r"(?P<nums>\d{1,2}(?:\s*,\s*\d{1,2})*)(?P<end>[.;]?)$"
)


def convert_bare_markers(blocks: Sequence[Block], references: Sequence[str]) -> list[Block]:
    """Turn bare trailing reference numbers ("electrolyte loss 2") into "[2]".

    Only when the article has a reference list and uses no bracketed markers itself;
    a number after a word that takes numbers ("type 2", "up to 3") is left alone, and
    headings are never touched.
    """
    if not references or any(BODY_MARKER_RE.search(b.text) for b in blocks):
        return list(blocks)

    def fix(text: str) -> str:
        match = _BARE_MARKER_RE.search(text)
        if not match:
            return text
        word = match.group("word")
        if word != ")" and (word.casefold() in NUMBER_TAKING_WORDS or len(word) < 3):
            return text
        nums = ", ".join(n.strip() for n in match.group("nums").split(","))
        return f"{text[: match.start()]}{match.group('before')} [{nums}]{match.group('end')}"

    return [b if b.kind == "heading" else replace(b, text=fix(b.text)) for b in blocks]


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def _heading_level(block: Block, plain: bool) -> int:
    if plain:
        return 2 if NUMBERED_HEADING_RE.match(block.text) else 1
    return block.level or 6


def render_blocks(blocks: Sequence[Block]) -> str:
    """Paragraphs separated by blank lines; consecutive list items on their own lines."""
    text = ""
    prev: Block | None = None
    for block in blocks:
        if block.kind == "item":
            line = f"{'  ' * block.level}{block.marker} {block.text}"
        else:
            line = block.text
        if prev is None:
            text = line
        elif block.kind == "item" and prev.kind == "item":
            text = f"{text}\n{line}"
        else:
            text = f"{text}\n\n{line}"
        prev = block
    return text.strip()


def take_title_heading(blocks: Sequence[Block], title: str, *, plain: bool) -> str:
    """The first heading when it is the article's title heading, else "".

    It must come before any text. In plain text it is the title heading when it matches
    the known title or no title is known; with real levels (Markdown, HTML) also when it
    is the only heading of the top level.
    """
    if not blocks or blocks[0].kind != "heading":
        return ""
    first = blocks[0]
    if title and norm_key(first.text) == norm_key(title):
        return first.text
    if plain:
        return "" if title else first.text
    headings = [b for b in blocks if b.kind == "heading"]
    top = min(_heading_level(b, plain) for b in headings)
    same = [b for b in headings if _heading_level(b, plain) == top]
    return first.text if _heading_level(first, plain) == top and len(same) == 1 else ""


def build_sections(
    blocks: Sequence[Block], *, title: str = "", plain: bool = False
) -> tuple[list[Section], str]:
    """Group blocks into sections; returns ``(sections, title_heading)``.

    * the title heading (see :func:`take_title_heading`) is not a section; text before
      the first other heading goes into an "Overview" section;
    * a heading with no text of its own is joined to the heading(s) under it with
      " > " ("Types of Muscle Spasms > 1. True Muscle Cramps"): to every deeper heading
      until one of its own level, or, for headings of the same level, to the next only.
      In plain text numbered headings ("1. ...") count as one level deeper;
    * sections left without text are dropped.
    """
    items = list(blocks)
    title_heading = take_title_heading(items, title, plain=plain)
    if title_heading:
        items = items[1:]

    sections: list[Section] = []
    prefixes: list[tuple[int, str]] = []  # empty parent headings: (level, full heading)
    current = OVERVIEW
    current_level = 0
    body: list[Block] = []
    is_default = True

    def close() -> None:
        text = render_blocks(body)
        if text:
            sections.append(Section(current, text))

    for block in items:
        if block.kind != "heading":
            body.append(block)
            continue
        level = _heading_level(block, plain)
        one_shot = ""
        if not body and not is_default:
            if level > current_level:
                prefixes.append((current_level, current))
            else:
                one_shot = current
        close()
        while prefixes and prefixes[-1][0] >= level:
            prefixes.pop()
        parent = one_shot or (prefixes[-1][1] if prefixes else "")
        current = f"{parent}{HEADING_SEPARATOR}{block.text}" if parent else block.text
        current_level = level
        body = []
        is_default = False
    close()
    return sections, title_heading
