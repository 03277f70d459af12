"""Red-flag triage: rules, context and the semantic layer combined into one assessment.

    prepare (text.py) -> rules (red_flags.yaml) + semantic (exemplars.yaml)
                      -> context (context.yaml): negated, past, "what if", general?
                      -> Assessment: level, categories in priority order, crisis line?

* A **rule** hit counts unless its clause negates it or its sentence is a past event, a
  hypothetical or first-aid question, or a general question (each category lists which
  of these apply to it), or the rule's own ``unless`` words are in the sentence.
* A **semantic** suggestion counts when it clears the threshold and margin and its
  sentence is not in one of those contexts either.
* **Self-harm** is never dropped: a suppressed self-harm mention (a negation, a past
  attempt, a general question) still gets the crisis line, with an ordinary answer.
* When nothing counts but the writer describes symptoms of their own (or someone's),
  :attr:`Assessment.safety_net` asks the reply to add one line on when to call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from chatbot.safety.context import ContextRules
from chatbot.safety.language import LanguageDetector
from chatbot.safety.patterns import Alternation, AnchorIndex
from chatbot.safety.semantic import ExemplarBank, TextEncoder, message_vectors
from chatbot.safety.tables import SELF_HARM, Context, Tables
from chatbot.safety.text import LATIN_WORD, Prepared, Sentence, prepare

Carer = Literal["him", "her", "them"]


@dataclass(frozen=True)
class Finding:
    """One piece of evidence, kept for staff inspection and the triage eval."""

    category: str
    layer: Literal["rule", "semantic"]
    evidence: str  # the rule id and matched words, or the nearest exemplar
    score: float = 1.0
    suppressed: Context | Literal["unless", "crisis only"] | None = None
    at: int = -1  # where its sentence starts in the prepared text
    # the contexts that may set it aside, when its rule chose its own (None: the category's)
    suppressible: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Assessment:
    level: Literal["emergency", "urgent", "none"]
    categories: tuple[str, ...]  # those that fired, in priority order (first one wins)
    crisis: bool  # the crisis line must be given (self-harm fired or was mentioned)
    language: str
    carer: Carer | None = None  # the writer asks about someone else
    safety_net: bool = False
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    ms: float = 0.0

    @property
    def category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def takes_over(self) -> bool:
        """The reply is the emergency or urgent instruction, not an article answer."""
        return self.level != "none"


@dataclass(frozen=True)
class _Rule:
    id: str
    category: str
    match: Alternation  # its phrases, each with the words one of which any match contains
    also: re.Pattern[str] | None
    unless: re.Pattern[str] | None
    explained_by: re.Pattern[str] | None
    explained_anywhere: re.Pattern[str] | None
    acute_overrides: bool
    crisis: bool
    crisis_unless: re.Pattern[str] | None
    mention_only: bool
    mention_if: re.Pattern[str] | None
    suppressed_by: tuple[str, ...] | None


class Triage:
    """Built once per process from the tables (and the encoder, for the semantic layer)."""

    def __init__(
        self,
        tables: Tables,
        encoder: TextEncoder | None = None,
        *,
        threshold: float = 0.6,
        margin: float = 0.0,
        crisis_threshold: float = 0.45,
        crisis_margin: float = -0.02,
        cache_dir: Path | None = None,
    ) -> None:
        self.tables = tables
        spec = tables.red_flags
        compiler = tables.compiler
        self.priority = tuple(spec.priority)
        self.context = ContextRules.build(tables.context, compiler)
        self.rules: list[_Rule] = [
            _Rule(
                id=rule.id,
                category=name,
                match=compiler.compile_each(rule.match),
                also=compiler.compile(rule.also) if rule.also else None,
                unless=compiler.compile(rule.unless) if rule.unless else None,
                explained_by=compiler.compile(rule.explained_by) if rule.explained_by else None,
                explained_anywhere=(
                    compiler.compile(rule.explained_anywhere) if rule.explained_anywhere else None
                ),
                acute_overrides=rule.acute_overrides,
                crisis=rule.crisis,
                crisis_unless=compiler.compile(rule.crisis_unless) if rule.crisis_unless else None,
                mention_only=rule.mention_only,
                mention_if=compiler.compile(rule.mention_if) if rule.mention_if else None,
                suppressed_by=tuple(rule.suppressed_by) if rule.suppressed_by is not None else None,
            )
            for name in self.priority
            for rule in spec.categories[name].rules
        ]
        # every phrase of every rule, in rule order: a message runs the phrases its words admit
        self._phrases = [
            (index, phrase)
            for index, rule in enumerate(self.rules)
            for phrase in range(len(rule.match.patterns))
        ]
        self._anchors = AnchorIndex(
            [self.rules[index].match.anchors[phrase] for index, phrase in self._phrases]
        )
        # emoji are read as words (the typo table maps words, the emoji table characters)
        self.typos = {**tables.context.typos, **tables.context.emoji}
        self.language = LanguageDetector(tables.context.languages)
        self.encoder = encoder
        self.threshold = threshold
        self.margin = margin
        self.crisis_threshold = crisis_threshold
        self.crisis_margin = crisis_margin
        self.bank = (
            ExemplarBank.build(tables.exemplars, encoder, cache_dir)
            if encoder is not None and tables.exemplars
            else None
        )
        classifier = tables.crisis_classifier
        self.classifier = (
            classifier
            if classifier is not None
            and encoder is not None
            and classifier.fits(getattr(encoder, "identity", ""), getattr(encoder, "dim", 0))
            else None
        )
        self._escalate = {
            name: [compiler.compile([group]) for group in spec.categories[name].semantic_escalate]
            for name in self.priority
            if spec.categories[name].semantic_escalate
        }
        # the self-harm classifier reads the whole message, so only the contexts that make a
        # message a mention (an essay, a therapist, a documentary, song lyrics) set it aside,
        # not a rule's own narrow "unless" words ("for tonight" by a date, "bath" by an edge)
        self._mentions = [
            pattern
            for rule in self.rules
            if rule.category == SELF_HARM
            for pattern in (rule.mention_if, rule.unless if rule.id == "self-harm-direct" else None)
            if pattern is not None
        ]
        # categories whose rules bring the crisis line themselves (an adult's overdose)
        self._overdose_categories = {SELF_HARM} | {r.category for r in self.rules if r.crisis}
        self._carer = {
            pronoun: compiler.compile(words) for pronoun, words in tables.context.carer.items()
        }

    # ------------------------------------------------------------------ public
    def assess(self, text: str) -> Assessment:
        started = time.perf_counter()
        prepared = prepare(text, self.typos)
        findings = self._rule_findings(prepared)
        language = self.language.detect(prepared.text)
        # the encoder pass runs even when a rule already found an emergency: it is what
        # notices a self-harm undertone the rules missed, and the crisis line comes first
        if self.bank is not None and self.encoder is not None:
            findings += self._semantic_findings(prepared, findings, language)
        assessment = self._decide(prepared, findings, language)
        ms = (time.perf_counter() - started) * 1000
        return replace(assessment, ms=round(ms, 3))

    def warm(self) -> None:
        """Load the language identifier (about half a second) and run the encoder once,
        so the first patient's message is assessed as fast as the rest."""
        self.language.warm()
        self.assess("warming up: is this working")

    def fix_typos(self, text: str) -> str:
        """Correct the typo table's misspellings, leaving everything else as typed."""

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            fixed = self.typos.get(word.lower())
            if fixed is None:
                return word
            return fixed.capitalize() if word[0].isupper() else fixed

        return LATIN_WORD.sub(fix, text)

    # ------------------------------------------------------------------ layers
    def _suppression(
        self,
        prepared: Prepared,
        start: int,
        end: int,
        category: str,
        override: tuple[str, ...] | None = None,
    ) -> Context | Literal["unless", "crisis only"] | None:
        allowed = self._allowed(category, override)
        if "negated" in allowed and self.context.negated(prepared, start, end):
            return "negated"
        why = self.context.sentence_context(prepared.sentence_at(start))
        if why == "joking" and not self.context.is_joking_at(prepared, start, end):
            why = self.context.sentence_context(prepared.sentence_at(start), joking=False)
        if why == "past" and not self.context.is_past_at(prepared, start, end):
            why = None
        if why in self.tables.red_flags.categories[
            category
        ].stake_sets_aside and self.context.has_stake(prepared):
            why = None
        if why is None and (
            self.context.narrative_past(prepared, start)
            or self.context.dated_in_own_clause(prepared, start, end)
        ):
            why = "past"
        if why is not None and why in allowed:
            return why
        return None

    def _rule_findings(self, prepared: Prepared) -> list[Finding]:
        findings: list[Finding] = []
        done: set[str] = set()
        # only the phrases some word of the message admits: the others cannot match
        admitted: dict[int, list[int]] = {}
        for i in self._anchors.candidates(self._anchors.words(prepared.match)):
            index, phrase = self._phrases[i]
            admitted.setdefault(index, []).append(phrase)
        for index, phrases in admitted.items():
            rule = self.rules[index]
            if rule.category in done:
                continue
            for m in rule.match.finditer(prepared.match, phrases):
                suppressed = self._suppression(
                    prepared, m.start(), m.end(), rule.category, rule.suppressed_by
                )
                if suppressed is None and self._ends_negated(prepared, m, rule):
                    suppressed = "negated"
                sentence_start = prepared.sentence_span(m.start())[0]
                if suppressed is None and (
                    rule.mention_only
                    or (
                        rule.mention_if is not None
                        and rule.mention_if.search(prepared.sentence_at(m.start()))
                    )
                ):
                    suppressed = "general"
                if (
                    suppressed is None
                    and rule.explained_anywhere is not None
                    and rule.explained_anywhere.search(prepared.match)
                ):
                    suppressed = "unless"
                if suppressed is None and (
                    rule.unless is not None or rule.explained_by is not None
                ):
                    # benign context counts in the same part of the sentence: "I came about
                    # cramps but now his whole body is shaking" is not explained by cramps
                    if self._explained(rule, prepared.segment_at(m.start())):
                        suppressed = "unless"
                    elif rule.unless is not None and rule.unless.search(m.group(0)):
                        # the match runs on past its own part: "swollen, 2cm, not spreading"
                        suppressed = "unless"
                evidence = f"{rule.id}: {m.group(0).strip()}"
                if rule.also is not None:
                    other = self._companion(prepared, rule)
                    if other is None:
                        break  # the co-symptom is nowhere in the message
                    evidence += f" + {other[0]}"
                    if suppressed == "past" and (
                        self.context.sentence_context(prepared.sentence_at(other[1])) is None
                        or not self.context.is_past_at(prepared, other[1], other[1] + len(other[0]))
                    ):
                        # "tested positive last week. This morning a sharp pain": the topic
                        # is from the past, the red flag is now
                        suppressed = None
                findings.append(
                    Finding(
                        rule.category,
                        "rule",
                        evidence,
                        1.0,
                        suppressed,
                        sentence_start,
                        rule.suppressed_by,
                    )
                )
                if (
                    rule.crisis
                    and suppressed in (None, "past")
                    and not (
                        rule.crisis_unless is not None
                        and rule.crisis_unless.search(prepared.match)
                        and not self.context.is_intended(prepared)
                    )
                ):
                    # e.g. an adult's overdose: the crisis line comes with the ambulance, and
                    # with the answer when the overdose is told as the past
                    findings.append(
                        Finding(SELF_HARM, "rule", f"{rule.id}: crisis line", 1.0, "crisis only")
                    )
                if suppressed is None:
                    done.add(rule.category)
                    break
        return findings

    def _ends_negated(self, prepared: Prepared, m: re.Match[str], rule: _Rule) -> bool:
        """The symptom that ends a match ("in the kitchen ... no vomiting or confusion")
        is negated: a pattern of a setting and then a symptom is only as true as its
        symptom."""
        if "negated" not in self._allowed(rule.category, rule.suppressed_by):
            return False
        last = None
        for found in self.context.symptoms.finditer(prepared.match, m.start(), m.end()):
            last = found
        if last is None or last.end() != m.end():
            return False
        # only when the symptom sits in a later clause than the match's start, and that
        # clause is not itself a match of the rule: in "not breathing" the negation is the
        # red flag itself
        clause_start = prepared.clause_span(last.start())[0]
        return (
            clause_start > m.start()
            and not rule.match.search(prepared.match, clause_start, m.end())
            and self.context.negated(prepared, last.start(), last.end())
        )

    def _companion(self, prepared: Prepared, rule: _Rule) -> tuple[str, int] | None:
        """The first co-symptom that is not negated nor explained by the rule's benign
        context in its own part of the sentence ("2 weeks old and sometimes pauses for 5
        seconds then carries on"), and where it is."""
        assert rule.also is not None
        for m in rule.also.finditer(prepared.match):
            if self.context.negated(prepared, m.start(), m.end()):
                continue
            if self._explained(rule, prepared.segment_at(m.start())):
                continue
            return m.group(0).strip(), m.start()
        return None

    def _explained(self, rule: _Rule, segment: str) -> bool:
        """The rule's benign context is in this part of a sentence, and nothing in it makes
        the part acute again (unless the rule says acute words do not count); or an
        explanation that holds however acute the part is."""
        if rule.explained_by is not None and rule.explained_by.search(segment) is not None:
            return True
        return (
            rule.unless is not None
            and rule.unless.search(segment) is not None
            and not (rule.acute_overrides and self.context.acute.search(segment))
        )

    def _semantic_findings(
        self, prepared: Prepared, rules: list[Finding], language: str
    ) -> list[Finding]:
        assert self.bank is not None and self.encoder is not None
        sentences = prepared.sentences()
        if not sentences:
            return []
        # one model pass over the message, pooled per sentence and for the whole message
        vectors, whole = message_vectors(
            self.encoder,
            prepared.text,
            [(s.start, s.end) for s in sentences],
            [s.text for s in sentences],
        )
        findings: list[Finding] = []
        # the classifier reads English only: the encoder reads no other language
        if self.classifier is not None and language == "en":
            found = self._classified(prepared, sentences, whole, rules)
            if found is not None:
                findings.append(found)
        # an overdose word a rule found in a benign context ("the pharmacist refused, said
        # overdose risk"): the encoder's self-harm suggestion brings the crisis line only
        overdose_explained = any(
            r.category in self._overdose_categories and r.suppressed == "unless" for r in rules
        )
        for suggestions in self.bank.suggest(vectors):
            for rank, s in enumerate(suggestions):
                spec = self.tables.red_flags.categories[s.label]
                threshold = (
                    self.threshold if spec.semantic_threshold is None else spec.semantic_threshold
                )
                margin = self.margin if spec.semantic_margin is None else spec.semantic_margin
                close = (
                    s.label == SELF_HARM
                    and self.crisis_threshold <= s.score
                    and s.margin >= self.crisis_margin
                    and (s.score < threshold or s.margin < margin)
                )
                if close:
                    cue = self._escalation(prepared, s.label, sentences[s.sentence], rules)
                    if cue is not None:
                        # close to self-harm and a concrete cue (pills saved, "tonight", a
                        # bridge): a report
                        findings.append(
                            Finding(
                                s.label,
                                "semantic",
                                f"{s.exemplar!r} ({s.score:.2f}) + {cue!r}",
                                round(s.score, 4),
                                None,
                                sentences[s.sentence].start,
                            )
                        )
                        continue
                    # close to self-harm but not sure: the crisis line, not a takeover
                    findings.append(
                        Finding(
                            SELF_HARM,
                            "semantic",
                            f"{s.exemplar!r} ({s.score:.2f})",
                            round(s.score, 4),
                            "crisis only",
                        )
                    )
                    continue
                if s.score < threshold or s.margin < margin:
                    continue
                # nearest neighbour: the best label of the sentence counts; self-harm
                # counts wherever it ranks, so the crisis line is never lost
                if rank > 0 and s.label != SELF_HARM:
                    continue
                sentence = sentences[s.sentence]
                allowed = self._allowed(s.label)
                why = self.context.sentence_context(sentence.match)
                if why in spec.stake_sets_aside and self.context.has_stake(prepared):
                    why = None
                if why is None and self.context.narrative_past(prepared, sentence.start):
                    why = "past"
                suppressed: Context | Literal["unless", "crisis only"] | None = (
                    why if why is not None and why in allowed else None
                )
                if suppressed is None and (
                    self.context.negates_a_symptom(prepared, sentence.start, sentence.end)
                    or (
                        self.tables.red_flags.categories[s.label].fever_led
                        and self.context.normal_temperature_only(sentence.match)
                    )
                ):
                    suppressed = "negated"
                if suppressed is None:
                    # the encoder does not read negation or tense: where a rule of the same
                    # category saw this sentence and set it aside, so does the encoder
                    suppressed = next(
                        (
                            r.suppressed
                            for r in rules
                            if r.category == s.label
                            and r.at == sentence.start
                            and r.suppressed not in (None, "crisis only")
                        ),
                        None,
                    )
                if suppressed is None and s.label == SELF_HARM and overdose_explained:
                    suppressed = "crisis only"
                findings.append(
                    Finding(
                        s.label,
                        "semantic",
                        f"{s.exemplar!r} ({s.score:.2f}, +{s.margin:.2f})",
                        round(s.score, 4),
                        suppressed,
                        sentence.start,
                    )
                )
        return findings

    def _classified(
        self,
        prepared: Prepared,
        sentences: Sequence[Sentence],
        whole: np.ndarray,
        rules: list[Finding],
    ) -> Finding | None:
        """The self-harm classifier's view of the whole message (English only: the encoder
        reads no other language). At ``report_at`` with two concrete cues of
        ``semantic_escalate`` (a time, a means, a goodbye, a place ...) and nothing setting
        it aside, a report; at ``crisis_line_at``, the crisis line with an ordinary answer.
        Everyday dose questions score high too ("how much ibuprofen is too much"), so the
        classifier alone never takes over a reply."""
        assert self.classifier is not None
        p = self.classifier.probability(whole)
        evidence = f"self-harm classifier p={p:.2f}"
        at = sentences[0].start
        if p >= self.classifier.report_at:
            # fairly sure: two concrete cues; very sure and told as a statement (not a
            # question such as "how do I stop taking my tablets"): one, or none at all
            statement = self._tells(prepared, sentences, rules)
            need = 1 if p >= self.classifier.report_alone_at and statement else 2
            cue = next(
                (
                    found
                    for sentence in sentences
                    if (found := self._escalation(prepared, SELF_HARM, sentence, rules, need))
                    is not None
                ),
                None,
            )
            if cue is not None:
                return Finding(
                    SELF_HARM, "semantic", f"{evidence} + {cue!r}", round(p, 4), None, at
                )
            if p >= self.classifier.report_told_at and statement:
                return Finding(SELF_HARM, "semantic", f"{evidence}, told", round(p, 4), None, at)
        if p >= self.classifier.crisis_line_at:
            return Finding(SELF_HARM, "semantic", evidence, round(p, 4), "crisis only", at)
        return None

    def _tells(
        self, prepared: Prepared, sentences: Sequence[Sentence], rules: list[Finding]
    ) -> bool:
        """Somebody tells what they (or someone) are doing or about to do: a statement,
        not a question ("how do I stop using rasagiline" scores high too), and
        nothing that sets the message aside (a negation the rules saw, a joke, a past or
        resolved event, a benign context)."""
        if self._set_aside(prepared, SELF_HARM, rules, self._mentions):
            return False
        if self.context.is_accidental(prepared):
            return False  # "accidentally took 2 more": an error, not an intent
        return any(
            not self.context.question_start.search(s.match)
            and "?" not in prepared.text[s.start : s.end]
            and self.context.sentence_context(s.match) is None
            and not self.context.narrative_past(prepared, s.start)
            for s in sentences
        )

    def _set_aside(
        self,
        prepared: Prepared,
        category: str,
        rules: list[Finding],
        benign: Sequence[re.Pattern[str]],
    ) -> bool:
        """What sets a whole message aside for the semantic layer's reports: it says it is
        over, it names a benign context, or a rule of the category saw it and set it aside
        (a negation, a past event, a mention). A rule's own narrow "unless" words ("moving"
        by a goodbye to a pet) are not a reason: they only explain that rule's hit."""
        return (
            self.context.is_resolved(prepared)
            or any(pattern.search(prepared.match) for pattern in benign)
            or any(
                r.category == category and r.suppressed not in (None, "crisis only", "unless")
                for r in rules
            )
        )

    def _escalation(
        self,
        prepared: Prepared,
        category: str,
        sentence: Sentence,
        rules: list[Finding],
        need: int = 2,
    ) -> str | None:
        """The category's escalation cues in the message (two groups or none), when
        nothing sets the sentence aside: a negation, a past or resolved event, a joke, what
        makes a message a mention (an essay, a therapist, song lyrics: as for the
        classifier; a narrow rule's own "unless" words stay that rule's), or a rule of the
        category that saw the message and set it aside. One cue alone is not enough: "any
        tablets also for it" names a medicine and nothing else."""
        groups = self._escalate.get(category)
        if groups is None:
            return None
        if (
            self.context.sentence_context(sentence.match) in ("past", "joking")
            or self.context.narrative_past(prepared, sentence.start)
            or self.context.negates_a_symptom(prepared, sentence.start, sentence.end)
            or self._set_aside(prepared, category, rules, self._mentions)
        ):
            return None
        cues = []
        for pattern in groups:
            cue = next(
                (
                    m.group(0).strip()
                    for m in pattern.finditer(prepared.match)
                    if not self.context.negated(prepared, m.start(), m.end())
                ),
                None,
            )
            if cue is not None:
                cues.append(cue)
        return " + ".join(cues) if len(cues) >= need else None

    def _echo(self, prepared: Prepared, finding: Finding) -> bool:
        """An encoder suggestion whose sentence names no symptom: it echoes the rest."""
        if finding.layer != "semantic" or finding.at < 0:
            return False
        start, end = prepared.sentence_span(finding.at)
        return self.context.symptoms.search(prepared.match, start, end) is None

    # ------------------------------------------------------------------ decision
    def _decide(self, prepared: Prepared, findings: Sequence[Finding], language: str) -> Assessment:
        # told as over, or as already examined and explained by a clinician, after the
        # symptom was told: set aside where the category allows it. The encoder's
        # suggestion for a later sentence that names no symptom of its own ("just checking
        # it's definitely not my heart") is the same story's echo, set aside with it
        ends: tuple[tuple[Context, int | None], ...] = (
            ("resolved", self.context.resolved_at(prepared)),
            ("assessed", self.context.assessed_at(prepared)),
        )
        for context, over_at in ends:
            if over_at is None:
                continue
            findings = [
                replace(f, suppressed=context)
                if f.suppressed is None
                and (over_at >= max(f.at, 0) or self._echo(prepared, f))
                and context in (f.suppressible or self._allowed(f.category))
                else f
                for f in findings
            ]
        fired = {f.category for f in findings if f.suppressed is None}
        categories = tuple(c for c in self.priority if c in fired)
        levels = {self.tables.red_flags.categories[c].level for c in categories}
        level: Literal["emergency", "urgent", "none"] = (
            "emergency" if "emergency" in levels else "urgent" if "urgent" in levels else "none"
        )
        if level == "emergency":
            categories = tuple(
                c for c in categories if self.tables.red_flags.categories[c].level == "emergency"
            )
        # a self-harm mention brings the crisis line even when negated or in the past;
        # only the rule's own benign context ("cut myself chopping onions") does not, nor
        # the encoder's sense of one in a figure of speech ("so hungry i could die")
        crisis = any(
            f.category == SELF_HARM
            and f.suppressed != "unless"
            and not (f.layer == "semantic" and f.suppressed == "joking")
            for f in findings
        )
        carer = self._who(prepared) if categories else None
        safety_net = level == "none" and self.context.describes_symptoms(prepared)
        return Assessment(
            level=level,
            categories=categories,
            crisis=crisis,
            language=language,
            carer=carer,
            safety_net=safety_net,
            findings=tuple(findings),
        )

    def _allowed(self, category: str, override: Sequence[str] | None = None) -> Sequence[str]:
        """What may set a finding of this category aside: the rule's own list when it has
        one, else the category's."""
        if override is not None:
            return override
        return self.tables.red_flags.categories[category].suppressed_by

    def _who(self, prepared: Prepared) -> Carer | None:
        """Whom the writer asks about, when it is not themselves."""
        best: tuple[int, Carer] | None = None
        for pronoun, pattern in self._carer.items():
            m = pattern.search(prepared.match)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), pronoun)  # type: ignore[assignment]
        return best[1] if best else None
