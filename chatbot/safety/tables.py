"""The reviewed triage tables in ``data/triage/``: their schema, loading and validation.

Clinicians edit the YAML files, never this module:

* ``red_flags.yaml``: per category its level (emergency or urgent), what to tell the
  person to do, the guidance it follows, a first step, and rules written in the phrase
  language of :mod:`chatbot.safety.patterns`, each with example messages it must and
  must not fire on (the tests run every one);
* ``context.yaml``: the words that make a mention *not* an emergency now (negation, past
  events, "what if" and first-aid questions, general questions), the words that make it
  acute again, carer words, the typo table and non-English cue words;
* ``replies.yaml``: the reviewed reply templates per language and the numbers per region;
* ``exemplars.yaml``: labelled example sentences for the semantic layer;
* ``crisis_classifier.json`` (optional): the self-harm classifier's weights, written by
  ``scripts/train_crisis_classifier.py`` (:mod:`chatbot.safety.classifier`).

:func:`load_tables` reads and validates all of them; any mistake is a
:class:`TriageTableError` naming the file and the entry.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chatbot.safety.classifier import FILE_NAME as CLASSIFIER_FILE
from chatbot.safety.classifier import CrisisClassifier, CrisisClassifierError
from chatbot.safety.patterns import Compiler, PatternError

Level = Literal["emergency", "urgent"]
Action = Literal["ambulance", "emergency", "crisis", "urgent"]
Context = Literal["negated", "past", "hypothetical", "general", "joking", "resolved", "assessed"]
LANGUAGES = ("en", "hi", "hi-Latn", "es", "fr")
# the category whose finding brings the crisis line, whichever category wins
SELF_HARM = "self_harm"
_ALL_CONTEXTS: tuple[Context, ...] = (
    "negated",
    "past",
    "hypothetical",
    "general",
    "joking",
    "resolved",
    "assessed",
)


class TriageTableError(ValueError):
    """A triage table that is missing, malformed or fails its own checks."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleSpec(_Strict):
    id: str
    lang: str = "en"
    match: list[str] = Field(min_length=1)
    also: list[str] = Field(default_factory=list, description="one must appear in the message")
    unless: list[str] = Field(default_factory=list, description="benign context, same sentence")
    acute_overrides: bool = True
    explained_anywhere: list[str] = Field(
        default_factory=list,
        description="a benign explanation anywhere in the message sets the hit aside (a face "
        "already diagnosed as Bell's palsy, a leg numb from sitting cross-legged)",
    )
    explained_by: list[str] = Field(
        default_factory=list,
        description="benign context, same sentence, that holds even when the sentence is "
        "told as now (fainting at a blood test, an arm slept on)",
    )
    crisis: bool = Field(default=False, description="a hit also brings the crisis line")
    suppressed_by: list[Context] | None = Field(
        default=None, description="overrides the category's contexts for this rule"
    )
    mention_if: list[str] = Field(
        default_factory=list, description="words in the sentence that make a hit a mention"
    )
    mention_only: bool = Field(
        default=False, description="a hit is a mention (crisis line, no takeover), never a report"
    )
    crisis_unless: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    not_examples: list[str] = Field(default_factory=list)


class FirstStep(_Strict):
    text: dict[str, str]
    source: str


