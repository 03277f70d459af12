"""Unit tests of the grounded composer on hand-made hits (no index, no model)."""

from __future__ import annotations

from chatbot.answer import enforce_citations, number_sources
from chatbot.compose import _blocks, compose
from chatbot.retrieve import Hit

GARD_STYLE = (
    "What are the signs and symptoms of Ocular albinism? "
    "The Human Phenotype Ontology provides the following list of signs and symptoms for "
    "Ocular albinism. If the information is available, the table below includes how often "
    "the symptom is seen in people with this condition. "
    "Ocular albinism reduces the colouring of the iris and causes poor vision. "
    "People with ocular albinism often have rapid, involuntary eye movements."
)
LISTED = (
    "What causes ocular albinism?\n"
    "The following genes are involved:\n"
    "- GPR143, on the X chromosome\n"
    "- OCA2, in rare families"
)


def hit(n: int, body: str, section: str, title: str = "Ocular albinism", fused: float = 0.0) -> Hit:
    meta = {"title": title, "section": section, "body": body, "article_id": f"A{n}"}
    return Hit(chunk_id=f"A{n}::0", text=body, metadata=meta, dense=0.7, fused=fused)


def test_questions_and_pointers_to_missing_tables_are_not_answers() -> None:
    sources = number_sources([hit(1, GARD_STYLE, "Symptoms")])
    draft = compose("What are the symptoms of ocular albinism?", sources)
    text, citations = enforce_citations(draft)
    assert "poor vision [1]" in text and "eye movements [1]" in text
    assert "?" not in text  # the source's own question heading is not an answer
    assert "following list" not in text and "table below" not in text
    assert [c.n for c in citations] == [1]


def test_a_lead_in_that_points_to_its_list_keeps_the_list() -> None:
    sources = number_sources([hit(1, LISTED, "Causes")])
    text, _ = enforce_citations(compose("Which genes cause ocular albinism?", sources))
    assert "The following genes are involved [1]:" in text
    assert "- GPR143, on the X chromosome [1]" in text
    assert "What causes" not in text


def test_a_stray_heading_word_is_not_an_answer_sentence() -> None:
    body = (
        "Diverticulosis\n"
        "Diverticulosis is often found during an exam for another health problem.\n"
        "A colonoscopy can show diverticulosis."
    )
    sources = number_sources([hit(1, body, "Diagnosis")])
    text, _ = enforce_citations(compose("How do doctors check for diverticulosis?", sources))
    assert "colonoscopy can show diverticulosis [1]" in text
    assert "Diverticulosis [1]" not in text


def test_sentences_about_the_web_page_are_not_answers() -> None:
    body = (
        "Glaucoma can damage the optic nerve.\n"
        "To reduce the video, press the Escape (Esc) button on your keyboard.\n"
        "You can use the MedlinePlus Medical Dictionary to look up the definitions for "
        "these medical terms.\n"
        "To view the contact information for the clinical laboratories, click here.\n"
        "See a glossary of glaucoma terms.\n"
        "Glaucoma often has no symptoms at first."
    )
    sources = number_sources([hit(1, body, "Overview")])
    text, _ = enforce_citations(compose("What is glaucoma? glaucoma terms video", sources))
    assert "optic nerve [1]" in text and "no symptoms at first [1]" in text
    for page_talk in ("Escape", "Dictionary", "click", "glossary"):
        assert page_talk not in text


def test_a_skipped_question_still_ends_the_list_before_it() -> None:
    body = (
        "Common symptoms of gout include:\n"
        "- sudden pain in the big toe\n"
        "- a red, swollen joint\n"
        "What causes gout?\n"
        "- too much uric acid in the blood\n"
        "- eating a lot of red meat"
    )
    sources = number_sources([hit(1, body, "Gout")])
    text, _ = enforce_citations(compose("What are the symptoms of gout in the toe?", sources))
    symptoms = text.split("Common symptoms of gout include [1]:")[1].split("\n\n")[0]
    assert "big toe" in symptoms and "uric acid" not in symptoms and "red meat" not in symptoms
    lists = [b for b in _blocks(body) if b.is_list]  # two lists, not one
    assert [b.items for b in lists] == [
        ["sudden pain in the big toe", "a red, swollen joint"],
        ["too much uric acid in the blood", "eating a lot of red meat"],
    ]


def test_short_plain_sentences_and_everyday_phrasing_are_kept() -> None:
    body = (
        "There is no cure.\n"
        "Call your doctor if the fever returns in the following days.\n"
        "To inject, press the dose button until the counter shows 0."
    )
    sources = number_sources([hit(1, body, "Treatment")])
    for question, expected in (
        ("Is there a cure for gout?", "There is no cure [1]."),
        ("When should I call my doctor about the fever?", "in the following days [1]."),
        ("How do I use the dose button of the pen?", "press the dose button until"),
    ):
        text, _ = enforce_citations(compose(question, sources))
        assert expected in text, question


