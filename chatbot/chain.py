"""The conversational retrieval chain, built from named LCEL steps.

    prepare (length check, triage) -> (emergency/urgent | refuse | other language
                                        | rephrase -> retrieve -> answer)

``build_chain(settings, retriever, triage, llm=None)`` returns a LangChain ``Runnable`` that
takes ``{"question": str, "history": [Turn, ...]}`` and returns a :class:`Reply`.
History is passed in explicitly (no ``RunnableWithMessageHistory``); :class:`Chatbot`
keeps one bounded history per session. Components are built once in
:func:`build_chatbot` and passed in.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda

from chatbot.answer import (
    NO_ANSWER,
    NOT_COVERED,
    NOT_MENTIONED,
    Draft,
    enforce_citations,
    finalize,
    number_sources,
    strip_source_markers,
)
from chatbot.compose import compose
from chatbot.config import Settings
from chatbot.coverage import (
    MedicalTerms,
    asks_more_than,
    listed,
    load_medical_terms,
    not_in_library,
)
from chatbot.lay_words import LayWords, load_lay_words
from chatbot.rephrase import Rewrite, rewrite, subject_words, topic_after
from chatbot.reply import Citation, Kind, Reply, RetrievedChunk, TriageRecord
from chatbot.retrieve import Hit, HybridRetriever, tokenize
from chatbot.safety import (
    Assessment,
    ReplyWriter,
    Triage,
    is_personal_medication_question,
    strip_instructions,
)
from chatbot.store import StoreError, StoreUnavailable
from chatbot.understand import QuestionTypes, Understanding, load_question_types

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "Sorry, the service is temporarily unavailable, so I can't answer right now. "
    "Please try again in a moment."
)
# A damaged or missing index: patients get this; what to do (and the paths) goes to the log.
INDEX_PROBLEM = (
    "The library of health articles needs attention from an administrator, who can find "
    "the details in the app's log."
)
INTERNAL_ERROR = "Sorry, something went wrong while answering. Please try again."
EMPTY = 'Please type a question about your health, for example: "What causes muscle cramps?"'
# A message this short right after an emergency or urgent reply, and referring back to it
# ("is this serious", "what can he do meanwhile"), is read as its follow-up.
_FOLLOW_UP_WORDS = 12
_REFERS_BACK = re.compile(
    r"\b(this|that|it|its|he|she|him|her|his|they|them|meanwhile|until then|till then|"
    r"while (we|i) wait|now what|what (should|do|can|must) (i|we) do|emergency|ambulance|"
    r"hospital|a&e|serious|urgent|wait)\b",
    re.IGNORECASE,
)
# "thanks", "ok bye": the end of a conversation, not a question the articles must answer
ACKNOWLEDGED = "You're welcome. Ask another question whenever you like."
_ACKNOWLEDGEMENT = re.compile(
    r"\W*(?:(?:ok(?:ay)?|great|cool|perfect|got it)\W+)?"
    r"(?:ok(?:ay)?|thanks?(?: you)?|thank u|thx|ty|cheers|great|cool|got it|perfect|"
    r"that helps|that'?s helpful|bye|goodbye)"
    r"(?:\s+(?:so much|a lot|very much|again))?(?:\W+(?:bye|goodbye))?[\W]*",
    re.IGNORECASE,
)
# Control and invisible characters, and lone surrogates (the tokenizer rejects those).
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]"
)


@dataclass
class Turn:
    question: str
    query: str
    kind: str
    topic: str = ""


@dataclass
class Session:
    history: deque[Turn]
    lock: threading.Lock = field(default_factory=threading.Lock)


def clean_question(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return " ".join(_CONTROL.sub(" ", text).split())


def standalone(question: str, topic: str, triage: Triage) -> Rewrite:
    """The question as searched: instructions to the assistant out, typos fixed, a
    follow-up completed with the conversation's topic."""
    asked = strip_instructions(question) or question
    return rewrite(triage.fix_typos(asked), topic)


