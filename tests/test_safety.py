"""Triage (chatbot/safety/): the reviewed tables' own examples, context, languages,
reply templates, and the personal-medication check.

The rules-only engine is deterministic and fast; the semantic layer is tested with the
real encoder where it matters (paraphrases the rules do not name)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from chatbot.safety import (
    ReplyWriter,
    Triage,
    TriageTableError,
    build_triage,
    default_tables_dir,
    is_personal_medication_question,
    load_tables,
)
from chatbot.safety.classifier import CrisisClassifier
from chatbot.safety.patterns import Compiler, PatternError, TextWords
from chatbot.safety.tables import LANGUAGES
from chatbot.safety.text import prepare

TABLES = load_tables(default_tables_dir())
RULES = Triage(TABLES, None)

RULE_EXAMPLES = [
    pytest.param(name, rule.id, text, id=f"{rule.id}:{text[:40]}")
    for name, category in TABLES.red_flags.categories.items()
    for rule in category.rules
    for text in rule.examples
]
RULE_NON_EXAMPLES = [
    pytest.param(name, rule.id, text, id=f"{rule.id}:{text[:40]}")
    for name, category in TABLES.red_flags.categories.items()
    for rule in category.rules
    for text in rule.not_examples
]


@pytest.mark.parametrize(("category", "rule_id", "text"), RULE_EXAMPLES)
def test_every_rule_fires_on_its_examples(category: str, rule_id: str, text: str) -> None:
    found = RULES.assess(text)
    evidence = [f.evidence for f in found.findings]
    if any(r.id == rule_id and r.mention_only for r in TABLES.red_flags.categories[category].rules):
        assert found.crisis and found.level == "none", evidence  # a mention: crisis line only
    else:
        assert category in found.categories, evidence


@pytest.mark.parametrize(("category", "rule_id", "text"), RULE_NON_EXAMPLES)
def test_no_rule_fires_on_its_non_examples(category: str, rule_id: str, text: str) -> None:
    found = RULES.assess(text)
    assert category not in found.categories, [f.evidence for f in found.findings]


def test_every_category_has_a_rule_with_examples_and_a_reply() -> None:
    expected = {
        "cardiac", "stroke", "breathing", "anaphylaxis", "bleeding", "seizure", "poisoning",
        "self_harm", "sepsis", "head_injury", "vision_loss", "diabetic", "pregnancy",
        "heat_stroke", "pulmonary_embolism", "infant", "unconscious",
    }  # fmt: skip
    categories = TABLES.red_flags.categories
    assert expected <= set(categories)
    for name, spec in categories.items():
        assert any(rule.examples for rule in spec.rules), name
        assert set(spec.name) >= set(LANGUAGES), name
    ambulance = {"cardiac", "stroke", "breathing", "anaphylaxis", "seizure", "unconscious"}
    assert {n for n, c in categories.items() if c.action == "ambulance"} >= ambulance
    assert {n for n, c in categories.items() if c.level == "urgent"} >= {"dvt", "rhabdomyolysis"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("my dad had a heart attack two years ago, can he stretch", "past"),
        ("what should i do if my child swallows a battery", "hypothetical"),
        ("how do i help someone having a seizure", "hypothetical"),
        ("where do you inject an epipen in case of anaphylaxis", "hypothetical"),
        ("what are the warning signs of a stroke", "general"),
        ("i don't have any chest pain or shortness of breath", "negated"),
    ],
)
def test_context_keeps_mentions_from_being_emergencies(text: str, why: str) -> None:
    found = RULES.assess(text)
    assert found.level == "none"


def test_a_professionals_opening_leaves_the_question_general() -> None:
    found = RULES.assess("im a GP, whats the NICE wells score threshold for a suspected DVT")
    assert found.level == "none"
    # the opening is stripped, not the rest: the nurse's own father is a case
    found = RULES.assess("im a nurse and my dad has crushing chest pain right now")
    assert found.categories[:1] == ("cardiac",)


def test_a_stake_in_the_message_makes_a_general_question_personal() -> None:
    general = "whats the amount of amitriptyline where you just dont wake up"
    assert RULES.assess(general).level == "none"
    found = RULES.assess(general + ". asking because i have 2 boxes here")
    assert (found.level, found.categories[:1], found.crisis) == ("emergency", ("self_harm",), True)


def test_acute_words_override_past_context() -> None:
    found = RULES.assess("he had a stroke last year and now his face is drooping again")
    assert found.categories[:1] == ("stroke",)


def test_a_clinicians_explanation_sets_a_told_symptom_aside_but_passing_does_not() -> None:
    cleared = RULES.assess(
        "woke up with my face drooping on one side, went to a and e, they did a scan and "
        "said its bells palsy. how long till it goes"
    )
    assert (cleared.level, cleared.categories) == ("none", ())
    # a stroke's symptoms that pass still need an ambulance: "fine now" is not enough
    passed = RULES.assess("his face drooped on one side for ten minutes and now he's fine")
    assert passed.categories[:1] == ("stroke",)
    # an explanation before a new symptom explains nothing about it
    again = RULES.assess("a and e said it was anxiety last week but now my face is drooping")
    assert again.categories[:1] == ("stroke",)


def test_a_duration_inside_the_end_of_it_is_not_still_going_on() -> None:
    stopped = "nicked myself shaving on rivaroxaban, it stopped after pressing for 5 mins"
    assert RULES.context.resolved_at(prepare(stopped, RULES.typos)) is not None
    # "right now" in "seems ok right now" is not a duration: a swallowed pill still counts
    found = RULES.assess(
        "my toddler swallowed some of my iron tablets 20 min ago, she seems ok right now"
    )
    assert found.categories[:1] == ("poisoning",)


def test_without_describes_a_symptom_after_cant() -> None:
    found = RULES.assess("i can't breathe without gasping and my lips are going blue")
    assert found.level == "emergency"


def test_self_harm_negated_gets_crisis_line_not_takeover() -> None:
    found = RULES.assess("I'm not suicidal, just fed up with these cramps")
    assert (found.level, found.crisis) == ("none", True)


@pytest.mark.parametrize(
    "text",
    [
        "i took all my tablets on purpose",
        "my son says he wants to die and he knows where the pills are",
        "I've got everything ready, tell my kids I love them",
    ],
)
def test_self_harm_always_brings_the_crisis_line(text: str) -> None:
    found = RULES.assess(text)
    assert found.level == "emergency" and found.crisis


def test_crisis_line_is_given_whichever_category_wins() -> None:
    found = RULES.assess("I took a whole bottle of paracetamol on purpose and want to die")
    assert found.categories[0] == "poisoning" and "self_harm" in found.categories
    text = ReplyWriter(TABLES, "in").instruction(found)
    assert "Tele-MANAS 14416" in text and "988" in text
    assert text.startswith("**Call an ambulance now: 108 / 112 (India).**")


def test_a_teenagers_overdose_told_by_a_parent_keeps_the_crisis_line() -> None:
    teen = RULES.assess("my 15 year old daughter swallowed a load of paracetamol 2 hours ago")
    assert (teen.level, teen.categories[0], teen.crisis) == ("emergency", "poisoning", True)
    toddler = RULES.assess("my 3 year old son swallowed a load of paracetamol 2 hours ago")
    assert (toddler.level, toddler.crisis) == ("emergency", False)
    error = RULES.assess("my 15 year old took a load of paracetamol by mistake, double dosed")
    assert (error.level, error.crisis) == ("emergency", False)


@pytest.mark.parametrize(
    ("text", "language", "category"),
    [
        ("मेरे पापा के सीने में बहुत दर्द है और पसीना आ रहा है", "hi", None),
        (
            "mere papa ko seene mein bahut dard ho raha hai aur pasina aa raha hai",
            "hi-Latn",
            "cardiac",
        ),
        ("mujhe marna chahta hoon, jeena nahi hai", "hi-Latn", "self_harm"),
        ("quiero morirme, ya no puedo mas", "es", "self_harm"),
        ("j'ai envie de mourir", "fr", "self_harm"),
    ],
)
def test_languages_are_detected_and_red_flags_found(
    text: str, language: str, category: str | None
) -> None:
    found = RULES.assess(text)
    assert found.language == language
    if category is not None:
        assert category in found.categories


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_every_reply_and_the_region_numbers(language: str) -> None:
    writer = ReplyWriter(TABLES, "uk")
    for name in ("cardiac", "self_harm", "dvt"):
        found = RULES.assess(
            {
                "cardiac": "crushing chest pain",
                "self_harm": "i want to kill myself",
                "dvt": "my calf is swollen and painful since the long flight",
            }[name]
        )
        found = found.__class__(**{**found.__dict__, "language": language})
        text = writer.instruction(found)
        assert "999" in text, (language, name)
        assert "{" not in text and "}" not in text
    for note in (writer.crisis_note, writer.safety_net, writer.english_only):
        text = note(found)
        assert "999" in text and "{" not in text


def test_region_chooses_the_first_numbers() -> None:
    found = RULES.assess("crushing chest pain")
    us = ReplyWriter(TABLES, "us").instruction(found)
    assert us.startswith("**Call an ambulance now: 911 (US and Canada).**")
    assert "India 112" in us
    with pytest.raises(ValueError, match="unknown region"):
        ReplyWriter(TABLES, "xx")


def test_carer_gets_told_what_to_do_for_the_person() -> None:
    found = RULES.assess("my wife's face is drooping and her words are slurred")
    assert found.carer == "her"
    assert "Stay with her" in ReplyWriter(TABLES, "in").instruction(found)


def test_a_long_message_is_assessed_in_linear_time() -> None:
    # 100 kB of negated red flags: the quadratic sentence scan this replaced took minutes;
    # a linear pass takes well under a second (the chain never passes more than 2x the
    # length limit anyway)
    text = "no chest pain, " * 7_000
    started = time.perf_counter()
    RULES.assess(text)
    assert time.perf_counter() - started < 10


# --- the tables are validated at load ------------------------------------------------


def _copy_tables(tmp_path: Path) -> Path:
    folder = tmp_path / "triage"
    shutil.copytree(default_tables_dir(), folder)
    return folder


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_a_broken_phrase_is_reported_with_its_place(tmp_path: Path) -> None:
    folder = _copy_tables(tmp_path)
    _edit(
        folder / "red_flags.yaml",
        lambda d: d["categories"]["cardiac"]["rules"][0]["match"].append("chest {NOPE}"),
    )
    with pytest.raises(TriageTableError, match=r"cardiac rule cardiac-named .*NOPE"):
        load_tables(folder)


def test_a_missing_template_is_reported(tmp_path: Path) -> None:
    folder = _copy_tables(tmp_path)
    _edit(folder / "replies.yaml", lambda d: d["languages"].pop("fr"))
    with pytest.raises(TriageTableError, match=r"replies\.yaml.*fr"):
        load_tables(folder)


def test_an_unknown_exemplar_label_is_reported(tmp_path: Path) -> None:
    folder = _copy_tables(tmp_path)
    _edit(folder / "exemplars.yaml", lambda d: d.update({"cardiak": ["chest pain"]}))
    with pytest.raises(TriageTableError, match="cardiak"):
        load_tables(folder)


def test_phrase_language() -> None:
    compiler = Compiler({"PAIN": ["pain", "ache*"], "CHEST": ["chest", "{PAIN} in my chest"]})
    pattern = compiler.compile(["{CHEST} ~2 (really bad|awful)", "arm|jaw hurts?"])
    assert pattern.search("my chest is really bad")
    assert pattern.search("aching in my chest so awful")
    assert pattern.search("jaw")
    assert not pattern.search("chestnut awful")
    with pytest.raises(PatternError):
        compiler.compile(["~ chest"])
    with pytest.raises(PatternError):
        compiler.compile(["{LOOP}"])


def test_phrase_anchors_name_a_word_every_match_needs() -> None:
    compiler = Compiler({"PAIN": ["pain", "ache*"], "CHEST": ["chest", "{PAIN} in my chest"]})
    anchors = compiler.anchors(["{CHEST} ~2 (really bad|awful)", "arm|jaw hurts?", "can't breathe"])
    assert anchors is not None
    # "{PAIN} in my chest" anchors on "chest", the word with one choice, not pain|ache*
    assert anchors.exact == {"chest", "arm", "jaw", "can"}
    assert anchors.prefix == set()
    words = TextWords.of("my jaw", longest=5)
    assert anchors.admit(words)
    assert not anchors.admit(TextWords.of("chestnut awful", longest=5))
    assert Compiler({}).anchors(["breath* hard"]).admit(TextWords.of("breathing", 6))  # type: ignore[union-attr]
    assert Compiler({}).anchors(["\u80f8\u75db"]) is None  # unspaced: always run


def test_anchors_never_skip_a_phrase_that_would_match() -> None:
    """The word check before each phrase is only a shortcut: on every rule example and
    non-example, any phrase whose pattern matches is admitted by its anchors, and the
    admitted phrases find exactly the matches of the rule's whole alternation."""

    texts = [text for p in RULE_EXAMPLES + RULE_NON_EXAMPLES for text in p.values[2:]]
    index = RULES._anchors
    phrases = RULES._phrases
    assert index.size == len(phrases) == sum(len(r.match.patterns) for r in RULES.rules)
    skipped_all = 0
    for text in texts:
        prepared = prepare(text, RULES.typos)
        words = index.words(prepared.match)
        admitted = set(index.candidates(words))
        for i, (rule_index, phrase) in enumerate(phrases):
            anchors = RULES.rules[rule_index].match.anchors[phrase]
            assert (i in admitted) == (anchors is None or anchors.admit(words))
            if i not in admitted:
                pattern = RULES.rules[rule_index].match.patterns[phrase]
                assert not pattern.search(prepared.match), (RULES.rules[rule_index].id, text)
                skipped_all += 1
        for rule_index, rule in enumerate(RULES.rules):
            only = [p for i, (r, p) in enumerate(phrases) if r == rule_index and i in admitted]
            whole = re.compile("|".join(f"(?:{p.pattern})" for p in rule.match.patterns))
            assert [m.span() for m in rule.match.finditer(prepared.match, only)] == [
                m.span() for m in whole.finditer(prepared.match)
            ], (rule.id, text)
    assert skipped_all > len(texts) * len(phrases) * 9 // 10  # and it skips almost all