class CategorySpec(_Strict):
    level: Level
    action: Action
    name: dict[str, str]  # per language: "a heart attack"
    guidance: str
    first_step: FirstStep | None = None
    suppressed_by: list[Context] = Field(default_factory=lambda: list(_ALL_CONTEXTS))
    semantic_margin: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="semantic layer: the lead over 'none' this category needs (default: "
        "the TRIAGE_MARGIN setting)",
    )
    semantic_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="semantic layer: the closeness this category needs (default: the "
        "TRIAGE_THRESHOLD setting)",
    )
    semantic_escalate: list[str] = Field(
        default_factory=list,
        description="semantic layer: groups of words (a means at hand, a time, a goodbye); "
        "words of two different groups anywhere in the message make a sentence that is only "
        "close to this category count as a report",
    )
    stake_sets_aside: list[Context] = Field(
        default_factory=lambda: list[Context](["general"]),
        description='the contexts a stake in the message ("asking because I have 2 boxes '
        'here", "my nan\'s pens are in the fridge") sets aside; self-harm adds "hypothetical": '
        "the means at hand make a what-if a plan",
    )
    fever_led: bool = Field(
        default=False,
        description="semantic layer: the category's exemplars are led by a fever, so a "
        'sentence giving a normal temperature ("temp 37.2") drops its suggestion',
    )
    rules: list[RuleSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _english_first(self) -> CategorySpec:
        if "en" not in self.name:
            raise ValueError("every category needs an English name")
        if self.first_step is not None and "en" not in self.first_step.text:
            raise ValueError("every first step needs an English text")
        return self


class RedFlags(_Strict):
    version: int
    priority: list[str]
    vocabulary: dict[str, list[str]]
    categories: dict[str, CategorySpec]

    @model_validator(mode="after")
    def _consistent(self) -> RedFlags:
        if sorted(self.priority) != sorted(self.categories):
            missing = set(self.categories) ^ set(self.priority)
            raise ValueError(f"priority must list every category once; check {sorted(missing)}")
        if SELF_HARM not in self.categories:
            raise ValueError(f"a {SELF_HARM} category is required: it brings the crisis line")
        ids = [r.id for c in self.categories.values() for r in c.rules]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate rule ids: {sorted(dupes)}")
        return self


class ContextSpec(_Strict):
    typos: dict[str, str]
    emoji: dict[str, str] = Field(
        default_factory=dict, description='emoji read as a word: "💊" -> pills'
    )
    negation: list[str]
    negation_filler: list[str]
    not_negation_after: list[str]
    negative_start: list[str] = Field(
        default_factory=list,
        description='a short match that starts with one of these ("not breathing") is the red '
        'flag itself, so a word after it ("not breathing normal") does not deny it',
    )
    negation_list_breaks: list[str] = Field(
        default_factory=list,
        description='words that end a negated clause, so "no fever or rash" reading does not '
        'carry a negation on to the next symptom (Hindi "... nahi ho rahe aur peshab kaala": '
        "the negation belongs to the verb before it)",
    )
    negation_after: list[str]  # languages that negate after the word (Hindi "dard nahi")
    negation_after_filler: list[str]  # words allowed between ("dard bilkul nahi")
    joking: list[str]  # "lol", "haha": a figure of speech, not a report
    animal: list[str] = Field(
        default_factory=list,
        description='an animal is the patient ("cat is having a fit"): not a person\'s emergency',
    )
    not_joking: list[str]  # "(not fully joking)", "I'm serious": the joke marker is a cover
    resolved: list[str]  # "he's playing normally now": it is over ...
    unresolved: list[str]  # ... unless something is still going on
    assessed: list[str] = Field(
        default_factory=list,
        description='a clinician has already examined it and explained it ("A&E scanned me '
        'and said it\'s Bell\'s palsy", "the midwife checked my bp, fine"): like resolved, '
        "set aside unless something is still going on, and also for the categories where "
        "symptoms that pass still need help (a stroke's)",
    )
    acute: list[str]
    durations: list[str] = Field(
        default_factory=list,
        description='acute too ("for 20 mins", "since last night"), unless the sentence dates '
        'the whole event ("2 yrs ago ... went droopy for about 20 mins then came back")',
    )
    past: list[str]
    present: list[str]  # present tense right at the symptom: a past cue elsewhere is history
    past_tense: list[str]  # "was", "had", "collapsed": the clause itself tells a past event
    hypothetical: list[str]
    question_start: list[str]
    info_words: list[str]
    generic_start: list[str]
    personal: list[str]
    carer: dict[str, list[str]]  # him / her / them -> words that name the person
    symptoms: list[str]  # for the safety net: a symptom described by the writer
    everyday_symptoms: list[str]  # ... but not these alone: the library's own subject
    long_standing: list[str] = []  # "for months", "every evening": not sudden, no safety net
    professional: list[str] = Field(
        default_factory=list,
        description="\"I'm a GP, what is the Wells threshold\": a professional's opening is "
        "not the writer's own case; the question after it may still be a general one",
    )
    personal_stake: list[str] = Field(
        default_factory=list,
        description='"asking because I have 2 boxes here": anywhere in the message, it makes '
        "a general-sounding question the writer's own",
    )
    accidental: list[str] = Field(
        default_factory=list,
        description='"accidentally took 2 more": a dose taken in error does not tell intent',
    )
    intended: list[str] = Field(
        default_factory=list,
        description='"my 15 year old", "on purpose", "wanted it all to stop": an overdose by '
        "someone old enough to mean it, or told as meant, keeps the crisis line even when a "
        "rule's crisis_unless words (a son, a daughter) are there",
    )
    # "temp of 37.5", "36.8", "98.6F": a reading that is not a fever; the encoder cannot
    # read numbers, so its fever-driven suggestions for that sentence are dropped
    normal_temperature: list[str] = []
    fever_reading: list[str] = []  # "38.5", "39", "102F": a fever, which keeps them
    languages: dict[str, list[str]]  # cue words of languages the detector misreads
    examples: dict[Context | Literal["acute"], list[str]]


class RegionSpec(_Strict):
    name: str
    emergency: str
    ambulance: str
    crisis: str = ""
    poison: str = ""
    urgent: str = ""


class ReplyTemplates(_Strict):
    ambulance: str
    emergency: str
    crisis: str
    crisis_danger: str
    urgent: str
    first_step: str
    carer: dict[str, str]  # him / her / them
    other_numbers: str
    crisis_note: str
    safety_net: str
    english_only: str
    medication_note: str


class Replies(_Strict):
    regions: dict[str, RegionSpec]
    languages: dict[str, ReplyTemplates]

    @model_validator(mode="after")
    def _all_languages(self) -> Replies:
        missing = [lang for lang in LANGUAGES if lang not in self.languages]
        if missing:
            raise ValueError(f"reply templates missing for {missing}")
        return self


class Tables(BaseModel):
    """Everything triage reads from ``data/triage/``, validated."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    red_flags: RedFlags
    context: ContextSpec
    replies: Replies
    exemplars: dict[str, list[str]]
    crisis_classifier: CrisisClassifier | None = None

    @cached_property
    def compiler(self) -> Compiler:
        return Compiler(self.red_flags.vocabulary)


def _read(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TriageTableError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TriageTableError(f"{path}: cannot be read: {exc}") from None


def _validated(model: type[BaseModel], path: Path) -> BaseModel:
    try:
        return model.model_validate(_read(path))
    except ValidationError as exc:
        raise TriageTableError(f"{path}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
    )


def load_tables(folder: Path) -> Tables:
    red_flags = _validated(RedFlags, folder / "red_flags.yaml")
    context = _validated(ContextSpec, folder / "context.yaml")
    replies = _validated(Replies, folder / "replies.yaml")
    raw = _read(folder / "exemplars.yaml")
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in raw.items()
    ):
        raise TriageTableError(f"{folder / 'exemplars.yaml'}: must map labels to lists of text")
    assert isinstance(red_flags, RedFlags)
    unknown = set(raw) - set(red_flags.categories) - {"none"}
    if unknown:
        raise TriageTableError(
            f"{folder / 'exemplars.yaml'}: labels that are not categories: {sorted(unknown)}"
        )
    assert isinstance(context, ContextSpec) and isinstance(replies, Replies)
    try:
        classifier = CrisisClassifier.load(folder / CLASSIFIER_FILE)
    except ValidationError as exc:
        raise TriageTableError(f"{folder / CLASSIFIER_FILE}: {_problems(exc)}") from None
    except CrisisClassifierError as exc:
        raise TriageTableError(str(exc)) from None
    tables = Tables(
        red_flags=red_flags,
        context=context,
        replies=replies,
        exemplars=raw,
        crisis_classifier=classifier,
    )
    _check_patterns(tables, folder)
    return tables


def _check_patterns(tables: Tables, folder: Path) -> None:
    """Compile every phrase once, so a typo in a table fails at load with its place."""
    compiler = tables.compiler
    for name, category in tables.red_flags.categories.items():
        for rule in category.rules:
            for field_name in (
                "match",
                "also",
                "unless",
                "explained_by",
                "explained_anywhere",
                "crisis_unless",
                "mention_if",
            ):
                phrases = getattr(rule, field_name)
                if phrases:
                    try:
                        compiler.compile(phrases)
                    except (PatternError, re.error) as exc:
                        raise TriageTableError(
                            f"{folder / 'red_flags.yaml'}: {name} rule {rule.id} "
                            f"({field_name}): {exc}"
                        ) from None
    context = tables.context
    for field_name in (
        "negation",
        "acute",
        "past",
        "hypothetical",
        "question_start",
        "info_words",
        "generic_start",
        "personal",
        "symptoms",
        "not_negation_after",
        "negation_after",
        "joking",
        "resolved",
        "unresolved",
        "durations",
        "assessed",
    ):
        phrases = getattr(context, field_name)
        if field_name in ("durations", "assessed") and not phrases:
            continue  # optional: without durations every duration is simply acute,
            # without assessed nothing is set aside as already examined
        try:
            compiler.compile(phrases)
        except (PatternError, re.error) as exc:
            raise TriageTableError(f"{folder / 'context.yaml'}: {field_name}: {exc}") from None