REPHRASE_PROMPT = (
    "Rewrite the user's last message as one standalone question about health that can be "
    "understood without the conversation. Keep the medical terms. Reply with the question only."
)
ANSWER_PROMPT = (
    "You answer health questions for patients using ONLY the numbered sources below. "
    "Write 40 to 150 words in plain language. After every sentence put the number of the "
    "source that supports it, like [1] or [2]. Cite only the numbers given. If the sources "
    "do not answer the question, say so. Do not give personal doses or tell anyone to start "
    "or stop a medicine. Do not add a disclaimer; it is added for you."
)


def build_chain(
    settings: Settings,
    retriever: HybridRetriever,
    triage: Triage,
    llm: BaseChatModel | None = None,
    question_types: QuestionTypes | None = None,
    lay_words: LayWords | None = None,
    medical_terms: MedicalTerms | None = None,
) -> Runnable[dict[str, Any], Reply]:
    """Compose the chain; ``llm=None`` uses the offline grounded composer."""
    writer = ReplyWriter(triage.tables, settings.region)
    types = question_types or load_question_types(settings.question_types_file)
    lay = lay_words or load_lay_words(settings.lay_words_file)
    terms = medical_terms or load_medical_terms(settings.medical_terms_file)

    def prepare(state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        question = clean_question(str(state.get("question") or ""))
        history: list[Turn] = list(state.get("history") or [])
        out: dict[str, Any] = {"question": question, "history": history, "timings": {}}
        # The length limit comes first, so no check ever reads more than it allows;
        # an over-long message is still triaged on its allowed part.
        limit = settings.max_question_chars
        too_long = len(question) > limit
        # an over-long message: its start and its end (where a plea for help often is)
        assessed = f"{question[:limit]}\n{question[-limit:]}" if too_long else question
        out["assessment"] = triage.assess(assessed) if assessed else None
        previous = history[-1] if history else None
        thanks = bool(question) and _ACKNOWLEDGEMENT.fullmatch(question) is not None
        if (
            previous is not None
            and previous.kind in ("emergency", "urgent")
            and out["assessment"] is not None
            and not out["assessment"].takes_over
            and len(question.split()) <= _FOLLOW_UP_WORDS
            and _REFERS_BACK.search(question)
        ):
            # "is this an emergency?" right after an urgent reply: read with the message it
            # follows, so the instruction is given again rather than "not covered"
            together = triage.assess(f"{previous.question}\n{assessed}")
            if together.takes_over and not thanks:
                out["assessment"] = together
                out["assessed"] = f"{previous.question}\n{question}"
        if not question:
            out["refusal"] = EMPTY
        elif thanks:
            out["refusal"] = ACKNOWLEDGED
        elif too_long:
            out["refusal"] = (
                f"Your message is too long ({len(question):,} characters). Please ask in "
                f"under {settings.max_question_chars:,} characters."
            )
        out["timings"]["triage_ms"] = out["assessment"].ms if out["assessment"] else 0.0
        out["timings"]["prepare_ms"] = _ms(started)
        return out

    def refuse(state: dict[str, Any]) -> Reply:
        return _timed(finalize("no_answer", state["refusal"], settings.disclaimer), state)

    def emergency(state: dict[str, Any]) -> Reply:
        assessment: Assessment = state["assessment"]
        body = writer.instruction(assessment)
        # the category only: a patient's words never go to the log
        log.warning(
            "triage %s: %s (%s)",
            assessment.level,
            ",".join(assessment.categories),
            assessment.language,
        )
        kind: Kind = "emergency" if assessment.level == "emergency" else "urgent"
        # a follow-up read with the message it follows keeps both, for the next follow-up
        query = state.get("assessed") or state["question"]
        reply = finalize(kind, body, settings.disclaimer, query=query)
        reply.triage = _triage_record(assessment)
        return _timed(reply, state)

    def other_language(state: dict[str, Any]) -> Reply:
        assessment: Assessment = state["assessment"]
        body = writer.english_only(assessment)
        if assessment.crisis:
            body += "\n\n" + writer.crisis_note(assessment)
        reply = finalize("no_answer", body, settings.disclaimer, query=state["question"])
        reply.triage = _triage_record(assessment)
        return _timed(reply, state)

    def rephrase(state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        history: list[Turn] = state["history"]
        topic = history[-1].topic if history else ""
        heuristic = standalone(state["question"], topic, triage)
        state["query"] = heuristic.query
        # "my calf just locked up": searched with the library's word for it too
        state["lay_words"] = lay.library_words(state["question"])
        if llm is not None and history and heuristic.follow_up:
            try:
                state["query"] = _llm_rephrase(llm, history, state["question"]) or heuristic.query
            except Exception as exc:
                log.warning("LLM rephrase failed, using the heuristic rewrite: %s", exc)
        # what is asked is read from the patient's words ("could her pills be doing it" asks
        # a cause, though the library's word for pills, "medication", is a treatment cue)
        state["understanding"] = types.understand(state["query"])
        if state["lay_words"] and state["lay_words"].lower() not in state["query"].lower():
            state["query"] = f"{state['query'].rstrip()} ({state['lay_words']})"
        state["follow_up"] = heuristic.follow_up
        state["timings"]["rephrase_ms"] = _ms(started)
        return state

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        # every search of this turn reads one index version
        snapshot = retriever.reader.snapshot()

        def vocabulary(article: str) -> frozenset[str]:
            return retriever.article_terms(article, snapshot)

        state["vocabulary"] = vocabulary  # the answer step checks against the same version
        state["known"] = lambda stem: retriever.knows(stem, snapshot)

        understanding: Understanding = state["understanding"]
        # prefer the sections a question type names only when the type is clear: on real
        # consumer questions an unsure boost costs more than it gains (docs/benchmarks.md)
        boost = None if understanding.confident else 0.0
        # a title the patient names ("about thalassemia treatment") points at its article;
        # a follow-up's subject was put there by the rewrite, not by the patient
        title = 0.0 if state.get("follow_up") else None
        state["hits"] = retriever.search_sections(
            state["query"],
            settings.top_k,
            timings=timings,
            section_boost=boost,
            title_boost=title,
            snapshot=snapshot,
        )
        history: list[Turn] = state["history"]
        topic = history[-1].topic if history else ""
        # A long story or a follow-up searches badly as written; asked plainly ("how to
        # treat muscle cramps") it finds the section a reader would turn to. Both count.
        subject = topic if state.get("follow_up") else understanding.focus
        asked = understanding.primary if understanding.confident else None
        unheaded = asked is not None and not any(
            asked.headings.search(str(h.metadata.get("section", ""))) for h in state["hits"]
        )
        # "when do I actually need a doctor for my leg cramps": none of the sections found
        # is headed for what is clearly asked; asked plainly, the search finds the one that is
        if state.get("follow_up") or len(state["question"].split()) > 25 or unheaded:
            plain = understanding.plain_question(" ".join(subject.split()[:4]))
            if plain:
                extra = retriever.search_sections(plain, settings.top_k, snapshot=snapshot)
                state["hits"] = _merge(state["hits"], extra, settings.top_k)
        if (
            topic
            and topic.lower() not in state["query"].lower()
            and not supported_hits(state["query"], state["hits"], settings, vocabulary)
        ):
            # "ok and what should she do when it happens": a follow-up the rewrite did not
            # recognise. Searched with the conversation's topic, it may be answerable.
            query = f"{state['query'].rstrip(' ?.!')} ({topic})"
            hits = retriever.search_sections(
                query, settings.top_k, snapshot=snapshot, title_boost=0.0
            )
            if supported_hits(query, hits, settings, vocabulary):
                state["query"], state["hits"] = query, hits
                state["understanding"] = types.understand(query)
        state["timings"].update(timings)
        state["timings"]["retrieve_ms"] = _ms(started)
        return state

    def answer(state: dict[str, Any]) -> Reply:
        started = time.perf_counter()
        hits: list[Hit] = state["hits"]
        query = state["query"]
        # the patient's own words, typos fixed ("avod crams wen runing": avoid cramps running)
        own = triage.fix_typos(state["question"]) if not state.get("follow_up") else ""
        if own and state.get("lay_words"):
            own = f"{own} {state['lay_words']}"
        relevant = supported_hits(query, hits, settings, state.get("vocabulary"), own)
        # "does quinine help with night cramps": the library never names quinine; say so,
        # and decline when nothing else the question asks about is in the library
        missing = [
            name
            for name in not_in_library(state["question"], terms, state.get("known"))
            if not lay.library_words(name)  # "botox": the articles say botulinum toxin
        ]
        if missing and not asks_more_than(state["question"], missing, state.get("known")):
            relevant = []
        backend = "composer"
        body, sentences = "", []
        citations: list[Citation] = []
        if relevant:
            sources = number_sources(relevant)
            draft: Draft | None = None
            if llm is not None:
                try:
                    draft = _llm_answer(llm, query, sources)
                    backend = f"llm:{type(llm).__name__}"
                except Exception as exc:
                    log.warning("LLM unreachable, falling back to the grounded composer: %s", exc)
                    backend = "composer (llm fallback)"
            if draft is not None:
                body, citations = enforce_citations(draft)
                if not citations:
                    log.warning("LLM answer cited no given source; using the grounded composer")
                    backend, draft = "composer (llm fallback)", None
            if draft is None:
                draft = compose(query, sources, understanding=state.get("understanding"))
                body, citations = enforce_citations(draft)
            sentences = draft.sentences
        assessment: Assessment | None = state.get("assessment")
        notes: list[str] = []
        if assessment is not None and assessment.crisis:
            notes.append(writer.crisis_note(assessment))
        if assessment is not None and assessment.safety_net:
            notes.append(writer.safety_net(assessment))
        if missing and citations:
            notes.insert(0, NOT_MENTIONED.format(names=listed(missing)))
        if not citations:
            declined = NOT_COVERED.format(names=listed(missing)) if missing else NO_ANSWER
            body = "\n\n".join([declined, *notes])
            reply = finalize("no_answer", body, settings.disclaimer, query=query)
        else:
            if is_personal_medication_question(state["question"]):
                body = f"{writer.medication_note()}\n\n{body}"
            body = "\n\n".join([*notes, body])
            reply = finalize("answer", body, settings.disclaimer, citations=citations, query=query)
        if assessment is not None:
            reply.triage = _triage_record(assessment)
        reply.backend = backend
        reply.sentences = [strip_source_markers(s) for s in sentences]
        reply.retrieved = [_inspect(h) for h in hits]
        state["timings"]["answer_ms"] = _ms(started)
        return _timed(reply, state)

    grounded = (
        RunnableLambda(rephrase, name="rephrase")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(answer, name="answer")
    )
    branch: Runnable[dict[str, Any], Reply] = RunnableBranch(
        (
            lambda s: s.get("assessment") is not None and s["assessment"].takes_over,
            RunnableLambda(emergency, name="emergency"),
        ),
        (lambda s: bool(s.get("refusal")), RunnableLambda(refuse, name="refuse")),
        (
            lambda s: s["assessment"].language not in ("en",),
            RunnableLambda(other_language, name="other_language"),
        ),
        grounded,
    )
    return (RunnableLambda(prepare, name="prepare") | branch).with_config(run_name="health_chat")


def supported_hits(
    query: str,
    hits: list[Hit],
    settings: Settings,
    article_terms: Callable[[str], frozenset[str]] | None = None,
    own: str = "",
) -> list[Hit]:
    """Hits that support the question: close in meaning, and from an article that names
    its subject.

    A hit above ``confident_relevance`` counts on meaning alone; one above
    ``min_relevance`` must come from an article that contains a word of the question's
    subject (anywhere in it, not only in this section: "Prevention Strategies" of a
    cramps article answers "does water prevent cramps?"), so that "How do I treat
    diabetes?" is not answered from an article that never says diabetes.
    """
    subject = set(tokenize([" ".join(subject_words(own or query))])[0])
    kept = []
    for hit in hits:
        if hit.dense >= settings.confident_relevance:
            kept.append(hit)
            continue
        if hit.dense < settings.min_relevance:
            continue
        if not subject:
            kept.append(hit)
            continue
        article = str(hit.metadata.get("article_id", ""))
        vocabulary = (
            article_terms(article)
            if article_terms is not None and article
            else frozenset(tokenize([hit.text])[0])
        )
        if subject & vocabulary:
            kept.append(hit)
    return kept


def _merge(first: list[Hit], second: list[Hit], k: int) -> list[Hit]:
    """Sections found by either search, each once with its better score, best first."""
    best: dict[tuple[str, str], Hit] = {}
    for hit in [*first, *second]:
        key = (str(hit.metadata.get("article_id", "")), str(hit.metadata.get("section", "")))
        if key not in best or hit.fused > best[key].fused:
            best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.fused, -h.dense))[:k]