# --- the semantic layer ----------------------------------------------------------------


@pytest.fixture(scope="module")
def semantic(encoder: Any, tmp_path_factory: pytest.TempPathFactory) -> Triage:
    return build_triage(encoder=encoder, cache_dir=tmp_path_factory.mktemp("bank"))


def test_semantic_layer_catches_a_paraphrase_the_rules_miss(semantic: Triage) -> None:
    text = "my little boy is very floppy, burning hot and hardly responds to me"
    assert RULES.assess(text).level == "none" or True  # documented: rules may miss it
    found = semantic.assess(text)
    assert found.level == "emergency"
    assert any(f.layer == "semantic" for f in found.findings)


def test_semantic_layer_leaves_ordinary_questions_alone(semantic: Triage) -> None:
    for text in (
        "What causes muscle cramps?",
        "how do I stretch my calf after running",
        "is magnesium good for night cramps",
    ):
        assert semantic.assess(text).level == "none", text


def test_a_concrete_cue_turns_a_self_harm_undertone_into_a_report(semantic: Triage) -> None:
    undertone = semantic.assess("the world keeps spinning without me anyway")
    assert (undertone.level, undertone.crisis) == ("none", True)

    concrete = semantic.assess(
        "the world keeps spinning without me anyway, tonight i'll stop being in it"
    )
    assert (concrete.level, concrete.categories, concrete.crisis) == (
        "emergency",
        ("self_harm",),
        True,
    )
    assert any(
        "tonight + i'll stop" in f.evidence for f in concrete.findings if f.layer == "semantic"
    )

    # one cue alone is not enough: a follow-up that names a medicine is not a plan
    follow_up = semantic.assess("any tablets also for it")
    assert (follow_up.level, follow_up.categories) == ("none", ())

    # the rules' benign contexts (a therapist, "i'm safe") are not overridden by a cue
    safe = semantic.assess(
        "the world keeps spinning without me anyway, i told my therapist that tonight and i'm safe"
    )
    assert (safe.level, safe.crisis) == ("none", True)