def test_a_page_label_before_a_paragraph_is_not_part_of_the_answer() -> None:
    body = (
        "Summary : The nicotine in tobacco can be addictive like alcohol and morphine. "
        "Causes : Tobacco is a plant grown for its leaves, which are smoked or chewed."
    )
    sources = number_sources([hit(1, body, "Overview")])
    text, _ = enforce_citations(compose("how does nicotine affect the brain", sources))
    assert text.startswith(
        "The nicotine in tobacco can be addictive like alcohol and morphine [1]."
    )
    assert "Summary :" not in text and "Causes :" not in text


def test_an_answer_deep_in_a_long_section_opens_with_the_section_opening() -> None:
    opening = "Many germs can cause pneumonia. Examples include bacteria, viruses and fungi."
    filler = " ".join(
        f"Bacteria of kind {i} are a common cause in adults over sixty." for i in range(12)
    )
    fungi = (
        "Pneumocystis pneumonia is caused by a fungus that mostly affects people whose "
        "immune system is weak. Other kinds of fungal infections also can lead to pneumonia."
    )
    body = f"{opening}\n\n{filler}\n\n{fungi}"
    sources = number_sources([hit(1, body, "Causes")])
    text, _ = enforce_citations(compose("what causes fungal pneumonia", sources))
    assert text.startswith("Many germs can cause pneumonia [1]. Examples include bacteria")
    assert "caused by a fungus" in text
    assert text.index("Many germs") < text.index("caused by a fungus")  # source order


def test_a_title_the_question_names_points_at_its_article() -> None:
    from chatbot.retrieve import named_articles
    from chatbot.store import Snapshot

    titles = {
        "A1": "Do you have information about Nicotine and tobacco",
        "A2": "Duchenne muscular dystrophy",
        "A3": "Muscular dystrophy",
        "A4": "Pain",  # one short common word names too much
        "A5": "Anal fissure",
    }
    metas = [{"article_id": a, "title": t, "section": "Overview"} for a, t in titles.items()]
    snapshot = Snapshot(
        pointer=None,  # type: ignore[arg-type]
        collection=None,
        ids=[f"{a}::0" for a in titles],
        texts=list(titles.values()),
        metadatas=metas,
    )
    assert named_articles(snapshot, "how nicotine and tobacco affect the brain") == {"A1"}
    # the longest name wins: Duchenne's article, not every muscular dystrophy one
    assert named_articles(snapshot, "Duchenne Muscular Dystrophy research project") == {"A2"}
    assert named_articles(snapshot, "is muscular dystrophy inherited") == {"A3"}
    assert named_articles(snapshot, "I may have a couple anal fissures") == {"A5"}  # stemmed
    assert named_articles(snapshot, "pain in my back") == set()


def test_a_colon_whose_list_was_lost_neither_dangles_nor_leaves_a_fragment() -> None:
    body = (
        "Some people get cramps often, including:\n"
        "While most spasms are benign, some may come from an underlying condition [3]:\n"
        "Peripheral artery disease may cause leg cramps during walking."
    )
    sources = number_sources([hit(1, body, "Overview")])
    text, citations = enforce_citations(compose("are leg spasms benign or a condition", sources))
    assert "including" not in text  # it says nothing without its list
    assert "While most spasms are benign, some may come from an underlying condition [1]." in text
    # the snippet is the source's own words
    assert "While most spasms are benign, some may come from an underlying condition" in (
        citations[0].snippet
    )


def test_a_typed_section_of_another_condition_does_not_answer_this_one() -> None:
    from chatbot.understand import load_question_types

    lupus = hit(
        1,
        "Lupus is a disease of the immune system. It can hurt joints.",
        "Overview",
        title="Lupus",
        fused=0.9,
    )
    nephritis = hit(
        2,
        "Lupus nephritis is diagnosed with urine tests and a kidney biopsy.",
        "Diagnosis",
        title="Lupus Nephritis",
        fused=0.75,
    )
    question = "how do you check for lupus?"
    understanding = load_question_types().understand(question)
    assert understanding.confident and understanding.primary is not None
    sources = number_sources([lupus, nephritis])
    text, citations = enforce_citations(compose(question, sources, understanding=understanding))
    assert [c.title for c in citations] == ["Lupus"]
    assert "biopsy" not in text


def test_a_clear_question_is_answered_by_its_section_not_a_long_general_one() -> None:
    from chatbot.understand import load_question_types

    story = " ".join(f"Cramps can follow sport number {i} in the summer months." for i in range(40))
    overview = hit(
        1,
        f"Leg cramps are common at night.\n\n{story}",
        "Overview",
        title="Muscle cramps",
        fused=0.8,
    )
    seek = hit(
        2,
        "Consult a healthcare provider if cramps:\n- Are severe or recurrent\n- Follow an injury",
        "When to Seek Medical Attention",
        title="Understanding muscle cramps",
        fused=0.55,
    )
    question = "when do i actually need a doctor for my leg cramps"
    understanding = load_question_types().understand(question)
    sources = number_sources([overview, seek])
    text, citations = enforce_citations(compose(question, sources, understanding=understanding))
    assert citations[0].section == "When to Seek Medical Attention"
    assert "- Are severe or recurrent" in text and "- Follow an injury" in text
