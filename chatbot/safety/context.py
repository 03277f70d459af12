"""Is a mention an emergency *now*? Negation, past events, "what if" and general questions.

Every check reads the cue lists of ``data/triage/context.yaml`` and looks only at the
clause or sentence around a match (found by binary search in :class:`Prepared`), so a
message is judged in one linear pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.safety.patterns import WORD_CHARS, Compiler
from chatbot.safety.tables import Context, ContextSpec
from chatbot.safety.text import Prepared


@dataclass(frozen=True)
class ContextRules:
    negation_tail: re.Pattern[str]
    without_symptom: re.Pattern[str]
    acute: re.Pattern[str]  # the acute list and the durations
    durations: re.Pattern[str] | None
    past: re.Pattern[str]
    present: re.Pattern[str]
    past_tense: re.Pattern[str]
    hypothetical: re.Pattern[str]
    question_start: re.Pattern[str]
    info_words: re.Pattern[str]
    generic_start: re.Pattern[str]
    personal: re.Pattern[str]
    symptoms: re.Pattern[str]
    everyday_symptoms: re.Pattern[str]
    long_standing: re.Pattern[str] | None
    normal_temperature: re.Pattern[str] | None
    fever_reading: re.Pattern[str] | None
    negation_after: re.Pattern[str]
    joking: re.Pattern[str]
    animal: re.Pattern[str]
    not_joking: re.Pattern[str]
    resolved: re.Pattern[str]
    unresolved: re.Pattern[str]
    assessed: re.Pattern[str] | None = None
    professional: re.Pattern[str] | None = None
    personal_stake: re.Pattern[str] | None = None
    accidental: re.Pattern[str] | None = None
    intended: re.Pattern[str] | None = None
    negative_start: re.Pattern[str] | None = None

    @classmethod
    def build(cls, spec: ContextSpec, compiler: Compiler) -> ContextRules:
        cue = "|".join(f"(?:{compiler.body(p)})" for p in spec.negation)
        filler = "|".join(f"(?:{compiler.body(p)})" for p in spec.negation_filler)
        # "no fever or", "don't have any", "no real": a cue, filler words, an optional
        # "X or" list, then the match
        breaks = "|".join(f"(?:{compiler.body(p)})" for p in spec.negation_list_breaks)
        listed = rf"(?!(?:{breaks})(?![\w\u0900-\u0dff]))[^\s|]+" if breaks else r"[^\s|]+"
        tail = (
            rf"(?<![{WORD_CHARS}'])(?:{cue})(?:\s+(?:{filler}))*"
            rf"(?:(?:\s+{listed}){{1,3}}?\s+(?:or|nor|and|ni|ou|o|aur|ya))?\s*$"
        )
        return cls(
            negation_tail=re.compile(tail),
            # "can't breathe without gasping": without describes the symptom here
            without_symptom=compiler.compile(spec.not_negation_after),
            acute=compiler.compile([*spec.acute, *spec.durations]),
            durations=compiler.compile(spec.durations) if spec.durations else None,
            past=compiler.compile(spec.past),
            present=compiler.compile(spec.present),
            past_tense=compiler.compile(spec.past_tense),
            hypothetical=compiler.compile(spec.hypothetical),
            question_start=re.compile(
                r"^\W*(?:" + "|".join(compiler.body(p) for p in spec.question_start) + r")\b"
            ),
            info_words=compiler.compile(spec.info_words),
            generic_start=re.compile(
                r"^\W*(?:" + "|".join(compiler.body(p) for p in spec.generic_start) + r")\b"
            ),
            personal=compiler.compile(spec.personal),
            symptoms=compiler.compile(spec.symptoms),
            everyday_symptoms=compiler.compile(spec.everyday_symptoms),
            long_standing=compiler.compile(spec.long_standing) if spec.long_standing else None,
            normal_temperature=compiler.compile(spec.normal_temperature)
            if spec.normal_temperature
            else None,
            fever_reading=compiler.compile(spec.fever_reading) if spec.fever_reading else None,
            negation_after=re.compile(
                r"^\s*(?:(?:"
                + "|".join(compiler.body(p) for p in spec.negation_after_filler)
                + r")\s+){0,4}(?:"
                + "|".join(compiler.body(p) for p in spec.negation_after)
                + r")(?![\w\u0900-\u0dff])"
            ),
            joking=compiler.compile(spec.joking),
            # the animal opens the sentence: it is the one the sentence is about
            animal=re.compile(
                r"^\W*(?:(?:my|our|the|a|his|her|their)\s+)?(?:"
                + "|".join(compiler.body(p) for p in spec.animal)
                + r")\b"
            )
            if spec.animal
            else re.compile(r"(?!x)x"),
            not_joking=compiler.compile(spec.not_joking),
            resolved=compiler.compile(spec.resolved),
            professional=re.compile(
                r"^\W*(?:" + "|".join(compiler.body(p) for p in spec.professional) + r")\b\W*"
            )
            if spec.professional
            else None,
            personal_stake=compiler.compile(spec.personal_stake) if spec.personal_stake else None,
            accidental=compiler.compile(spec.accidental) if spec.accidental else None,
            intended=compiler.compile(spec.intended) if spec.intended else None,
            negative_start=re.compile(
                r"\s*(?:" + "|".join(compiler.body(p) for p in spec.negative_start) + r")\b"
            )
            if spec.negative_start
            else None,
            unresolved=compiler.compile(spec.unresolved),
            assessed=compiler.compile(spec.assessed) if spec.assessed else None,
        )

    def negated(self, prepared: Prepared, start: int, end: int | None = None) -> bool:
        clause_start, clause_end = prepared.clause_span(start)
        # "not breathing normal" is a double negative: the red flag, not its denial
        if (
            end is not None
            and not (
                self.negative_start is not None
                and self.negative_start.match(prepared.match, start)
                and len(prepared.match[start:end].split()) <= 2
            )
            and self.negation_after.search(prepared.match[end : min(clause_end, end + 40)])
        ):
            return True
        before = prepared.match[max(clause_start, start - 80) : start]
        found = self.negation_tail.search(before)
        if not found:
            return False
        if found.group(0).lstrip().startswith(("without", "sin ", "sans ")):
            # "can't walk without my chest hurting" describes the symptom
            return not self.without_symptom.search(before)
        # "she is not recognising us and BP is 80/50": the listed words are a symptom told
        # with "not", so what follows "and" is not denied with them
        return not self.without_symptom.search(found.group(0))

    def sentence_context(self, sentence: str, joking: bool = True) -> Context | None:
        """Why a sentence does not describe an emergency now, or None when it may."""
        if joking and self.joking.search(sentence) and not self.not_joking.search(sentence):
            return "joking"
        if self.animal.search(sentence):  # even "right now": the vet, not an ambulance
            return "general"
        acute = [m.group(0) for m in self.acute.finditer(sentence)]
        if acute:
            durations = self.durations
            if (
                durations is not None
                and all(durations.fullmatch(a) for a in acute)
                and self.past.search(sentence)
            ):
                return "past"  # the durations of an event the sentence dates
            return None
        if self.hypothetical.search(sentence):
            return "hypothetical"
        if self.past.search(sentence):
            return "past"
        if self.is_general_question(sentence):
            return "general"
        return None

    def is_joking_at(self, prepared: Prepared, start: int, end: int) -> bool:
        """A joke marker in the clause where the match ``start:end`` ends, or after it in
        the sentence: "this cramp is killing me lol" is a joke, but in "kids
        were a nightmare lol, anyway my calf is swollen" the "lol" belongs to the kids, and
        so it does in "full sun lol, anyway grandad ... now he's confused"."""
        sentence = prepared.sentence_at(start)
        if self.not_joking.search(sentence):
            return False
        clause_start = prepared.clause_span(max(start, end - 1))[0]
        sentence_end = prepared.sentence_span(start)[1]
        return bool(self.joking.search(prepared.match[clause_start:sentence_end]))

    def is_past_at(self, prepared: Prepared, start: int, end: int) -> bool:
        """The sentence around ``start`` has a past cue, and it dates this symptom: the cue
        is in the symptom's own clause, or the clause tells a past event ("was", "had"),
        or a short clause just before sets the time ("Two summers ago, she collapsed").
        "Coughing up blood and out of breath, my leg swelled up last week": the cue dates
        the leg, not the breathing."""
        if not self.past.search(prepared.sentence_at(start)):
            return False
        if self.present_at(prepared, start, end):
            return False
        c_start, c_end = prepared.clause_span(start)
        clause = prepared.match[c_start:c_end]
        if self.past.search(clause) or self.past_tense.search(clause):
            return True
        s_start = prepared.sentence_span(start)[0]
        if c_start > s_start:
            p_start = prepared.clause_span(c_start - 1)[0]
            previous = prepared.match[p_start:c_start]
            if len(previous.split()) <= 5 and self.past.search(previous):
                return True
        return False

    def dated_in_own_clause(self, prepared: Prepared, start: int, end: int) -> bool:
        """The symptom's own clause dates it ("I had heat stroke 15 years back, now I get
        cramps"): the present cue elsewhere in the sentence is about something else."""
        c_start, c_end = prepared.clause_span(start)
        if end > c_end:  # the match runs on into the next clause ("bit me last week, now my jaw")
            return False
        clause = prepared.match[c_start:c_end]
        return (
            bool(self.past.search(clause))
            and not self.acute.search(clause)
            and not self.present_at(prepared, start, end)
        )

    def narrative_past(self, prepared: Prepared, start: int) -> bool:
        """The sentence at ``start`` goes on telling a past event an earlier sentence
        dated ("Last week the match was at noon. He came home and his legs were
        cramping."): told in the past tense, nothing in the present, and no acute cue."""
        s_start, s_end = prepared.sentence_span(start)
        sentence = prepared.match[s_start:s_end]
        if self.acute.search(sentence) or self.present.search(sentence):
            return False
        if not self.past_tense.search(sentence):
            return False
        earlier = prepared.match[:s_start]
        return bool(self.past.search(earlier)) and not self.acute.search(earlier)

    def present_at(self, prepared: Prepared, start: int, end: int) -> bool:
        """The symptom itself is told in the present ("his chest is crushing", "my calf
        is swollen"), so a past cue elsewhere in the sentence ("stent put 2 years back",
        "came back from the US last week") is history, not this symptom's time."""
        s_start, s_end = prepared.sentence_span(start)
        before = prepared.match.rfind(" ", s_start, max(s_start, start - 1))
        for _ in range(2):  # up to three words before the match
            if before <= s_start:
                break
            before = prepared.match.rfind(" ", s_start, before)
        after = end
        for _ in range(3):  # and three after it
            nxt = prepared.match.find(" ", after + 1, s_end)
            after = s_end if nxt < 0 else nxt
        window = prepared.match[max(before, s_start) : after]
        return bool(self.present.search(window)) and not self.past.search(window)

    def negates_a_symptom(self, prepared: Prepared, start: int, end: int) -> bool:
        """Some symptom in ``start:end`` is negated ("no fever", "not confused"): the
        encoder cannot see that, so a suggestion of its own for this sentence is dropped."""
        for m in self.symptoms.finditer(prepared.match, start, end):
            if self.negated(prepared, m.start()):
                return True
        return False

    def resolved_at(self, prepared: Prepared) -> int | None:
        """Where the message last says it is over ("he's playing normally now", "I'm fine
        now"), or None when it never does or something in it is still going on."""
        return self._over_at(prepared, self.resolved)

    def assessed_at(self, prepared: Prepared) -> int | None:
        """Where the message last says a clinician examined it and explained it ("they did
        a scan and said it's Bell's palsy"), or None when it never does or something in it
        is still going on."""
        return None if self.assessed is None else self._over_at(prepared, self.assessed)

    def _over_at(self, prepared: Prepared, pattern: re.Pattern[str]) -> int | None:
        text = prepared.match
        over = [(m.start(), m.end()) for m in pattern.finditer(text)]
        if not over:
            return None
        # "no ambulance unless it's over 5 min", "not getting worse": a denied cue is not
        # something still going on; nor is a duration inside the words that say it is
        # over ("stopped after pressing for 5 mins"; but "seems ok right now" is not over)
        if any(
            not self.negated(prepared, m.start(), m.end())
            and not self._duration_of_the_end(prepared, m, over)
            and not self._dated_sentence(prepared, m.start())
            for m in self.unresolved.finditer(text)
        ):
            return None
        return max(a for a, _ in over)

    def _dated_sentence(self, prepared: Prepared, pos: int) -> bool:
        """The sentence at ``pos`` is dated in the past and has nothing acute ("had a
        febrile convulsion last month, stiff and jerky for about a minute"): its duration
        is history, not something still going on."""
        start, end = prepared.sentence_span(pos)
        sentence = prepared.match[start:end]
        return bool(self.past.search(sentence)) and not self.acute.search(sentence)

    def _duration_of_the_end(
        self, prepared: Prepared, cue: re.Match[str], over: list[tuple[int, int]]
    ) -> bool:
        """A duration in the same clause as the words that say it is over."""
        if self.durations is None or self.durations.fullmatch(cue.group(0)) is None:
            return False
        start, end = prepared.clause_span(cue.start())
        return any(a < end and start < b for a, b in over)

    def is_resolved(self, prepared: Prepared, at: int = 0) -> bool:
        """The message says it is over at or after ``at`` (where the symptom's sentence
        starts): "Was fine, now suddenly can't breathe" tells the onset, not the end."""
        over_at = self.resolved_at(prepared)
        return over_at is not None and over_at >= at

    def is_general_question(self, sentence: str) -> bool:
        sentence = sentence.strip()
        if self.professional is not None:
            sentence = self.professional.sub("", sentence, count=1)
        if not self.question_start.search(sentence) or self.personal.search(sentence):
            return False
        return bool(self.info_words.search(sentence) or self.generic_start.search(sentence))

    def has_stake(self, prepared: Prepared) -> bool:
        """The message makes a general-sounding question the writer's own ("asking
        because I have 2 boxes here")."""
        return self.personal_stake is not None and any(
            not self.negated(prepared, m.start(), m.end())
            for m in self.personal_stake.finditer(prepared.match)
        )

    def is_intended(self, prepared: Prepared) -> bool:
        """The message tells an overdose as meant, or taken by a teenager, and not as an
        error ("my 15 year old took the lot", not "my 12 year old took 2 extra by mistake")."""
        return (
            self.intended is not None
            and self.intended.search(prepared.match) is not None
            and not self.is_accidental(prepared)
        )

    def is_accidental(self, prepared: Prepared) -> bool:
        """The message tells of a dose taken in error ("accidentally took 2 more"), not
        denied ("not by accident")."""
        return self.accidental is not None and any(
            not self.negated(prepared, m.start(), m.end())
            for m in self.accidental.finditer(prepared.match)
        )

    def normal_temperature_only(self, sentence: str) -> bool:
        """The sentence gives a temperature, and it is not a fever ("temp of 37.5")."""
        return bool(
            self.normal_temperature is not None
            and self.normal_temperature.search(sentence)
            and not (self.fever_reading is not None and self.fever_reading.search(sentence))
        )

    def describes_symptoms(self, prepared: Prepared) -> bool:
        """The writer describes their own (or someone's) symptoms, not a general topic."""
        for piece in prepared.sentences():
            sentence = piece.match
            found = [m.group(0) for m in self.symptoms.finditer(sentence)]
            if not found or all(self.everyday_symptoms.fullmatch(w.strip()) for w in found):
                continue  # nothing, or only a cramp or a stiff neck: the library's subject
            if self.sentence_context(sentence) is not None:
                continue
            if self.long_standing is not None and self.long_standing.search(sentence):
                continue  # "gets cramps every evening", "since her surgery": not sudden
            if self.personal.search(sentence):
                return True
        return False