# --- personal medication questions -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "how much baclofen should I take",
        "can i take two tonight",
        "what dose of magnesium for my 6 year old",
        "should I stop my tizanidine",
        "can my son take ibuprofen for the cramps",
    ],
)
def test_personal_medication_questions(text: str) -> None:
    assert is_personal_medication_question(text)


@pytest.mark.parametrize(
    "text", ["what is baclofen", "What are the side effects of muscle relaxants?"]
)
def test_general_medicine_questions_are_not_personal(text: str) -> None:
    assert not is_personal_medication_question(text)


# --- the self-harm classifier ----------------------------------------------------------


class _Axis:
    """A fake encoder of the classifier's model: messages naming "xyzzy" point one way,
    everything else the other, so the classifier's probability is 1 or 0."""

    identity = "all-MiniLM-L6-v2:fake"
    dim = 4

    def embed(self, texts: Any, show_progress: bool = False) -> np.ndarray:
        return np.array(
            [[1.0, 0, 0, 0] if "xyzzy" in t else [0, 1.0, 0, 0] for t in texts], dtype=np.float32
        )


def _with_classifier(tmp_path: Path, dim: int = 4) -> Path:
    folder = _copy_tables(tmp_path)
    # no exemplars but "none": only the classifier speaks for the encoder here
    (folder / "exemplars.yaml").write_text("none: [plain words]\n", encoding="utf-8")
    CrisisClassifier(
        encoder="all-MiniLM-L6-v2",
        trained_with="test",
        dim=dim,
        coef=[10.0, -10.0, 0.0, 0.0][:dim] + [0.0] * max(0, dim - 4),
        intercept=0.0,
        crisis_line_at=0.9,
        report_at=0.8,
        report_alone_at=0.95,
        report_told_at=0.97,
        trained_on=[],
        examples=0,
        positives=0,
        regularisation_c=1.0,
    ).save(folder / "crisis_classifier.json")
    return folder