def _triage_record(assessment: Assessment) -> TriageRecord:
    return TriageRecord(
        level=assessment.level,
        categories=list(assessment.categories),
        crisis=assessment.crisis,
        language=assessment.language,
        safety_net=assessment.safety_net,
        evidence=[
            f"{f.layer} {f.category}: {f.evidence}"
            + (f" (not counted: {f.suppressed})" if f.suppressed else "")
            for f in assessment.findings
        ],
    )


def _timed(reply: Reply, state: dict[str, Any]) -> Reply:
    reply.timings = dict(state.get("timings") or {})
    return reply


def _inspect(hit: Hit) -> RetrievedChunk:
    m = hit.metadata
    return RetrievedChunk(
        chunk_id=hit.chunk_id,
        article_id=str(m.get("article_id", "")),
        title=str(m.get("title", "")),
        section=str(m.get("section", "")),
        source=str(m.get("source_path", "")),
        text=hit.body,
        dense=round(hit.dense, 4),
        bm25=None if hit.bm25 is None else round(hit.bm25, 4),
        fused=round(hit.fused, 6),
        dense_rank=hit.dense_rank,
        bm25_rank=hit.bm25_rank,
    )


def _llm_rephrase(llm: BaseChatModel, history: list[Turn], question: str) -> str:
    lines = [f"User: {t.question}" for t in history[-4:]]
    messages = [
        SystemMessage(REPHRASE_PROMPT),
        HumanMessage("Conversation:\n" + "\n".join(lines) + f"\nLast message: {question}"),
    ]
    text = str(llm.invoke(messages).content).strip().splitlines()
    return text[0].strip() if text else ""


