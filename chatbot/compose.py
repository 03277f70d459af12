"""The offline answerer: section first, coherent, and only from retrieved text.

:func:`compose` picks the article section that best answers the question and answers
from it the way a reader of the article would: the passage that answers it, its
sentences in source order, and the section's **whole** list (up to ``max_items``, saying
how many more the source has). A second section is added only when it answers another
part of the question (a question about causes *and* treatment). No sentence that leans
on a missing previous one ("However, …", "These …") opens the answer: the passage is
widened back to the sentence it leans on. Each section is one source, so one ``[n]``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from chatbot.answer import Draft, Source, strip_source_markers
from chatbot.rephrase import INTENT_WORDS
from chatbot.retrieve import tokenize
from chatbot.text import BULLET, INSTRUCTION, split_sentences
from chatbot.understand import QuestionType, Understanding

# A sentence that leans on the one before it.
DANGLING = re.compile(
    r"^\s*\(|^\W*(however|these|this|those|they|them|it|its|also|additionally|furthermore|"
    r"moreover|in addition|but|such|so|thus|therefore|hence|other|another|as a result|"
    r"as well|both|either|neither|then|likewise|similarly|instead|otherwise|"
    r"in (this|these|such|that) (case|cases|situation|situations)|for (this|that) reason)\b",
    re.IGNORECASE,
)

# A sentence about the web page the article was captured from, not about health.
ABOUT_THE_PAGE = re.compile(
    r"\b(these resources (address|provide|describe)|genetic testing registry|"
    r"medlineplus encyclopedia|you (may|might) (also )?find (the following|these)|"
    r"click(ing)? (here|the)|press(ing)? the (escape|esc|enter|return)( \(\w+\))? (button|key)|"
    r"(watch|view|enlarge|reduce) the videos?|on this page|this page at|"
    r"look up the definitions|see (a|the) glossary|search the \w+( \w+)? library)\b",
    re.IGNORECASE,
)
# "provides the following list", "the table below": says nothing without what follows
POINTS_ELSEWHERE = re.compile(
    r"\bthe following (list|table|chart)s?\b|\b(table|list|chart|figure)s? below\b|"
    r"\b(listed|shown|described) below\b|\bthe following\W*$",
    re.IGNORECASE,
)
# "Summary : The nicotine in tobacco ...": a label the captured page put before a paragraph
_LABEL = re.compile(r"^[A-Z][A-Za-z ,'/-]{2,40}\s:\s+")
_DEFINES = re.compile(r"^(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,4}(?:is|are)\s", re.IGNORECASE)
_DEFINITION_Q = re.compile(r"^\s*(what|who)\s*(is|are|'s)\b|\bdefin|\bmeaning\b", re.IGNORECASE)


@dataclass
class Block:
    """A paragraph (its sentences) or a list (its lead-in and items) of one section."""

    sentences: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    lead: str = ""  # the list's own lead-in sentence ("Symptoms include:"), if any

    @property
    def is_list(self) -> bool:
        return bool(self.items)

    @property
    def words(self) -> int:
        return sum(len(s.split()) for s in [*self.sentences, self.lead, *self.items])


@lru_cache(maxsize=4096)
def _blocks(body: str) -> tuple[Block, ...]:
    """Paragraphs and lists of a section body, in reading order.

    A paragraph ending in ":" (or pointing at "the following list") right before a list
    becomes that list's lead-in.
    """
    blocks: list[Block] = []
    broken = False  # a line left out (a question heading) ends the list before it
    for raw in re.split(r"\n\s*\n", body):
        prose: list[str] = []
        for line in (x.strip() for x in raw.splitlines()):
            if not line:
                continue
            if BULLET.match(line):
                item = BULLET.sub("", line).strip()
                if not _keep(strip_source_markers(item), bullet=True):
                    continue
                if prose:  # sentences, then the list they introduce
                    blocks.append(Block(sentences=prose))
                    prose = []
                previous = blocks[-1] if blocks else None
                if broken:
                    previous, broken = None, False
                if previous is not None and previous.is_list:
                    previous.items.append(item)
                elif previous is not None and _introduces(previous):
                    previous.lead = previous.sentences.pop()
                    previous.items.append(item)
                    if not previous.sentences:
                        blocks[-1] = Block(items=previous.items, lead=previous.lead)
                    else:  # the lead-in leaves its paragraph and heads the list
                        blocks.append(Block(items=previous.items, lead=previous.lead))
                        previous.items, previous.lead = [], ""
                else:
                    blocks.append(Block(items=[item]))
            else:
                unlabelled = (_LABEL.sub("", s) for s in split_sentences(line))
                kept = [s for s in unlabelled if _keep(strip_source_markers(s))]
                if not kept and not prose:
                    broken = True
                elif kept:
                    broken = False  # a lead-in after the skipped line may start a new list
                prose.extend(kept)
        if prose:
            blocks.append(Block(sentences=prose))
            broken = False
    # "provides the following list", "the table below": said of a list that is not here;
    # a sentence that ends in ":" with no list after it lost its list in capture
    for block in blocks:
        block.sentences = [_closed(s) for s in block.sentences if not POINTS_ELSEWHERE.search(s)]
        block.sentences = [s for s in block.sentences if s]
    return tuple(b for b in blocks if b.sentences or b.items)


# "... may experience them frequently, including:" says nothing without its list
_NEEDS_ITS_LIST = re.compile(
    r"\b(including|include|includes|such as|as follows|following|are|is|as|like|these|"
    r"present as|areas of inquiry include)\s*$",
    re.IGNORECASE,
)


def _closed(sentence: str) -> str:
    """A prose sentence that ends in ":" but introduces no list: ended with a full stop
    when it stands alone ("... underlying medical conditions [3]."), left out when it
    needs what followed ("... frequently, including:")."""
    text = sentence.rstrip()
    bare = strip_source_markers(text).rstrip()
    if not bare.endswith(":"):
        return sentence
    if _NEEDS_ITS_LIST.search(bare[:-1]):
        return ""
    # the words before the colon, as the source has them (a citation's snippet must be
    # the source's text); the answer ends the sentence with a full stop
    return re.sub(r"\s*(\[\d+\]\s*)*:$", "", bare)


def _introduces(block: Block) -> bool:
    if block.is_list or not block.sentences:
        return False
    last = block.sentences[-1]
    return last.endswith(":") or bool(POINTS_ELSEWHERE.search(last))


def _keep(sentence: str, bullet: bool = False) -> bool:
    if not sentence or INSTRUCTION.search(sentence) or ABOUT_THE_PAGE.search(sentence):
        return False
    if bullet:
        return True
    words = sentence.split()
    if len(words) <= 10 and sentence[-1] not in ".!:;)\"'”":
        return False  # a heading inside the section ("Diagnosing Asthma in Young Children")
    return (
        len(sentence) >= 3
        and not sentence.endswith("?")  # a question heading ("What causes X?")
        and len(words) >= 2
    )


# A section headed for a clearly asked type leads when its fused score is at least this
# share of the best section's.
_TYPED_SECTION_FLOOR = 0.6

# Words up to which a section's opening sentences frame any paragraph of it.
_FRAMED_SECTION = 400


@dataclass
class Passage:
    """What one section contributes: sentences in source order, then maybe a list."""

    source: Source
    sentences: list[str]
    lead: str = ""
    items: list[str] = field(default_factory=list)
    more_items: int = 0


def _label(source: Source) -> str:
    return str(source.hit.metadata.get("section", "")).split(">")[-1].strip()


@lru_cache(maxsize=1)
def _generic_stems() -> frozenset[str]:
    return frozenset(t for words in tokenize(sorted(INTENT_WORDS)) for t in words)


_STEMS: dict[str, frozenset[str]] = {}  # sentence -> its BM25 stems; sections repeat a lot


def _stems_of(texts: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Stems of each text, tokenizing only the ones not seen before (bounded cache)."""
    new = [t for t in dict.fromkeys(texts) if t not in _STEMS]
    if new:
        if len(_STEMS) > 200_000:
            _STEMS.clear()
        for text, stems in zip(new, tokenize(new), strict=True):
            _STEMS[text] = frozenset(stems)
    return {t: _STEMS[t] for t in texts}