def test_the_classifier_adds_the_crisis_line_and_needs_a_cue_to_report(tmp_path: Path) -> None:
    triage = build_triage(_with_classifier(tmp_path), _Axis())
    assert triage.classifier is not None

    theme_only = triage.assess("xyzzy is it normal to feel this strange?")
    assert (theme_only.level, theme_only.crisis) == ("none", True)

    with_a_place = triage.assess("xyzzy the canal by my flat looks calm")
    assert (with_a_place.level, with_a_place.categories, with_a_place.crisis) == (
        "emergency",
        ("self_harm",),
        True,
    )
    assert [f.evidence for f in with_a_place.findings] == ["self-harm classifier p=1.00 + 'canal'"]

    # a joke keeps the crisis line and takes nothing over; other messages are untouched
    joke = triage.assess("xyzzy the canal by my flat looks calm lol")
    assert (joke.level, joke.crisis) == ("none", True)
    plain = triage.assess("the canal by my flat looks calm")
    assert (plain.level, plain.crisis, plain.findings) == ("none", False, ())


def test_a_very_sure_classifier_reports_a_personal_statement(tmp_path: Path) -> None:
    triage = build_triage(_with_classifier(tmp_path), _Axis())
    told = triage.assess("xyzzy my brother says this is it for him")
    assert (told.level, told.categories) == ("emergency", ("self_harm",))
    assert [f.evidence for f in told.findings] == ["self-harm classifier p=1.00, told"]
    # a question scores as high and is not a report; nor is anything a rule set aside
    asked = triage.assess("how do i stop taking my tablets, xyzzy")
    assert (asked.level, asked.crisis) == ("none", True)
    negated = triage.assess("xyzzy i'm not suicidal, i just feel flat")
    assert (negated.level, negated.crisis) == ("none", True)
    # a dose taken in error tells no intent: one cue (the medicine) is not enough ...
    error = triage.assess("xyzzy accidentally took 2 ibuprofen after my last 2 will i be ok")
    assert (error.level, error.crisis) == ("none", True)
    # ... unless the error is denied
    meant = triage.assess("xyzzy took all the ibuprofen and not by accident")
    assert meant.level == "emergency"


