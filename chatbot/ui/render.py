"""Showing replies safely: every piece of user or article text is rendered as text.

Answers are shown with ``st.markdown`` so their paragraphs, bullet lists and ``[n]``
markers read well, but every Markdown character in them is escaped first (see
:func:`md`), so a question or an article can never inject a link, an image, a heading,
HTML or LaTeX. Questions and snippets are shown with ``st.text`` (no parsing at all).
``unsafe_allow_html`` is never used.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import streamlit as st

from chatbot.reply import Citation, Reply

# Backslash-escaping any ASCII punctuation is valid CommonMark; these are the ones that
# mean something in Streamlit's Markdown (GFM, directives like :red[...], emoji
# shortcodes, $math$, HTML, entities).
_SPECIAL = set('\\`*_{}[]()#+-!|<>~$:&=^"')
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\](?![(\[:])")
_BULLET = re.compile(r"^\s*[-*•·]\s+(?=\S)")
_ORDERED = re.compile(r"^(\d+)([.)])")
# Streamlit turns :material/name: and :emoji: shortcodes into icons even when the colon
# is escaped; a word joiner (invisible) after the first colon keeps them as text.
_SHORTCODE = re.compile(r":(?=[A-Za-z][\w/+-]*:)")
WORD_JOINER = "\u2060"
# Streamlit's Markdown (remark-gfm) turns bare "http://…", "www.…" and "name@domain"
# in plain text into links, escaped or not. A word joiner inside each ("https:⁠//",
# "www⁠.", "@⁠") stops that, so the only links on a page are the ones the app writes.
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=\bwww)(?=\.)|(?<=@)", re.IGNORECASE)

NOTICE = (
    "This assistant answers general health questions from a small library of vetted "
    "health articles and shows the sources it used. It is **not** a doctor: it cannot "
    "examine you, diagnose a condition, or tell you what treatment or dose is right for "
    "you, and it may not know the answer. **In an emergency, call your local emergency "
    "number.**"
)


def _escape(text: str) -> str:
    text = _SHORTCODE.sub(":" + WORD_JOINER, text)
    text = _AUTOLINK.sub(WORD_JOINER, text)
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def _escape_inline(text: str) -> str:
    """Escape everything except ``[n]`` citation markers."""
    out, last = [], 0
    for match in _CITATION.finditer(text):
        out.append(_escape(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def md(text: str) -> str:
    """Text -> Markdown that renders as the same text (bullet lists and [n] kept).

    Lines that start with ``-``/``*``/``•`` stay bullet items; everything else is
    escaped, so no Markdown, HTML, LaTeX or link syntax in the text takes effect.
    """
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        bullet = _BULLET.match(line)
        if bullet:
            lines.append("- " + _escape_inline(line[bullet.end() :]))
            continue
        escaped = _escape_inline(line)
        lines.append(_ORDERED.sub(r"\1\\\2", escaped))
    return "\n".join(lines)


def label(text: str, limit: int = 80) -> str:
    """One escaped line for a widget label (labels are Markdown too)."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return md(text)


def split_disclaimer(reply: Reply) -> tuple[str, str]:
    """(body, disclaimer): the disclaimer is always the last paragraph of the answer."""
    answer = reply.answer.rstrip()
    disclaimer = reply.disclaimer.strip()
    if disclaimer and answer.endswith(disclaimer):
        return answer[: -len(disclaimer)].rstrip(), disclaimer
    return answer, disclaimer


def safe_url(url: str) -> str | None:
    """An http(s) link fit for a Markdown link target, or None."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=":/?#@!$&'*+,;=%~.-_")


def domain(url: str) -> str:
    """The host a link goes to, as its visible text ("medlineplus.gov")."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


def source_meta(citation: Citation) -> str:
    """``Publisher · Section: … · Last updated: …`` as plain text."""
    parts = []
    if citation.publisher:
        parts.append(citation.publisher)
    if citation.section:
        parts.append(f"Section: {citation.section}")
    parts.append(f"Last updated: {citation.last_updated or 'unknown'}")
    return " · ".join(parts)


def sources(reply: Reply) -> None:
    """The numbered sources of a reply: title, publisher, section, date, link, snippet."""
    if not reply.citations:
        return
    st.markdown("**Sources**")
    for citation in reply.citations:
        meta = md(source_meta(citation))
        url = safe_url(citation.url)
        if url:
            meta += f" · [{_escape(domain(url))}]({url})"
        title = md(citation.title or "Untitled article")
        st.markdown(f"**[{citation.n}] {title}**  \n:small[:gray[{meta}]]")
        if citation.snippet:
            with st.expander(f"Supporting text for [{citation.n}]"):
                st.text(citation.snippet)


def reply(reply_: Reply, *, show_sources: bool = True) -> None:
    """A whole reply: the emergency / no-answer / error box or the answer, its sources,
    then the disclaimer (shown on every reply)."""
    body, disclaimer = split_disclaimer(reply_)
    # emergency and urgent bodies are the reviewed templates of data/triage/replies.yaml
    # (no user text), so their bold call to action is rendered as written
    if reply_.kind == "emergency":
        st.error(body, icon=":material/emergency:")
    elif reply_.kind == "urgent":
        st.warning(body, icon=":material/medical_services:")
    elif reply_.kind == "no_answer":
        st.info(md(body), icon=":material/info:")
    elif reply_.kind == "error":
        st.warning(md(body), icon=":material/warning:")
    else:
        st.markdown(md(body))
    if show_sources:
        sources(reply_)
    if disclaimer:
        st.caption(md(disclaimer))
