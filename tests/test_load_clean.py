"""Loading and cleaning articles: the two seeds, every format, bad input, discovery."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
from pathlib import Path

import pytest

from ingest import clean
from ingest.clean import Block
from ingest.load import (
    SIDECAR_SUFFIX,
    SUPPORTED_SUFFIXES,
    discover,
    is_article_file,
    load_article,
)
from ingest.models import Article, LoadError
from tests.invariants import CHROME

REPO = Path(__file__).resolve().parents[1]
ARTICLES = REPO / "data" / "articles"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FORMATS = FIXTURES / "formats"
MEDQUAD_FIXTURES = FIXTURES / "medquad"
MEDQUAD_CORPUS = Path("/work/shared/corpus/medquad/articles")
MAX = 5_000_000

TRUEMEDS = "000_5778768f5da2c27f.txt"
DRORACLE = "001_fd95c578ff9ff21f.txt"

# Dr.Oracle cites its own editors ("Dr.Oracle Medical Advisory Board & Editors, 2025") as
# one of the article's references: that citation is kept, the badge line is not.
CHROME_IN_REFERENCES = tuple(c for c in CHROME if c != "Medical Advisory Board")


def load(path: Path, root: Path | None = None, max_bytes: int = MAX) -> Article:
    return load_article(path, root if root is not None else path.parent, max_bytes)


def all_text(article: Article) -> str:
    return "\n\n".join(f"{s.heading}\n{s.text}" for s in article.sections)


def section(article: Article, heading: str) -> str:
    for s in article.sections:
        if s.heading == heading or s.heading.endswith(f"{clean.HEADING_SEPARATOR}{heading}"):
            return s.text
    raise AssertionError(f"no section {heading!r} in {[s.heading for s in article.sections]}")


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def make_pdf(path: Path, pages: list[list[str]], *, title: str = "", encrypt: str = "") -> Path:
    """A small PDF drawn with reportlab: one line of text per entry; "" leaves a gap."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt or None)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        y = 800.0
        for line in lines:
            if line:
                pdf.setFont("Helvetica", 11)
                pdf.drawString(60, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def make_blank_pdf(path: Path) -> Path:
    """A PDF with a drawn rectangle and no text layer (like a scanned page)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.rect(100, 400, 300, 200, stroke=1, fill=1)
    pdf.showPage()
    pdf.save()
    return path


# --------------------------------------------------------------------------------------
# The seeds
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def truemeds() -> Article:
    return load_article(ARTICLES / TRUEMEDS, ARTICLES, MAX)


@pytest.fixture(scope="module")
def droracle() -> Article:
    return load_article(ARTICLES / DRORACLE, ARTICLES, MAX)


@pytest.mark.parametrize("name", [TRUEMEDS, DRORACLE])
def test_seed_chrome_is_gone(name: str) -> None:
    article = load_article(ARTICLES / name, ARTICLES, MAX)
    for s in article.sections:
        for chrome in CHROME:
            assert chrome not in s.text, (chrome, s.heading)
            assert chrome not in s.heading, (chrome, s.heading)
    for ref in article.references:
        for chrome in CHROME_IN_REFERENCES:
            assert chrome not in ref, (chrome, ref)


@pytest.mark.parametrize("name", [TRUEMEDS, DRORACLE])
def test_seed_identity_and_hash(name: str) -> None:
    path = ARTICLES / name
    article = load_article(path, ARTICLES, MAX)
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    assert sidecar.is_file()
    assert article.article_id == path.stem
    assert article.source_path == name
    assert article.url == ""  # the captures carry no address: never invent one
    expected = hashlib.sha256(path.read_bytes() + sidecar.read_bytes()).hexdigest()
    assert article.content_hash == expected
    for s in article.sections:
        assert s.text.strip() == s.text and s.text
        assert "\n\n\n" not in s.text


def test_truemeds_metadata(truemeds: Article) -> None:
    assert truemeds.title == "What are muscle spasms?"
    assert truemeds.publisher == "Truemeds"
    assert truemeds.last_updated == "2025-11-08"
    assert truemeds.review_status == "Reviewed by the publisher's healthcare experts"


def test_truemeds_body(truemeds: Article) -> None:
    assert truemeds.sections[0].heading == "Overview"
    text = all_text(truemeds)
    assert truemeds.sections[0].text.startswith("What you’re experiencing might be a muscle spasm")
    # one paragraph per captured line
    assert "certain medical conditions [2].\n\nWhile most spasms are benign" in text
    assert "most simple muscle spasms resolve spontaneously" in text.lower()
    assert text.rstrip().endswith(".")
    # body reference markers stay, the reference list itself is not body text
    assert "cannot be immediately relaxed [1]." in text
    assert "Swash" not in text
    assert "doi.org" not in text


def test_truemeds_references(truemeds: Article) -> None:
    refs = truemeds.references
    assert len(refs) == 5
    assert [r[:3] for r in refs] == ["[1]", "[2]", "[3]", "[4]", "[5]"]
    assert refs[0] == (
        "[1] Swash, M., Czesnik, D., & De Carvalho, M. (2018). Muscular cramp: causes and "
        "management. European Journal of Neurology, 26(2), 214–221. "
        "https://doi.org/10.1111/ene.13799"
    )
    assert refs[3].endswith("https://doi.org/10.1177/1941738109357299")
    assert refs[4].endswith("https://medlineplus.gov/druginfo/meds/a682530.html")
    assert all("Disclaimer" not in r for r in refs)


DRORACLE_HEADINGS = [
    "Overview",
    "Definition and Characteristics",
    "Types of Muscle Spasms > 1. True Muscle Cramps",
    "Types of Muscle Spasms > 2. Heat Cramps",
    "Types of Muscle Spasms > 3. Cervical Dystonia/Muscle Spasms",
    "Types of Muscle Spasms > 4. Spasticity-Related Muscle Spasms",
    "Causes of Muscle Spasms > Physiological Causes",
    "Pathological Causes",
    "Clinical Assessment",
    "Management Approaches > Immediate Management",
    "Pharmacological Management",
    "Prevention Strategies",
    "Special Considerations > Heat-Related Muscle Cramps",
    "Post-Stroke Spasticity",
    "When to Seek Medical Attention",
    "Conclusion",
]


def test_droracle_metadata(droracle: Article) -> None:
    assert droracle.title == "Understanding Muscle Spasms"
    assert droracle.publisher == "Dr.Oracle"
    assert droracle.last_updated == "2025-07-23"
    assert droracle.review_status == "Pending human review"


def test_droracle_headings(droracle: Article) -> None:
    assert [s.heading for s in droracle.sections] == DRORACLE_HEADINGS
    headings = " | ".join(s.heading for s in droracle.sections)
    for kept in (
        "Definition and Characteristics",
        "Types of Muscle Spasms",
        "1. True Muscle Cramps",
        "Causes of Muscle Spasms",
        "Physiological Causes",
        "When to Seek Medical Attention",
        "Conclusion",
    ):
        assert kept in headings
    # the page question is not body text, the title heading is not a section
    assert "What are muscle spasms?" not in all_text(droracle)
    assert droracle.sections[0].text.startswith(
        "Muscle spasms are painful, involuntary contractions of muscles"
    )


def test_droracle_bullets_and_markers(droracle: Article) -> None:
    assert section(droracle, "Definition and Characteristics") == (
        "Muscle spasms are characterized by:\n\n"
        "- Sudden, involuntary muscle contractions\n"
        "- Often painful sensations\n"
        "- Temporary inability to control the affected muscle\n"
        "- Self-limiting nature in most cases"
    )
    text = all_text(droracle)
    assert "•" not in text
    assert "- Painful, sudden involuntary contractions originating from peripheral nerves [1]" in (
        text
    )
    assert "heavy sweating and electrolyte loss [2]" in text
    assert "Medication side effects [4]" in text
    assert "for short periods (up to 2-3 weeks) [5]" in text
    assert "Botulinum toxin type A injections" in text  # "type A" untouched
    assert not re.search(r"[a-z] \d$", text, flags=re.MULTILINE)  # no bare markers left


def test_droracle_nested_list_stays_readable(droracle: Article) -> None:
    assert section(droracle, "Clinical Assessment") == (
        "When evaluating muscle spasms, consider:\n\n"
        "1. Pattern and timing:\n"
        "  - Exercise-related or occurring at rest\n"
        "  - Time of day (nocturnal vs. daytime)\n"
        "  - Duration and frequency\n"
        "2. Associated symptoms:\n"
        "  - Pain characteristics\n"
        "  - Weakness\n"
        "  - Sensory changes\n"
        "  - Functional limitations\n"
        "3. Precipitating factors:\n"
        "  - Exercise\n"
        "  - Environmental conditions (heat, cold)\n"
        "  - Specific movements or positions\n"
        "  - Emotional stress"
    )


def test_droracle_references(droracle: Article) -> None:
    assert droracle.references == [
        "Muscle cramps. Muscle & nerve, 2005 (Research)",
        "Guideline Directed Topic Overview. Dr.Oracle Medical Advisory Board & Editors, 2025 "
        "(Guideline)",
        "Muscular cramps: proposals for a new classification. Acta neurologica Scandinavica, "
        "2003 (Research)",
    ]
    text = all_text(droracle)
    for gone in ("References", "Research\n", "Acta neurologica", "Muscle & nerve"):
        assert gone not in text


# --------------------------------------------------------------------------------------
# One fixture per format
# --------------------------------------------------------------------------------------


def test_markdown_with_front_matter() -> None:
    article = load(FORMATS / "sunburn.md")
    assert article.article_id == "sunburn-basics"
    assert article.source_path == "sunburn.md"
    assert article.title == "Sunburn"
    assert article.publisher == "Example Health Library"
    assert article.url == "https://health.example.org/sunburn"
    assert article.last_updated == "2024-06-01"  # an unquoted YAML date
    assert article.review_status == "Reviewed by the Example clinical team"
    assert [s.heading for s in article.sections] == [
        "Overview",
        "Symptoms",
        "Treating sunburn yourself",
        "Preventing sunburn",
    ]
    assert article.sections[0].text == (
        "Sunburn is skin damage caused by ultraviolet (UV) light from the sun or sunbeds. "
        "It usually gets better within a week [1]."
    )
    assert section(article, "Symptoms") == (
        "- red, hot and sore skin\n- skin that peels a few days later\n"
        "  - blisters, in severe cases"
    )
    treating = section(article, "Treating sunburn yourself")
    assert treating.splitlines()[0] == "1. Get out of the sun as soon as possible."
    assert treating.endswith("3. Drink plenty of water to avoid dehydration.")
    assert "every 2 hours." in section(article, "Preventing sunburn")
    assert article.references == [
        "[1] Sunburn overview (https://health.example.org/ref/sunburn). "
        "Example Health Library, 2024."
    ]


def test_html_main_content_only() -> None:
    article = load(FORMATS / "dehydration.html")
    assert article.title == "Dehydration in adults"
    assert article.publisher == "Example Health Library"
    assert article.url == "https://health.example.org/dehydration"
    assert article.last_updated == "2024-03-03"
    assert [s.heading for s in article.sections] == [
        "Overview",
        "Symptoms of dehydration",
        "How to treat dehydration",
        "When to get help",
    ]
    assert article.sections[0].text == (
        "Dehydration means your body loses more fluids than it takes in. If it's not "
        "treated, it can get worse and become a serious problem."
    )
    assert section(article, "Symptoms of dehydration") == (
        "Symptoms of dehydration in adults include:\n\n- feeling thirsty\n"
        "- dark yellow, strong-smelling pee\n- feeling dizzy or lightheaded"
    )
    assert section(article, "How to treat dehydration") == (
        "1. Drink fluids when you feel any dehydration symptoms.\n"
        "2. Keep drinking until your pee is pale yellow."
    )
    text = all_text(article)
    for gone in (
        "Conditions A to Z",
        "Shop our pharmacy",
        "cookies",
        "newsletter",
        "Related:",
        "loadAds",
        "trackPageView",
        "font-family",
        "All rights reserved",
        "Privacy policy",
        "Last updated",
        "Example Health Library",
    ):
        assert gone not in text, gone


def test_html_without_main_uses_body_minus_chrome(tmp_path: Path) -> None:
    page = write(
        tmp_path / "fever.htm",
        """<html><head><title>Fever - Example</title></head><body>
        <nav><a href="/">Home</a> <a href="/shop">Shop</a></nav>
        <header><div class="logo">Example Health</div></header>
        <div class="content"><h2>Fever in children</h2>
        <p>A fever is a high temperature.<br>It is usually a sign of infection.</p>
        <ul><li>Give plenty of fluids<ul><li>water is best</li></ul></li><li>Let them rest</li></ul>
        <div class="share-buttons">Share on Facebook</div>
        <table><tr><th>Age</th><th>Fever above</th></tr><tr><td>Under 3 months</td>
        <td>38C</td></tr></table></div>
        <aside>Popular: cough remedies</aside>
        <footer>Copyright 2024 Example</footer></body></html>""",
    )
    article = load(page)
    assert article.title == "Fever in children"
    assert [s.heading for s in article.sections] == ["Overview"]
    assert article.sections[0].text == (
        "A fever is a high temperature.\n\nIt is usually a sign of infection.\n\n"
        "- Give plenty of fluids\n  - water is best\n- Let them rest\n\n"
        "Age | Fever above\n\nUnder 3 months | 38C"
    )


def test_pdf_text_layer(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "blood-pressure.pdf",
        [
            [
                "Managing high blood pressure",
                "",
                "High blood pressure rarely has symptoms, so the only way to find out if you",
                "have it is to get your blood pressure checked at least every five years.",
                "",
                "Lifestyle changes",
                "Small changes to your daily routine can lower your blood pressure:",
                "- Eat less salt",
                "- Exercise regularly",
                "",
                "Page 1 of 2",
            ],
            [
                "Medicines",
                "Your doctor may suggest medicines if lifestyle changes alone do not lower",
                "your blood pressure enough. Most people take them for the rest of their lives.",
                "",
                "Page 2 of 2",
            ],
        ],
        title="Managing high blood pressure",
    )
    article = load(pdf)
    assert article.title == "Managing high blood pressure"
    assert article.article_id == "blood-pressure"
    assert [s.heading for s in article.sections] == [
        "Overview",
        "Lifestyle changes",
        "Medicines",
    ]
    assert article.sections[0].text == (
        "High blood pressure rarely has symptoms, so the only way to find out if you have it "
        "is to get your blood pressure checked at least every five years."
    )
    assert section(article, "Lifestyle changes").endswith("- Eat less salt\n- Exercise regularly")
    assert "Page 1" not in all_text(article)


def test_pdf_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "x.pdf",
        [["Asthma attacks", "Sit up straight and take one puff of your reliever inhaler."]],
    )
    article = load(pdf)
    assert article.title == "Asthma attacks"
    assert article.sections[0].heading == "Overview"


def test_plain_text_fixture() -> None:
    article = load(FORMATS / "back_pain.txt")
    assert article.title == "Low back pain"  # the line above the date
    assert article.last_updated == "2024-03-12"
    assert article.url == "" and article.publisher == ""
    assert [s.heading for s in article.sections] == [
        "Overview",
        "What causes low back pain?",
        "Things you can do yourself",
        "When to get urgent help",
    ]
    # hard-wrapped lines become one paragraph
    assert article.sections[0].text == (
        "Low back pain is very common. Most people have it at some point in their lives, and "
        "it usually gets better within a few weeks without any special treatment [1]."
    )
    assert section(article, "What causes low back pain?").endswith(
        "include:\n\n- lifting something heavy or awkwardly\n"
        "- sitting for a long time with a poor posture\n"
        "- a sudden, awkward movement\n- an injury such as a fall"
    )
    yourself = section(article, "Things you can do yourself")
    assert "daily activities. Bed rest" in yourself
    assert "\n\n1. Take painkillers such as ibuprofen if they suit you.\n2. Use" in yourself
    assert "stretches for up to 2 weeks." in yourself  # real numbers stay numbers
    assert article.references == [
        "[1] Example Health Library. Low back pain. 2024.",
        "[2] Smith J, Jones K. Staying active with back pain. Spine Care, 2023;12(3):45-52. "
        "https://doi.org/10.0000/example.2023.45",
    ]
    assert "All rights reserved" not in all_text(article)


def test_sidecar_wins_over_front_matter_and_counts_in_hash(tmp_path: Path) -> None:
    md = write(
        tmp_path / "topic.md",
        "---\nid: from-front-matter\ntitle: Front matter title\npublisher: FM\n---\n\n"
        "# Front matter title\n\nSome text about the topic.\n",
    )
    before = load(md)
    assert before.title == "Front matter title" and before.article_id == "from-front-matter"
    assert [s.heading for s in before.sections] == ["Overview"]
    sidecar = write(
        tmp_path / "topic.meta.yaml",
        "id: from-sidecar\ntitle: Sidecar title\nlast_updated: July 23, 2025\n",
    )
    after = load(md)
    assert after.title == "Sidecar title"
    assert after.article_id == "from-sidecar"
    assert after.publisher == "FM"  # not in the sidecar: the front matter still counts
    assert after.last_updated == "2025-07-23"
    assert after.content_hash != before.content_hash
    assert after.content_hash == hashlib.sha256(md.read_bytes() + sidecar.read_bytes()).hexdigest()
    assert before.content_hash == hashlib.sha256(md.read_bytes()).hexdigest()


def test_source_path_relative_or_absolute(tmp_path: Path) -> None:
    root = tmp_path / "articles"
    inside = write(root / "sub" / "a.txt", "Some text about a topic.\n")
    outside = write(tmp_path / "elsewhere" / "b.txt", "Some text about b.\n")
    assert load_article(inside, root, MAX).source_path == "sub/a.txt"
    assert load_article(outside, root, MAX).source_path == outside.resolve().as_posix()
    assert load_article(inside, root, MAX).title == "A"  # the stem made readable


def test_readable_stem() -> None:
    assert clean.readable_stem("muscle_cramps-guide") == "Muscle cramps guide"


# --------------------------------------------------------------------------------------
# MedQuAD
# --------------------------------------------------------------------------------------


def _front_matter_value(text: str, key: str) -> str:
    match = re.search(rf"^{key}: (.*)$", text, flags=re.MULTILINE)
    assert match, key
    return match.group(1).strip().strip('"')


def _check_medquad(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    article = load_article(path, path.parent, MAX)
    assert article.article_id == _front_matter_value(raw, "id")
    assert article.title == _front_matter_value(raw, "title")
    assert article.publisher == _front_matter_value(raw, "source")
    assert article.url == _front_matter_value(raw, "url")
    assert article.sections
    wanted = [h.strip() for h in re.findall(r"^## (.+)$", raw, flags=re.MULTILINE)]
    got = [s.heading for s in article.sections]
    assert got, path.name
    it = iter(wanted)
    assert all(h in it for h in got), (got, wanted)  # same headings, same order
    for s in article.sections:
        assert not s.text.startswith("#") and "\n#" not in s.text
        assert "  " not in s.text.replace("\n  ", "\n"), s.text  # inline lists split
        assert s.text == s.text.strip()


@pytest.mark.parametrize("name", sorted(p.name for p in MEDQUAD_FIXTURES.glob("*.md")))
def test_medquad_fixtures(name: str) -> None:
    _check_medquad(MEDQUAD_FIXTURES / name)


def test_medquad_inline_lists_are_split() -> None:
    article = load(MEDQUAD_FIXTURES / "GHR_0000708.md")
    assert article.sections[0].heading == "Overview"
    assert section(article, "Treatment") == (
        "These resources address the diagnosis or management of myostatin-related muscle "
        "hypertrophy:\n\n"
        "- Gene Review: Gene Review: Myostatin-Related Muscle Hypertrophy\n"
        "- Genetic Testing Registry: Myostatin-related muscle hypertrophy\n\n"
        "These resources from MedlinePlus offer information about the diagnosis and "
        "management of various health conditions:\n\n"
        "- Diagnostic Tests\n- Drug Therapy\n- Surgery and Rehabilitation\n"
        "- Genetic Counseling\n- Palliative Care"
    )
    first_aid = load(MEDQUAD_FIXTURES / "ADAM_0001283.md")
    steps = section(first_aid, "Self-care (2)").splitlines()
    assert [line.split(" ")[0] for line in steps] == ["1.", "2.", "3.", "4.", "5."]
    shingles = load(MEDQUAD_FIXTURES / "ADAM_0003557.md")
    assert [s.heading for s in shingles.sections] == [
        "Overview",
        "Overview (2)",
        "When to see a doctor",
    ]


@pytest.mark.skipif(not MEDQUAD_CORPUS.is_dir(), reason="MedQuAD corpus not available")
def test_medquad_random_sample() -> None:
    files = sorted(MEDQUAD_CORPUS.glob("*.md"))
    for path in random.Random(20240601).sample(files, 20):
        _check_medquad(path)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def load_error(path: Path, max_bytes: int = MAX) -> str:
    with pytest.raises(LoadError) as info:
        load_article(path, path.parent, max_bytes)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_empty_files(tmp_path: Path) -> None:
    assert load_error(write(tmp_path / "empty.txt", b"")) == "file is empty"
    assert load_error(write(tmp_path / "blank.md", "  \n\n\t\n")) == "file is empty"
    assert load_error(write(tmp_path / "empty.pdf", b"")) == "file is empty"


def test_nothing_left_after_cleaning(tmp_path: Path) -> None:
    path = write(tmp_path / "chrome.txt", "Read time : 5 min\nContact Us\nAll rights reserved.\n")
    assert load_error(path) == "no article text left after removing page chrome"
    fm_only = write(tmp_path / "fm.md", "---\ntitle: Only metadata\n---\n\n# Only metadata\n")
    assert load_error(fm_only) == "no article text left after removing page chrome"


def test_binary_file(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    assert "binary file" in load_error(write(tmp_path / "image.txt", png))
    controls = bytes(range(1, 9)) * 50
    assert "binary file" in load_error(write(tmp_path / "blob.md", controls))


def test_undecodable_file(tmp_path: Path) -> None:
    message = load_error(write(tmp_path / "bad.txt", b"Hello \x81\x8d\x90 world\n"))
    assert message.startswith("not UTF-8 text (invalid byte 0x81 at offset 6)")


def test_cp1252_text_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "latin.txt", "Caf\xe9 au lait is a drink made with milk.\n".encode("cp1252")
    )
    assert load(path).sections[0].text == "Café au lait is a drink made with milk."


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfTitle line\r\n\r\nBody text here.\r\n")
    article = load(path)
    assert article.title == "Title line"
    assert article.sections[0].text == "Body text here."


def test_oversize_file(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "word " * 400)
    assert load_error(path, max_bytes=1000) == (
        "big.txt is too large (2.0 kB; the limit is 1.0 kB)"
    )
    assert load_error(path, max_bytes=1999) == (
        "big.txt is too large (2,000 bytes; the limit is 1,999 bytes)"
    )
    assert load(path, max_bytes=2000).sections  # exactly at the limit is fine


def test_oversize_sidecar(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Short text.\n")
    write(tmp_path / "a.meta.yaml", "title: " + "x" * 2000 + "\n")
    assert "a.meta.yaml is too large" in load_error(tmp_path / "a.txt", max_bytes=1000)


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    message = load_error(make_blank_pdf(tmp_path / "scan.pdf"))
    assert message.startswith("PDF has no text layer")


def test_encrypted_pdf(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "locked.pdf", [["Secret text about a topic."]], encrypt="s3cret")
    assert load_error(pdf).startswith("PDF is encrypted")


def test_corrupt_pdf(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", [["Some text about a topic."]]).read_bytes()
    truncated = write(tmp_path / "truncated.pdf", good[: len(good) // 3])
    assert "PDF" in load_error(truncated)
    assert load_error(write(tmp_path / "fake.pdf", b"hello, not a pdf")) == (
        "not a PDF file (no %PDF header)"
    )


def test_broken_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.md", "---\nid: x\ntitle: [unclosed\n---\n\n# X\n\nBody.\n")
    message = load_error(path)
    assert message.startswith("front matter of broken.md is not valid YAML: ")
    assert "line 4" in message or "line 3" in message


def test_front_matter_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "list.md", "---\n- a\n- b\n---\n\nBody text.\n")
    assert load_error(path) == "front matter of list.md must be a YAML mapping of keys to values"


def test_broken_sidecar(tmp_path: Path) -> None:
    write(tmp_path / "note.txt", "Some text about a topic.\n")
    write(tmp_path / "note.meta.yaml", "title: 'unclosed\npublisher: X\n")
    message = load_error(tmp_path / "note.txt")
    assert message.startswith("note.meta.yaml is not valid YAML: ")
    assert "line" in message


def test_sidecar_value_must_be_scalar(tmp_path: Path) -> None:
    write(tmp_path / "note.txt", "Some text about a topic.\n")
    write(tmp_path / "note.meta.yaml", "title: [a, b]\n")
    assert load_error(tmp_path / "note.txt") == (
        "note.meta.yaml: title must be a single value, not a list or mapping"
    )


def test_unsupported_type(tmp_path: Path) -> None:
    assert load_error(write(tmp_path / "notes.docx", b"PK\x03\x04")) == (
        "unsupported file type .docx"
    )


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------


def test_discover(tmp_path: Path) -> None:
    root = tmp_path / "articles"
    for name in (
        "a.txt",
        "a.meta.yaml",
        "b.MD",
        "sub/c.html",
        "sub/deeper/d.pdf",
        "e.markdown",
        "f.htm",
        "report.docx",
        "sub/notes",
        ".hidden.txt",
        ".git/config.md",
        "orphan.meta.yaml",
    ):
        write(root / name, "x")
    extra = write(tmp_path / "single.txt", "x")
    articles, unsupported = discover([root, extra, root / "a.txt"])
    assert [p.relative_to(tmp_path).as_posix() for p in articles] == [
        "articles/a.txt",
        "articles/b.MD",
        "articles/e.markdown",
        "articles/f.htm",
        "articles/sub/c.html",
        "articles/sub/deeper/d.pdf",
        "single.txt",
    ]
    assert [p.relative_to(tmp_path).as_posix() for p in unsupported] == [
        "articles/report.docx",
        "articles/sub/notes",
    ]
    with pytest.raises(FileNotFoundError):
        discover([tmp_path / "missing"])


def test_discover_seeds() -> None:
    articles, unsupported = discover([ARTICLES])
    assert [p.name for p in articles] == [TRUEMEDS, DRORACLE]
    assert unsupported == []


def test_is_article_file() -> None:
    assert {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"} == SUPPORTED_SUFFIXES
    assert is_article_file(Path("x/a.TXT"))
    assert not is_article_file(Path("x/.a.txt"))
    assert not is_article_file(Path("x/a.meta.yaml"))
    assert not is_article_file(Path("x/a.docx"))


def test_seed_copy_loads_the_same(tmp_path: Path) -> None:
    for name in (TRUEMEDS, DRORACLE):
        shutil.copy(ARTICLES / name, tmp_path / name)
    copy = load(tmp_path / DRORACLE)
    assert copy.title == "Understanding Muscle Spasms"  # no sidecar: the title heading
    assert copy.last_updated == "2025-07-23"  # parsed from "Last updated: July 23, 2025"
    assert copy.publisher == "" and copy.review_status == ""
    assert copy.sections[0].heading == "Overview"
    truemeds = load(tmp_path / TRUEMEDS)
    assert truemeds.last_updated == "2025-11-08"  # from "Last updated on : 08 Nov, 2025"
    assert truemeds.title == "000 5778768f5da2c27f"  # no title anywhere: the stem


# --------------------------------------------------------------------------------------
# Cleaning helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Last updated on : 08 Nov, 2025", "2025-11-08"),
        ("Last updated: July 23, 2025View editorial policy", "2025-07-23"),
        ("Page last reviewed: 12 March 2023", "2023-03-12"),
        ("Last updated: 23rd Sept 2024", "2024-09-23"),
        ("Updated on: 2024-02-29", "2024-02-29"),
        ("Last reviewed: Spring 2024", "Spring 2024"),
        ("Last updated guidance says exercise helps most people with back pain.", None),
        ("Updated guidance says exercise helps.", None),
    ],
)
def test_find_last_updated(line: str, expected: str | None) -> None:
    assert clean.find_last_updated(line) == expected


def test_bare_markers_only_where_they_are_markers() -> None:
    blocks = [
        Block("item", "Often accompanied by heavy sweating and electrolyte loss 2"),
        Block("item", "Relief for short periods (up to 2-3 weeks) 5"),
        Block("item", "More common in people with diabetes type 2"),
        Block("para", "Symptoms usually last from 1 to 2"),
        Block("para", "Most cases resolve in 3"),
        Block("heading", "Phase 2"),
        Block("para", "Caused by several nerves 1, 3."),
    ]
    out = clean.convert_bare_markers(blocks, ["a reference"])
    assert [b.text for b in out] == [
        "Often accompanied by heavy sweating and electrolyte loss [2]",
        "Relief for short periods (up to 2-3 weeks) [5]",
        "More common in people with diabetes type 2",
        "Symptoms usually last from 1 to 2",
        "Most cases resolve in 3",
        "Phase 2",
        "Caused by several nerves [1, 3].",
    ]
    assert clean.convert_bare_markers(blocks, []) == blocks  # no references: no markers
    with_brackets = [*blocks, Block("para", "Already bracketed [1].")]
    assert clean.convert_bare_markers(with_brackets, ["ref"]) == with_brackets


def test_plain_heading_heuristic() -> None:
    lines = [
        "Intro sentence that is long enough to be a paragraph.",
        "",
        "Short heading",
        "",
        "A paragraph follows here.",
        "Not a heading:",
        "",
        "1. Numbered heading",
        "",
        "  • an item",
        "",
        "1. first list item",
        "",
        "2. second list item",
        "",
        "lowercase line",
    ]
    blocks = clean.parse_plain_lines(lines)
    assert [(b.kind, b.text) for b in blocks] == [
        ("para", "Intro sentence that is long enough to be a paragraph."),
        ("heading", "Short heading"),
        ("para", "A paragraph follows here."),
        ("para", "Not a heading:"),
        ("heading", "1. Numbered heading"),
        ("item", "an item"),
        ("item", "first list item"),
        ("item", "second list item"),
        ("para", "lowercase line"),
    ]
    assert [b.marker for b in blocks if b.kind == "item"] == ["-", "1.", "2."]


def test_chrome_patterns_are_data() -> None:
    assert all(isinstance(p, str) for p in clean.CHROME_LINE_PATTERNS)
    for line in ("Read time : 7 min", "v4.4.2", "Download Truemeds", "Page 3 of 10", "Español"):
        assert clean.is_chrome(line), line
    for line in ("Muscle spasms are common.", "Company policies on sick leave vary widely."):
        assert not clean.is_chrome(line), line


def test_html_article_references_and_disclaimer(tmp_path: Path) -> None:
    page = write(
        tmp_path / "gout.html",
        """<!doctype html><html><head><title>Gout</title></head><body>
        <div id="cookie-consent">We use cookies.</div>
        <article><header><h1>Gout</h1><p>Last reviewed: 1 February 2024</p>
        <div class="social-share">Share</div></header>
        <p>Gout is a type of arthritis that causes sudden, severe joint pain [1].</p>
        <h2>Causes</h2><p>Gout is caused by too much uric acid in the blood [2].</p>
        <h2>References</h2>
        <ol><li>Smith A. Gout. Rheumatology Today, 2020. https://doi.org/10.1000/gout</li>
        <li>Jones B. Uric acid. Kidney Journal, 2021.</li></ol>
        <h2>Disclaimer</h2><p>This page is not a substitute for a doctor.</p>
        </article>
        <article><p>Short related teaser.</p></article></body></html>""",
    )
    article = load(page)
    assert article.title == "Gout"
    assert article.last_updated == "2024-02-01"
    assert [s.heading for s in article.sections] == ["Overview", "Causes"]
    assert article.references == [
        "[1] Smith A. Gout. Rheumatology Today, 2020. https://doi.org/10.1000/gout",
        "[2] Jones B. Uric acid. Kidney Journal, 2021.",
    ]
    text = all_text(article)
    for gone in ("cookies", "Share", "Disclaimer", "not a substitute", "teaser", "Smith A."):
        assert gone not in text, gone


def test_header_zone_never_eats_the_article(tmp_path: Path) -> None:
    path = write(
        tmp_path / "short-lines.txt",
        "Flu vaccine\n"
        "The flu vaccine is offered every year to people at higher risk\n"
        "of getting seriously ill from flu.\n"
        "Who should have it\n"
        "Adults aged 65 and over and pregnant women.\n"
        "\n"
        "1\n",
    )
    article = load(path)
    assert article.title == "Flu vaccine"
    assert [s.heading for s in article.sections] == ["Overview", "Who should have it"]
    assert article.sections[0].text == (
        "The flu vaccine is offered every year to people at higher risk of getting seriously "
        "ill from flu."
    )