def test_the_classifier_reads_english_only(tmp_path: Path) -> None:
    triage = build_triage(_with_classifier(tmp_path), _Axis())
    found = triage.assess("xyzzy je pense souvent au pont, toute la journée")
    assert not any(f.evidence.startswith("self-harm classifier") for f in found.findings)


def test_the_classifier_is_unused_with_another_model(tmp_path: Path) -> None:
    class Other(_Axis):
        identity = "another-model:fake"

    assert build_triage(_with_classifier(tmp_path), Other()).classifier is None


def test_a_malformed_classifier_is_reported(tmp_path: Path) -> None:
    folder = _with_classifier(tmp_path)
    path = folder / "crisis_classifier.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["coef"] = data["coef"][:3]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TriageTableError, match=r"crisis_classifier\.json.*coef has 3 weights"):
        load_tables(folder)


def test_the_shipped_classifier_fits_the_real_encoder(semantic: Triage) -> None:
    assert semantic.classifier is not None
    assert semantic.classifier.positives > 500


def test_the_safety_net_line_is_for_sudden_symptoms_not_long_standing_ones() -> None:
    triage = Triage(TABLES, None)
    for text in ("i have a bad headache and feel dizzy", "my chest hurts a bit when i cough"):
        assessment = triage.assess(text)
        assert assessment.level == "none" and assessment.safety_net, text
    for text in (
        "my mum had a stroke last year and now her arm goes stiff and it hurts her",
        "my aunty had neck surgery for cancer and now her neck muscles pull and pain",
        "my husband gets pain in his calves every evening after work",
    ):
        assessment = triage.assess(text)
        assert assessment.level == "none" and not assessment.safety_net, text


def test_a_dirty_wound_without_tetanus_cover_is_urgent_not_an_ambulance() -> None:
    triage = Triage(TABLES, None)
    wound = triage.assess("cut my hand on rusty barbed wire, never had a tetanus jab")
    assert (wound.level, wound.categories) == ("urgent", ("tetanus_wound",))
    covered = triage.assess("stepped on a nail, had a tetanus booster 2 years ago, need anything")
    assert covered.level == "none"


def test_warm_loads_the_language_model_before_the_first_message() -> None:
    triage = Triage(TABLES, None)
    assert triage.language._identifier is None
    triage.warm()
    assert triage.language._identifier is not None


def test_the_typo_table_corrects_whole_words_only() -> None:

    # "ur" -> "your" is a typo fix; the "ur" of "cœur" is part of a French word
    assert prepare("mon cœur bat vite, ur late", {"ur": "your"}).match == (
        "mon cœur bat vite  your late"
    )
    assert RULES.fix_typos("sœur, u ok") == "sœur, you ok"
