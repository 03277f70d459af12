"""The reviewed question tables: question types and patients' words (no index, no model).

Each table's own examples are run here, as its header promises the content team."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from chatbot.lay_words import LayWordsError, load_lay_words
from chatbot.understand import QuestionTypeError, load_question_types


def _cases(entries: Iterable[Any], label: str) -> list[tuple[str, str, bool]]:
    """(the entry's label, question, must it apply) for every example and not_example."""
    return [
        (getattr(e, label), q, must)
        for e in entries
        for q, must in [*((q, True) for q in e.examples), *((q, False) for q in e.not_examples)]
    ]


def _type_cases() -> list[tuple[str, str, bool]]:
    return _cases(load_question_types().types, "name")


@pytest.mark.parametrize(("name", "question", "must"), _type_cases())
def test_every_question_type_example_gets_its_type(name: str, question: str, must: bool) -> None:
    names = [t.name for t in load_question_types().understand(question).types]
    assert (name in names) is must, (question, names)


def test_a_clearly_asked_type_is_confident_even_with_a_library_word_for_pills() -> None:
    table = load_question_types()
    assert table.understand("when do i actually need a doctor for my leg cramps").confident
    cause = table.understand("could her pills be doing it")
    assert cause.primary is not None and cause.primary.name == "cause" and cause.confident


def _lay_cases() -> list[tuple[str, str, bool]]:
    return _cases(load_lay_words().entries, "means")


@pytest.mark.parametrize(("means", "question", "must"), _lay_cases())
def test_every_lay_words_example_gets_the_librarys_words(
    means: str, question: str, must: bool
) -> None:
    found = load_lay_words().library_words(question)
    assert (means in found) is must, (question, found)


def test_lay_words_add_the_librarys_words_once_and_only_when_missing() -> None:
    table = load_lay_words()
    assert table.library_words("my calf locked up and then seized up again") == "muscle cramp"
    assert table.library_words("the gp mentioned valium and botox") == (
        "benzodiazepines botulinum toxin"
    )
    # the question already uses the library's words: nothing to add
    assert table.library_words("is botulinum toxin an option, she calls it botox") == ""
    assert table.library_words("what is a muscle cramp") == ""


def test_a_broken_lay_words_table_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "lay_words.yaml"
    path.write_text("words:\n  - says: ['locked up']\n", encoding="utf-8")
    with pytest.raises(LayWordsError, match=r"lay_words\.yaml: words\.0\.means"):
        load_lay_words(path)
    path.write_text("words:\n  - says: ['lock(ed']\n    means: cramp\n", encoding="utf-8")
    with pytest.raises(LayWordsError, match=r"words.0.says: 'lock\(ed' is not a phrase"):
        load_lay_words(path)
    with pytest.raises(LayWordsError, match="missing"):
        load_lay_words(tmp_path / "absent.yaml")


def test_a_broken_question_type_table_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text("types: {}\n", encoding="utf-8")
    with pytest.raises(QuestionTypeError, match=r"types\.yaml: types"):
        load_question_types(path)


def test_prevention_outranks_treatment_when_both_are_clearly_asked() -> None:
    types = load_question_types()
    asked = types.understand("what can she do so they dont come back every night")
    assert asked.names()[0] == "prevention" and asked.confident
    assert types.understand("how do i stop a cramp at night").names() == ["treatment"]


def test_an_outranks_entry_must_name_a_type(tmp_path: Path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text(
        "types:\n  cause:\n    canonical: what causes\n    cues: ['why']\n"
        "    outranks: [treatmnt]\n    headings: caus\n    answers: caus\n"
        "    examples: ['why']\n",
        encoding="utf-8",
    )
    with pytest.raises(QuestionTypeError, match=r"types\.cause\.outranks names no type"):
        load_question_types(path)


def test_names_the_library_never_uses_are_found_in_the_asking_part_only() -> None:
    from chatbot.coverage import asks_more_than, load_medical_terms, not_in_library
    from chatbot.retrieve import tokenize

    library = set(tokenize(["muscle cramps at night in the legs when walking, radiation, neck"])[0])
    terms = load_medical_terms()

    def known(stem: str) -> bool:
        return stem in library

    quinine = "does quinine help with night time leg cramps"
    assert not_in_library(quinine, terms, known) == ["quinine"]
    assert asks_more_than(quinine, ["quinine"], known)  # the cramps: answer, with a note
    assert not_in_library("what is restless legs syndrome", terms, known) == [
        "restless legs syndrome"
    ]
    assert not asks_more_than("what is restless legs syndrome", ["restless legs syndrome"], known)
    # told in the story, not asked about
    story = "I get spasms in my neck after radiation for throat cancer, what helps"
    assert not_in_library(story, terms, known) == []
    # "walking problems": "problems" says what kind of thing, not which
    assert not_in_library("does he have walking problems", terms, known) == []


def test_a_question_naming_what_the_library_lacks_is_told_so(tmp_path: Path) -> None:
    from chatbot.coverage import MedicalTermsError, load_medical_terms

    path = tmp_path / "terms.txt"
    path.write_text("# a comment\nQuinine\n\nrestless legs syndrome\n", encoding="utf-8")
    terms = load_medical_terms(path)
    assert terms.named("Is QUININE ok for restless legs syndrome?") == [
        "quinine",
        "restless legs syndrome",
    ]
    with pytest.raises(MedicalTermsError, match="missing"):
        load_medical_terms(tmp_path / "absent.txt")