class _Scorer:
    """Query-term overlap weighted by rarity among the candidate sentences."""

    def __init__(
        self, query: str, texts: list[str], asks: QuestionType | None = None, sure: bool = False
    ) -> None:
        self.asks = asks
        # a clearly asked type ("are leg cramps serious"): the sentence that says it
        # ("most spasms are benign") outranks one that only shares the subject's words
        self._answer_weight = (1.5, 0.5) if sure else (1.5, 0.2)
        # the paragraph retrieval matched best: likely where the answer is, unless a clearly
        # asked type is answered by another one
        self.matched_bonus = 0.1 if sure else 0.3
        generic = _generic_stems()
        terms = set(tokenize([query])[0]) if query.strip() else set()
        self.all_terms = frozenset(terms)
        # "get", "help", "after", "treatment": what is asked, not what it is about
        self.terms = (terms - generic) or terms
        self._stems = _stems_of(tuple(texts))
        df = Counter(t for s in self._stems.values() for t in s)
        n = max(len(texts), 1)
        self.idf = {t: math.log(1 + n / (1 + df[t])) for t in self.terms}
        self.definitional = bool(_DEFINITION_Q.search(query))

    def __call__(self, text: str) -> float:
        stems = self._stems.get(text)
        if stems is None:
            stems = _stems_of((text,))[text]
        hits = sum(self.idf[t] for t in self.terms & stems)
        answers = self.asks is not None and bool(self.asks.answers.search(text))
        if not hits:
            return 0.2 if answers else 0.0
        value = hits / math.log(3 + len(stems))
        if answers:
            factor, bonus = self._answer_weight
            value = value * factor + bonus  # says what was asked: "usually harmless", "caused by"
        if self.definitional and _DEFINES.match(text) and not text.endswith(":"):
            value *= 1.6  # "What are muscle spasms?": the sentence that says what they are
        return value


