"""Turn a follow-up into a standalone question, with no LLM.

The conversation keeps a *topic*: the subject words of the last question that carried
its own subject ("muscle spasms", "spasticity after stroke"). A follow-up that refers
back ("What causes them?", "Which medicines are used for that?", "And in children?")
gets the topic put in place of its pronoun, or appended. With an LLM configured,
:mod:`chatbot.chain` asks it instead and falls back to this on failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that say what is asked, not what it is about.
_INTENT_TEXT = """
    what whats which who whom whose when where why how is are was were be been being am do
    does did doing can could should would will shall may might must have has had a an the
    this that these those it its they them their there here i me my we us our you your he
    she him her his hers and or but if then so than too very just also about of in on at to
    for from by with without into over under after before during up down out off again more
    most some any all each other such no nor not only own same few both tell explain
    describe know want like please thanks thank hi hello hey ok okay mean means meaning
    define definition cause causes caused causing reason reasons symptom symptoms sign signs
    treat treats treated treating treatment treatments therapy cure cures prevent prevents
    prevented preventing prevention avoid stop stopping medicine medicines medication
    medications drug drugs pill pills remedy remedies help helps work works used use using
    take taking common serious dangerous normal long last lasts happen happens get gets
    getting feel feeling risk risks type types kind kinds diagnose diagnosed diagnosis test
    tests testing doctor see need needed manage managed management else other another thing
    things way ways best good bad better worse