def _llm_answer(llm: BaseChatModel, query: str, sources: list[Any]) -> Draft:
    numbered = "\n\n".join(
        f"[{s.n}] {s.hit.metadata.get('title', '')} — {s.hit.metadata.get('section', '')}\n"
        f"{strip_source_markers(s.hit.body)}"
        for s in sources
    )
    messages = [
        SystemMessage(ANSWER_PROMPT),
        HumanMessage(f"Sources:\n{numbered}\n\nQuestion: {query}"),
    ]
    content = llm.invoke(messages).content
    return Draft(text=str(content), sources=sources)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def make_llm(settings: Settings) -> BaseChatModel | None:
    """The chat model the settings select, or None for the offline composer."""
    if settings.llm_provider == "ollama":
        from langchain_ollama import ChatOllama

        kwargs: dict[str, Any] = {"model": settings.llm_model, "temperature": 0}
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
        kwargs["client_kwargs"] = {"timeout": settings.llm_timeout}
        return ChatOllama(**kwargs)
    if settings.llm_provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "not-needed",  # type: ignore[arg-type]
            timeout=settings.llm_timeout,
            max_retries=0,
            temperature=0,
        )
    return None


class Chatbot:
    """Sessions around the chain: each session has its own bounded history."""

    def __init__(
        self,
        settings: Settings,
        chain: Runnable[dict[str, Any], Reply],
        retriever: HybridRetriever,
        triage: Triage,
        max_sessions: int = 10_000,
        lay_words: LayWords | None = None,
    ) -> None:
        self.triage = triage
        # the same table the chain searches with: a turn's topic uses the library's words
        self.lay_words = lay_words or load_lay_words(settings.lay_words_file)
        self.settings = settings
        self.chain = chain
        self.retriever = retriever
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load what the first question would otherwise wait for: the served index's
        BM25 and title tables, and triage's language model and encoder session."""
        self.retriever.warm()
        self.triage.warm()

    def _session(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                session = Session(history=deque(maxlen=max(self.settings.history_turns, 1)))
                self._sessions[session_id] = session
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
            self._sessions.move_to_end(session_id)
            return session

    def history(self, session_id: str) -> list[Turn]:
        return list(self._session(session_id).history)

    def reset(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def ask(self, question: str, session_id: str = "default") -> Reply:
        session = self._session(session_id)
        started = time.perf_counter()
        with session.lock:
            history = list(session.history)
            try:
                reply = self.chain.invoke({"question": question, "history": history})
            except StoreUnavailable as exc:
                log.error("store unavailable: %s", exc)
                reply = finalize("error", UNAVAILABLE, self.settings.disclaimer)
            except StoreError as exc:
                log.error("index problem: %s", exc)
                reply = finalize(
                    "error", f"{UNAVAILABLE}\n\n{INDEX_PROBLEM}", self.settings.disclaimer
                )
            except Exception:
                log.exception("answering failed")
                reply = finalize("error", INTERNAL_ERROR, self.settings.disclaimer)
            reply.timings["total_ms"] = _ms(started)
            if reply.kind in ("emergency", "urgent"):
                # kept so a short follow-up ("is this serious?") is read with it
                topic = history[-1].topic if history else ""
                asked = reply.query or clean_question(question)
                session.history.append(
                    Turn(question=asked, query=asked, kind=reply.kind, topic=topic)
                )
            elif reply.kind in ("answer", "no_answer") and reply.query:
                topic = history[-1].topic if history else ""
                asked = clean_question(question)
                cited = [f"{c.title} {c.section} {c.snippet}" for c in reply.citations]
                # "my calf locked up": the topic is the cramp, in the library's words
                lay = self.lay_words.library_words(asked)
                said = f"{self.triage.fix_typos(asked)} {lay}".strip()
                session.history.append(
                    Turn(
                        question=asked,
                        query=reply.query,
                        kind=reply.kind,
                        topic=topic_after(
                            said,
                            topic,
                            cited,
                            reply.query,
                            named=[x for c in reply.citations for x in (c.title, c.section)],
                        ),
                    )
                )
            return reply


def build_chatbot(
    settings: Settings,
    *,
    encoder: Any = None,
    llm: BaseChatModel | None = None,
    backend: Any = None,
    triage: Triage | None = None,
) -> Chatbot:
    """Build every component once, in one place, and wire them together."""
    from chatbot.embed import load_serving_encoder
    from chatbot.safety import triage_from_settings
    from chatbot.store import IndexReader, make_backend

    encoder = encoder or load_serving_encoder(settings)
    backend = backend or make_backend(settings)
    reader = IndexReader(backend, encoder.identity)
    retriever = HybridRetriever(reader, encoder, settings)
    triage = triage or triage_from_settings(settings, encoder)
    llm = llm if llm is not None else make_llm(settings)
    lay_words = load_lay_words(settings.lay_words_file)
    chain = build_chain(settings, retriever, triage, llm, lay_words=lay_words)
    return Chatbot(settings, chain, retriever, triage, lay_words=lay_words)