# Words of article titles that name no subject ("Do you have information about Smoking",
# "What I need to know about Diverticular Disease", "Understanding Muscle Spasms").
_TITLE_FILLER = frozenset(
    [
        "information",
        "understanding",
        "understand",
        "need",
        "know",
        "learn",
        "learning",
        "living",
        "guide",
        "facts",
        "fact",
        "overview",
        "introduction",
        "basics",
        "questions",
        "answers",
    ]
)


def _title_terms(source: Source) -> frozenset[str]:
    title = str(source.hit.metadata.get("title", ""))
    words = [w for w in re.findall(r"[a-z0-9]+", title.lower()) if w not in _TITLE_FILLER]
    return frozenset(tokenize([" ".join(words)])[0])


def _sentences_of(blocks: tuple[Block, ...]) -> list[str]:
    return [s for b in blocks for s in [*b.sentences, b.lead, *b.items] if s]


def compose(
    query: str,
    sources: list[Source],
    *,
    understanding: Understanding | None = None,
    max_words: int = 150,
    max_items: int = 8,
) -> Draft:
    """A short answer from the best section (and at most two more for other parts)."""
    if not sources or not query.strip():
        return Draft(text="", sources=sources)
    types = understanding.types if understanding is not None else ()
    confident = understanding is not None and understanding.confident
    parsed = {s.n: _blocks(s.hit.body) for s in sources}
    texts = [t for s in sources for t in _sentences_of(parsed[s.n])]
    score = _Scorer(query, list(dict.fromkeys(texts)), types[0] if types else None, confident)
    if not score.terms:
        return Draft(text="", sources=sources)
    heading_terms = {
        s.n: set(tokenize([str(s.hit.metadata.get("section", ""))])[0]) for s in sources
    }

    focus = set(tokenize([understanding.focus])[0]) if understanding is not None else set()

    # the subject retrieval ranked first, and the words the patient used: another article
    # is about the same thing only when its title adds nothing else ("Lupus" does not
    # make "Lupus Nephritis" the subject, nor "Snoring" "Sleep Apnea")
    titles = {s.n: _title_terms(s) for s in sources}
    subject = set(score.all_terms) | titles[sources[0].n]

    def on_subject(source: Source) -> bool:
        return titles[source.n] <= subject

    def heading_bonus(source: Source) -> float:
        path = str(source.hit.metadata.get("section", ""))
        if not on_subject(source):
            return 0.0  # the diagnosis of another condition does not answer this one's
        if types and types[0].headings.search(path):
            return 0.25 if confident else 0.1
        if any(t.headings.search(path) for t in types[1:]):
            return 0.05
        return 0.0

    def focus_bonus(source: Source) -> float:
        """The section is named for what is asked about ("Heat Cramps" for heat cramps)."""
        if not focus or not on_subject(source):
            return 0.0
        return 0.15 * len(focus & heading_terms[source.n]) / len(focus)

    # a section's words include its heading: "Heat Cramps" answers "what are heat cramps?"
    # even when its list never repeats them
    best_blocks = {
        s.n: max(
            [0.5 * score(_label(s)) if _label(s) else 0.0]
            + [_block_score(b, score) for b in parsed[s.n]]
        )
        for s in sources
    }
    top_block = max(best_blocks.values()) or 1.0

    def section_score(source: Source) -> float:
        # the section whose best passage shares most of the question's words gets 0.2
        lexical = 0.2 * best_blocks[source.n] / top_block if on_subject(source) else 0.0
        return source.hit.fused + heading_bonus(source) + focus_bonus(source) + lexical

    # a section left with nothing to say (only links to other sites) cannot answer
    ranked = sorted((s for s in sources if parsed[s.n]), key=lambda s: (-section_score(s), s.n))
    if confident and types and ranked and _catch_all(parsed[ranked[0].n], score, types[0]):
        # a clear "when should I see a doctor": the section headed for it, when the subject's
        # articles have one that retrieval found close enough, before a long general one
        # (a whole article captured without its headings) whose best passage does not say
        floor = _TYPED_SECTION_FLOOR * max(s.hit.fused for s in ranked)
        typed = [
            s
            for s in ranked
            if on_subject(s)
            and s.hit.fused >= floor
            and types[0].headings.search(str(s.hit.metadata.get("section", "")))
        ]
        if typed and typed[0] is not ranked[0]:
            ranked = [typed[0], *[s for s in ranked if s is not typed[0]]]
    if not ranked:
        return Draft(text="", sources=sources)
    primary = ranked[0]
    passages = [_passage(primary, parsed[primary.n], score, max_words, max_items)]
    # Another part of the question (a cause *and* a treatment): a section whose heading
    # answers a type the first section's heading does not.
    path = str(primary.hit.metadata.get("section", ""))
    # the type asked, when the best section is about the subject but not about that
    # ("spasms in my neck after radiation, what helps": the condition, then its treatment)
    asked = list(types[:1]) if confident else []
    open_types = [t for t in [*asked, *types[1:]] if not t.headings.search(path)]
    for source in ranked[1:4]:
        if not on_subject(source):
            continue  # the diagnosis of lupus nephritis is not the rest of lupus's answer
        heading = str(source.hit.metadata.get("section", ""))
        wanted = [t for t in open_types if t.headings.search(heading)]
        if not wanted:
            continue
        open_types = [t for t in open_types if t not in wanted]
        # read with the first section's subject: its treatment, not any treatment
        related = _Scorer(f"{query} {_label(primary)}", texts, wanted[0])
        passages.append(_passage(source, parsed[source.n], related, max_words // 2, max_items))
    passages = [p for p in passages if p.sentences or p.items]
    if types and types[0].name == "definition" and focus:
        passages = _definition_first(passages, sources, parsed, score, focus)
    if not passages:
        return Draft(text="", sources=sources)
    return _draft(passages, sources)


def _catch_all(blocks: tuple[Block, ...], score: _Scorer, asked: QuestionType) -> bool:
    """A long section whose best sentence for the question does not answer what is asked
    ("should I see a doctor about leg cramps": the leg-cramp sentence of an article's long
    introduction names no doctor)."""
    if sum(b.words for b in blocks) <= _FRAMED_SECTION:
        return False
    best = max(_sentences_of(blocks), key=score, default="")
    # it answers when it says what is asked *about what was asked*: "leg cramps during
    # walking ... due to" for "why do I get leg cramps when I walk", not "self-care
    # strategies ... can help manage and prevent them" for "how do I stop them happening"
    specific = len(score.terms & _stems_of((best,))[best]) >= 2
    return not (specific and asked.answers.search(best))


def _definition_first(
    passages: list[Passage],
    sources: list[Source],
    parsed: dict[int, tuple[Block, ...]],
    score: _Scorer,
    focus: set[str],
) -> list[Passage]:
    """ "What is X?" opens with the sentence that says what X is, when the chosen section
    (often a list: "X is characterized by: ...") does not."""

    def defines(sentence: str) -> bool:
        """ "A muscle spasm is ...": the subject, before "is", names the focus."""
        found = _DEFINES.match(sentence)
        if not found or sentence.rstrip().endswith(":"):
            return False
        return focus <= set(tokenize([found.group(0)])[0])

    if passages and passages[0].sentences and defines(passages[0].sentences[0]):
        return passages
    best: tuple[float, Source, str] | None = None
    for source in sources:
        for block in parsed[source.n]:
            for sentence in block.sentences:
                if defines(sentence) and len(sentence.split()) <= 45:
                    value = score(sentence)
                    if value > 0 and (best is None or value > best[0]):
                        best = (value, source, sentence)
    if best is None:
        return passages
    _, source, sentence = best
    for passage in passages:
        if sentence in passage.sentences:
            passage.sentences.remove(sentence)
    return [Passage(source, [sentence]), *[p for p in passages if p.sentences or p.items]]


def _block_score(block: Block, score: _Scorer) -> float:
    if block.is_list:
        heads = score(block.lead) if block.lead else 0.0
        items = [score(i) for i in block.items]
        return max(heads, max(items), sum(items) / math.sqrt(len(items)))
    return max((score(s) for s in block.sentences), default=0.0)


def _passage(
    source: Source, blocks: tuple[Block, ...], score: _Scorer, max_words: int, max_items: int
) -> Passage:
    """The part of one section that answers: the whole section when it is short."""
    if not blocks:
        return Passage(source, [])
    total = sum(b.words for b in blocks)
    lists = [b for b in blocks if b.is_list]
    if total <= max_words + 20 and len(lists) <= 1:
        whole = [s for b in blocks if not b.is_list for s in b.sentences]
        return _with_list(Passage(source, whole), lists[0] if lists else None, max_items)
    # The search matched a chunk of the section best: the answer is likely in it, but a
    # block elsewhere in the section that says what was asked ("usually harmless") wins.
    matched = _normalise(str(source.hit.metadata.get("matched_body", "")))
    scores = [
        _block_score(b, score) + (score.matched_bonus if matched and _within(b, matched) else 0.0)
        for b in blocks
    ]
    best = max(range(len(blocks)), key=lambda i: (scores[i], -i))
    block = blocks[best]
    if block.is_list:
        # a list: its whole, under its lead-in, after the section's opening sentence when
        # the section opens with one ("Gout is a form of arthritis. Symptoms include: ...")
        prose: list[str] = []
        if not block.lead and best > 0 and not blocks[best - 1].is_list:
            prose = _tail(blocks[best - 1].sentences, max_words // 2)
        elif best > 0 and not blocks[0].is_list and blocks[0].sentences:
            opening = blocks[0].sentences[0]
            if not DANGLING.match(opening) and len(opening.split()) <= 45:
                prose = [opening]
        return _with_list(Passage(source, prose), block, max_items)
    # A reader meets the section's opening first: when the best paragraph is further in,
    # the answer opens with the section's own first sentences ("Many germs can cause
    # pneumonia. ... less often, fungi.") and then reads on at the best paragraph.
    # Not in a long section (a whole article captured without its headings): its opening
    # is the article's introduction, not the frame of the paragraph that answers.
    first_lines: list[str] = []
    used = 0  # words in first_lines
    if best > 0 and not blocks[0].is_list and blocks[0].sentences and total <= _FRAMED_SECTION:
        for sentence in blocks[0].sentences:
            size = len(sentence.split())
            if (DANGLING.match(sentence) and not first_lines) or (first_lines and used + size > 50):
                break
            first_lines.append(sentence)
            used += size
        if first_lines and _introduces(Block(sentences=[first_lines[-1]])):
            used -= len(first_lines.pop().split())
    sentences = first_lines + _window(blocks, best, score, max(max_words - used, 40))
    # too short to stand alone (one line): read on into the next paragraphs, in order
    following_index = best + 1
    while (
        sum(len(x.split()) for x in sentences) < 40
        and following_index < len(blocks)
        and not blocks[following_index].is_list
    ):
        for extra in blocks[following_index].sentences:
            if sum(len(x.split()) for x in sentences) + len(extra.split()) > max_words:
                break
            sentences.append(extra)
        following_index += 1
    best = following_index - 1
    following = blocks[best + 1] if best + 1 < len(blocks) else None
    leads_in = block.sentences and _introduces(Block(sentences=[sentences[-1]]))
    return _with_list(
        Passage(source, sentences),
        following if following is not None and following.is_list and leads_in else None,
        max_items,
    )


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _within(block: Block, matched: str) -> bool:
    first = (block.sentences or [block.lead] if not block.is_list else [block.items[0]])[0]
    return bool(first) and _normalise(first)[:80] in matched


def _with_list(passage: Passage, block: Block | None, max_items: int) -> Passage:
    if block is not None:
        passage.lead = block.lead
        passage.items = block.items[:max_items]
        passage.more_items = max(0, len(block.items) - max_items)
    if (
        passage.sentences
        and _introduces(Block(sentences=[passage.sentences[-1]]))
        and not (passage.items)
    ):
        passage.sentences.pop()  # "…include the following:" with its list left out
    return passage


def _tail(sentences: list[str], budget: int) -> list[str]:
    out: list[str] = []
    for sentence in reversed(sentences):
        if out and sum(len(s.split()) for s in out) + len(sentence.split()) > budget:
            break
        out.insert(0, sentence)
        if not DANGLING.match(sentence):
            break
    return out


def _window(blocks: tuple[Block, ...], index: int, score: _Scorer, max_words: int) -> list[str]:
    """Sentences of paragraph ``index`` around its best one, within ``max_words``, never
    opening on a sentence that leans on the one before it."""
    sentences = blocks[index].sentences
    best = max(range(len(sentences)), key=lambda i: (score(sentences[i]), -i))
    start = 0
    # start at the paragraph's beginning unless that would push the best sentence out
    if sum(len(s.split()) for s in sentences[: best + 1]) > max_words:
        start = best
        while start > 0 and DANGLING.match(sentences[start]):
            start -= 1
    out: list[str] = []
    words = 0
    for sentence in sentences[start:]:
        size = len(sentence.split())
        if out and words + size > max_words:
            break
        out.append(sentence)
        words += size
    if out and DANGLING.match(out[0]) and index > 0 and start == 0:
        previous = blocks[index - 1]
        if not previous.is_list and previous.sentences:
            out.insert(0, previous.sentences[-1])
    return out


def _tag(sentence: str, n: int, prose: bool = False) -> str:
    sentence = strip_source_markers(sentence).rstrip()
    if sentence.endswith(":"):
        return f"{sentence[:-1]} [{n}]:"
    if sentence and sentence[-1] in ".!?":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    # a sentence of a paragraph whose colon lost its list ends like one
    return f"{sentence} [{n}]." if prose and sentence[-1:].isalnum() else f"{sentence} [{n}]"


def _draft(passages: list[Passage], sources: list[Source]) -> Draft:
    blocks: list[str] = []
    snippets: dict[int, list[str]] = {}
    sentences: list[str] = []
    for passage in passages:
        n = passage.source.n
        used = [*passage.sentences, passage.lead, *passage.items]
        snippets.setdefault(n, []).extend(s for s in used if s)
        sentences.extend(s for s in used if s)
        if passage.sentences:
            blocks.append(" ".join(_tag(s, n, prose=True) for s in passage.sentences))
        if passage.items:
            lead = passage.lead or (f"{_label(passage.source)}:" if _label(passage.source) else "")
            lines = [_tag(lead, n) if passage.lead else lead] if lead else []
            lines += [f"- {_tag(item, n)}" for item in passage.items]
            if passage.more_items:
                lines.append(f"(and {passage.more_items} more in the source [{n}])")
            blocks.append("\n".join(lines))
    return Draft(text="\n\n".join(blocks), sources=sources, snippets=snippets, sentences=sentences)