"""
INTENT_WORDS = frozenset(_INTENT_TEXT.split())

PRONOUNS = ("them", "they", "it", "that", "this", "those", "these", "its", "their", "one", "ones")
_PRONOUN_RE = re.compile(
    r"\b(them|they|it|that|this|those|these|its|their|one|ones)\b", re.IGNORECASE
)
# Words that narrow a follow-up without changing its subject: "what about at night?",
# "and in children?", "is it dangerous?". They do not make a question stand alone.
ASPECT_WORDS = frozenset(
    [
        "night",
        "nights",
        "nighttime",
        "morning",
        "mornings",
        "evening",
        "evenings",
        "day",
        "days",
        "daytime",
        "bed",
        "bedtime",
        "sleep",
        "sleeping",
        "asleep",
        "today",
        "tonight",
        "now",
        "right",
        "later",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "years",
        "child",
        "children",
        "kid",
        "kids",
        "baby",
        "babies",
        "toddler",
        "teen",
        "teens",
        "teenager",
        "teenagers",
        "adult",
        "adults",
        "elderly",
        "old",
        "older",
        "age",
        "aged",
        "women",
        "woman",
        "men",
        "man",
        "pregnant",
        "pregnancy",
        "breastfeeding",
        "dangerous",
        "serious",
        "harmful",
        "safe",
        "bad",
        "worry",
        "worried",
        "worrying",
        "concern",
        "concerned",
        "normal",
        "contagious",
        "permanent",
        "curable",
        "fatal",
        "deadly",
        "painful",
        "often",
        "frequent",
        "frequently",
        "again",
        "home",
        "naturally",
        "natural",
        "quickly",
        "fast",
        "exercise",
        "exercising",
        "running",
        "sport",
        "sports",
    ]
)
_FOLLOW_UP_START = re.compile(
    r"^\s*(and|also|what about|how about|and what about|what else|anything else|"
    r"is that|are they|is it|does it|do they|can it|can they)\b",
    re.IGNORECASE,
)
_PHRASAL = re.compile(
    r"\b(com(e|es|ing)|came|go(es|ing)?|went|gone|get(s|ting)?|got) (back|away|again|on|off|out)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


@dataclass(frozen=True)
class Rewrite:
    query: str  # the standalone question to search
    topic: str  # the conversation's topic after this turn
    follow_up: bool


_CONNECTORS = frozenset({"after", "of", "in", "during", "with", "from", "for", "and"})


def subject_words(question: str) -> list[str]:
    """The words of a question that name what it is about, in order."""
    return [w for w in _WORD.findall(question) if w.lower() not in INTENT_WORDS and len(w) > 1]


def subject_phrase(question: str) -> str:
    """The subject as a readable phrase: "spasticity after stroke", "muscle spasm"."""
    words = _WORD.findall(question)
    keep = [w.lower() not in INTENT_WORDS and len(w) > 1 for w in words]
    if not any(keep):
        return ""
    first = keep.index(True)
    last = len(keep) - 1 - keep[::-1].index(True)
    phrase = [
        w
        for w, k in zip(words[first : last + 1], keep[first : last + 1], strict=True)
        if k or w.lower() in _CONNECTORS
    ]
    # a connector is kept only between two subject words
    cleaned = [
        w
        for i, w in enumerate(phrase)
        if w.lower() not in _CONNECTORS
        or (0 < i < len(phrase) - 1 and phrase[i - 1].lower() not in _CONNECTORS)
    ]
    return " ".join(cleaned)


def rewrite(question: str, topic: str) -> Rewrite:
    """Standalone form of ``question`` given the conversation ``topic`` ("" at the start)."""
    text = " ".join(question.split())
    # "coming back", "go away": not the back or a place
    bare = _PHRASAL.sub(" ", text)
    own = [w for w in subject_words(bare) if w.lower() not in ASPECT_WORDS]
    has_pronoun = bool(_PRONOUN_RE.search(text))
    # "and in children?", "what about baclofen?" refer back; "also her sugar tablets are
    # not working, should she take insulin" starts like one but has its own subject
    refers_back = (bool(_FOLLOW_UP_START.match(text)) and len(own) <= 3) or (
        has_pronoun and len(own) <= 2
    )
    if not topic or (own and not refers_back):
        return Rewrite(query=text, topic=subject_phrase(text) or topic, follow_up=False)
    if not own or refers_back:
        if has_pronoun:
            query = _PRONOUN_RE.sub(_replacement(topic), text, count=1)
        else:
            query = f"{text.rstrip('?. ')} {topic}?" if text else topic
        # The topic stays; a follow-up's own words (e.g. "at night") narrow this turn only.
        return Rewrite(query=query, topic=topic, follow_up=True)
    return Rewrite(query=text, topic=subject_phrase(text), follow_up=False)  # pragma: no cover


def _replacement(topic: str) -> str:
    def sub(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        return f"{topic}'s" if word in ("its", "their") else topic

    return sub  # type: ignore[return-value]


def topic_after(
    question: str,
    previous: str,
    cited: list[str],
    query: str = "",
    max_words: int = 4,
    named: list[str] | None = None,
) -> str:
    """The conversation's topic after a turn: the question's subject words that the
    answer's sources also use (``cited``: their titles, headings and quoted text), in the
    question's order, at most ``max_words``. A long story ("my son is 14 and plays
    football ... his legs were cramping") leaves "heat legs cramping", not the story.
    A turn that refers back, or names nothing the sources use, keeps the previous topic.
    ``named`` (the sources' titles and headings, first source first) decides what counts as
    a new topic: "what should I drink" during a talk about heat cramps names nothing a
    title or heading names, so the topic stays; a long story's topic is the words of it
    that they name, else the first source's subject."""
    from chatbot.retrieve import tokenize  # the BM25 stems, so "cramping" meets "cramps"

    rewrite_ = rewrite(question, previous)
    if rewrite_.follow_up or (previous and previous.lower() in query.lower()):
        return previous  # a follow-up (searched with the topic): the topic stays
    words = [w for w in subject_words(question) if w.lower() not in ASPECT_WORDS]
    if not words:
        return previous
    if not cited:
        return " ".join(words[-max_words:]) if len(words) > max_words else rewrite_.topic
    known = set(tokenize([" ".join(cited)])[0])
    stems = tokenize(words)
    kept: list[str] = []
    seen: list[str] = []  # the stem of each kept word
    for word, stem in zip(words, stems, strict=True):
        if stem and stem[0] in known and stem[0] not in seen:
            kept.append(word.lower())
            seen.append(stem[0])
    if not kept:
        return previous or rewrite_.topic
    if named:
        titled = set(tokenize([" ".join(named)])[0])
        first = [w for w, stem in zip(kept, seen, strict=True) if stem in titled]
        if previous and not first:
            # "what should i drink" during a talk about heat cramps: a detail of the topic,
            # not a new one (a new topic is something the sources' titles or headings name)
            return previous
        if len(words) > max_words:
            # a long story: the words the titles and headings use lead its topic
            # ("muscles pain injection"); naming none of them ("walks sit"), its topic
            # is what the first source is about
            if not first:
                return subject_phrase(named[0]) or previous or rewrite_.topic
            kept = first + [w for w in kept if w not in first]
    if len(kept) == len(words) and len(words) <= max_words and rewrite_.topic:
        return rewrite_.topic  # all of it: as a phrase, "spasticity after stroke"
    if len(kept) <= max_words:
        return " ".join(kept)
    return " ".join(kept[:max_words])
