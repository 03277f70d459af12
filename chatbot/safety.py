"""Red-flag triage, run on every user message before anything is retrieved.

:func:`triage` looks for descriptions of an emergency happening *now* (chest pain with
arm pain, a drooping face, "I can't breathe", suicidal thoughts, ...) and returns the
category and the phrase that triggered it, so the caller can answer with the emergency
(or crisis) message instead of an article answer. :func:`is_personal_medication_question`
spots requests for a personal dose or a decision to stop/start/change a medicine.

Design
------
* The text is first :func:`normalize`\\ d: NFKC, lowercase, typographic quotes and dashes
  unified, control characters dropped, stretched letters squeezed ("paaain" -> "pain"),
  and a small whole-word typo table applied ("pian" -> "pain", "cant" -> "can't").
* The red flags are *data*: :data:`_RULES` maps each category to a tuple of
  :class:`_Rule`, each a module-level compiled regex with two optional refinements:
  ``with_any`` (a co-symptom that must also appear somewhere in the message, e.g. chest
  pain needs breathlessness, sweating or pain spreading to the arm/jaw/neck/back) and
  ``unless`` (benign context in the same sentence, e.g. "since his stroke" for long-standing
  one-sided weakness, overridden by words like "suddenly" or "right now").
* A match is ignored when it is negated in its clause ("I don't have chest pain", "no
  vomiting") or when its sentence is a general question about a topic with nothing
  personal in it ("What are the signs of a stroke, like face drooping?"). Neither rule is
  ever applied to ``self_harm``: any mention of suicide or self-harm triggers.
* Categories are checked in priority order (self-harm first, so the crisis line is never
  lost) and the first hit wins; :func:`triage_all` lists every category that fired.

Nothing here does I/O; everything is compiled once at import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "Triage",
    "fix_typos",
    "is_personal_medication_question",
    "normalize",
    "strip_instructions",
    "triage",
    "triage_all",
]


@dataclass(frozen=True)
class Triage:
    category: str  # one of CATEGORIES
    matched: str  # the (normalized) phrase that triggered, for staff inspection and logs


# ---------------------------------------------------------------------------------------
# normalization
# ---------------------------------------------------------------------------------------

# Whole-word fixes for frequent misspellings of the words the patterns rely on. Contractions
# typed without an apostrophe get one back so the patterns only spell "can't" one way.
_TYPOS: dict[str, str] = {
    # contractions
    "cant": "can't",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "arent": "aren't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "hadnt": "hadn't",
    "couldnt": "couldn't",
    "wouldnt": "wouldn't",
    "shouldnt": "shouldn't",
    "wont": "won't",
    "im": "i'm",
    "ive": "i've",
    "hes": "he's",
    "shes": "she's",
    "theyre": "they're",
    "whats": "what's",
    # chest / heart
    "pian": "pain",
    "paine": "pain",
    "chets": "chest",
    "chesst": "chest",
    "cheast": "chest",
    "hart": "heart",
    "haert": "heart",
    "attak": "attack",
    "atack": "attack",
    "attck": "attack",
    "presure": "pressure",
    "pressur": "pressure",
    "tightnes": "tightness",
    "tighness": "tightness",
    "sweting": "sweating",
    "swetting": "sweating",
    "sweatting": "sweating",
    # breathing
    "breth": "breathe",
    "brethe": "breathe",
    "breahte": "breathe",
    "breate": "breathe",
    "brathe": "breathe",
    "breeth": "breathe",
    "breating": "breathing",
    "brething": "breathing",
    "breathin": "breathing",
    "breahting": "breathing",
    "breathng": "breathing",
    "brathing": "breathing",
    "throt": "throat",
    "thraot": "throat",
    "throut": "throat",
    "troat": "throat",
    "tounge": "tongue",
    "tonuge": "tongue",
    "toungue": "tongue",
    "swolen": "swollen",
    "sollen": "swollen",
    "sweling": "swelling",
    "swelin": "swelling",
    # self-harm
    "suicidel": "suicidal",
    "sucidal": "suicidal",
    "suicdal": "suicidal",
    "suisidal": "suicidal",
    "suicidial": "suicidal",
    "sucide": "suicide",
    "suicde": "suicide",
    "suiside": "suicide",
    "myslef": "myself",
    "mysef": "myself",
    "myslf": "myself",
    "mysel": "myself",
    "kil": "kill",
    # stroke
    "droping": "drooping",
    "slured": "slurred",
    "slurd": "slurred",
    "slurrd": "slurred",
    "speach": "speech",
    "numbess": "numbness",
    "numness": "numbness",
    "weaknes": "weakness",
    "weekness": "weakness",
    # seizure
    "siezure": "seizure",
    "siezures": "seizures",
    "seizur": "seizure",
    "sezure": "seizure",
    "seisure": "seizure",
    "seazure": "seizure",
    "siezing": "seizing",
    "convusling": "convulsing",
    "convulsng": "convulsing",
    # bleeding / head
    "bleding": "bleeding",
    "bleedin": "bleeding",
    "bleading": "bleeding",
    "vomitting": "vomiting",
    "vommiting": "vomiting",
    "vomting": "vomiting",
    "vommited": "vomited",
    "vomitted": "vomited",
    "unconcious": "unconscious",
    "unconsious": "unconscious",
    "unconscius": "unconscious",
    "concusion": "concussion",
    # poisoning
    "poisend": "poisoned",
    "posioned": "poisoned",
    "poisened": "poisoned",
    "poisonned": "poisoned",
    "poisioned": "poisoned",
    "posion": "poison",
    "poision": "poison",
    "swollowed": "swallowed",
    "swalowed": "swallowed",
    "swallowd": "swallowed",
    "bleech": "bleach",
    "pils": "pills",
    "pilss": "pills",
    # the library's own topic, for retrieval as much as for triage
    "musle": "muscle",
    "muscel": "muscle",
    "mucle": "muscle",
    "muscule": "muscle",
    "musscle": "muscle",
    "musles": "muscles",
    "muscels": "muscles",
    "spazm": "spasm",
    "spazms": "spasms",
    "spasim": "spasm",
    "spasams": "spasms",
    "medecine": "medicine",
    "medicin": "medicine",
    "medicaton": "medication",
    "medcation": "medication",
    "baclophen": "baclofen",
    "backlofen": "baclofen",
}

_QUOTES = str.maketrans({c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u00b4`"})
_DASHES = re.compile(r"[\u2010-\u2015\u2212_/-]+")
_WORD = re.compile(r"[a-z][a-z']*")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


def _normalize_line(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    # control and format characters (zero-width spaces, soft hyphens, ...) carry no meaning
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    text = _DASHES.sub(" ", text)
    text = _STRETCHED.sub(r"\1", text)  # no English word has three identical letters in a row
    text = _WORD.sub(lambda m: _TYPOS.get(m.group(0), m.group(0)), text)
    return _SPACES.sub(" ", text).strip()


_ANY_CASE_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def fix_typos(text: str) -> str:
    """Correct the common misspellings of the typo table, leaving everything else as typed."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        fixed = _TYPOS.get(word.lower())
        if fixed is None:
            return word
        return fixed.capitalize() if word[0].isupper() else fixed

    return _ANY_CASE_WORD.sub(fix, text)


def normalize(text: str) -> str:
    """Lowercase, NFKC, unify quotes/dashes, drop control characters, squeeze stretched
    letters, fix common typos and collapse all whitespace to single spaces."""
    return " ".join(_normalize_line(text).split())


def _prepare(text: str) -> str:
    """Like :func:`normalize` but keeps line breaks, which end a sentence."""
    lines = (_normalize_line(line) for line in text.splitlines())
    return "\n".join(" ".join(line.split()) for line in lines if line)


# ---------------------------------------------------------------------------------------
# pattern building blocks
# ---------------------------------------------------------------------------------------

_CANT = r"(?:can't|cannot|can not|couldn't|could not|unable to|not able to)"
_WONT = (
    r"(?:won't|will not|doesn't|does not|isn't|is not|hasn't|has not|didn't|did not|can't"
    r"|cannot|not|never)"
)
# up to four "glue" words between a body part and what is happening to it:
# "face is drooping", "chest feels really tight", "arm and face have gone numb"
_FILL = (
    r"(?:(?:is|are|was|were|went|gone|has|have|had|feels?|felt|looks?|seems?|got|getting|gets"
    r"|became|becoming|started|starting|starts|to|suddenly|now|just|really|very|so|kind|of"
    r"|kinda|a|bit|little|completely|totally|all|that|which|keeps|kept|still|also|and|it|it's"
    r"|they|they're|like|turning|going|gone|go)\s+){0,4}"
)
_POSS = r"(?:my|his|her|their|the|your|our|a)"
_SIDE = r"(?:left|right)"
_CHEST = r"(?:chest|heart|sternum|breastbone)"
_PAIN = (
    r"(?:pain|pains|painful|ache|aches|aching|pressure|tightness|tight|discomfort|hurts?|hurting"
    r"|squeez\w*|heaviness|heavy|burning|crushing|killing me)"
)
_BREATH = r"breath\w*"
_BLOOD = (
    r"(?:bleed\w*|blood(?! (?:pressure|sugars?|tests?|work|clots?|flow|circulation|vessels?"
    r"|supply|levels?|counts?|thinners?|cells?|type|donation)))"
)
_SEIZ = r"s(?:ei|ie|e|ee|i|ea)[sz]ures?"
_MED = (
    r"(?:pills?|tablets?|capsules?|meds|medications?|medicines?|drugs?|doses?|painkillers?"
    r"|prescriptions?|baclofen|tizanidine|dantrolene|cyclobenzaprine|pregabalin|gabapentin"
    r"|duloxetine|diazepam|valium|benzos?|benzodiazepines?|paracetamol|acetaminophen|tylenol"
    r"|ibuprofen|advil|aspirin|naproxen|opioids?|oxycodone|morphine|fentanyl|heroin|insulin"
    r"|antidepressants?|muscle relaxants?|relaxants?|quinine|magnesium|methocarbamol"
    r"|carisoprodol|xanax|lorazepam|ambien|zolpidem|sleeping pills|botox|botulinum)"
)


def _rx(*alternatives: str) -> re.Pattern[str]:
    """One compiled pattern matching any of the alternatives as whole words."""
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    # a co-symptom that must also appear (not negated) somewhere in the message
    with_any: re.Pattern[str] | None = None
    # benign context in the same sentence that cancels the match ...
    unless: re.Pattern[str] | None = None
    # ... except when the sentence also sounds acute ("suddenly", "right now")
    acute_overrides: bool = True


# --- shared contexts --------------------------------------------------------------------

_ACUTE = _rx(
    r"sudden\w*",
    r"all of a sudden",
    r"right now",
    r"just now",
    r"out of nowhere",
    r"(?:a few |few |\d+ |ten |five |twenty )?minutes? ago",
    r"an hour ago",
    r"this (?:morning|afternoon|evening)",
    r"tonight",
    r"started (?:today|just|an hour|minutes)",
)
# long-standing deficits after a stroke are the library's topic (spasticity), not a 911 call
_CHRONIC = _rx(
    rf"(?:since|after|following|from|post) (?:{_POSS} |his |her )?(?:stroke|strokes|tia)",
    r"post stroke",
    r"stroke (?:survivor|rehab\w*|recovery)",
    r"spastic\w*",
    r"rehab\w*",
    r"physio\w*",
    r"(?:for|over) (?:the )?(?:past |last )?(?:\d+|a|one|two|three|four|few|several|many)"
    r" (?:months?|years?)",
    r"(?:months?|years?) ago",
    r"last (?:month|year)",
)
_CRAMP = _rx(r"cramp\w*", r"spasm\w*", r"charley horse", r"gym", r"workout", r"exercis\w*")
_PERIOD = _rx(r"periods?", r"menstrua\w*", r"menses")

# --- co-symptoms --------------------------------------------------------------------------

_CARDIAC_COMPANION = _rx(
    # breathlessness
    rf"short(?:ness)? of {_BREATH}",
    r"breathless\w*",
    rf"out of {_BREATH}",
    rf"{_CANT} (?:catch {_POSS} )?{_BREATH}",
    rf"(?:hard|difficult|trouble|difficulty|struggl\w*|problems?) (?:to |with )?{_BREATH}",
    r"gasping",
    r"winded",
    r"(?:can't|cannot) get (?:enough )?air",
    # sweating
    r"sweat\w*",
    r"clammy",
    r"perspir\w*",
    r"drenched",
    # pain spreading to the arm, jaw, neck or back
    r"(?:spread\w*|radiat\w*|going|goes|gone|moving|moves|shoot\w*|travel\w*|extend\w*)"
    r" (?:up |down |out |over |right |straight )?(?:to|into|down|through|up|across|toward|towards"
    rf"|in) (?:{_POSS} )?(?:{_SIDE} )?(?:arms?|jaw|neck|back|shoulders?)",
    rf"(?:arms?|jaw|neck|shoulders?) (?:\w+ ){{0,2}}?{_PAIN}",
    rf"(?:arms?|jaw|neck|shoulders?) {_FILL}(?:numb\w*|tingl\w*)",
    rf"(?:pain|ache|aching|numbness|tingling) (?:in|down|into) (?:{_POSS} )?(?:{_SIDE} )?"
    r"(?:arms?|jaw|neck|shoulders?)",
    # other classic companions
    r"nause\w*",
    r"vomit\w*",
    r"throwing up",
    r"threw up",
    r"dizz\w*",
    r"light ?headed\w*",
    r"faint\w*",
    r"pass(?:ed|ing)? out",
)

_HEAD_INJURY_COMPANION = _rx(
    r"confus\w*",
    r"disorient\w*",
    r"dazed",
    r"vomit\w*",
    r"throw\w* up",
    r"threw up",
    r"puk\w*",
    r"pass(?:ed|ing|es)? out",
    r"black(?:ed|ing|s)? out",
    r"los(?:e|t|ing) consciousness",
    r"unconscious",
    r"knocked (?:out|unconscious)",
    r"won't wake",
    r"drowsy",
    r"(?:can't|cannot) stay awake",
    r"seiz\w*",
    _SEIZ,
    r"convuls\w*",
    r"(?:worst|severe|terrible|bad|worsening|getting worse|splitting) headache",
    r"headache (?:is )?getting worse",
    r"clear fluid",
    r"blood (?:\w+ )?(?:from|out of) (?:\w+ )?(?:ears?|nose)",
    r"slurr\w*",
    r"not making sense",
    r"(?:can't|cannot|doesn't|don't|didn't) remember",
    r"memory loss",
    r"unequal pupils",
)

# --- the rules, per category ---------------------------------------------------------------

_RULES: tuple[tuple[str, tuple[_Rule, ...]], ...] = (
    (
        "self_harm",
        (
            _Rule(
                _rx(
                    r"su(?:i|ic|ci|ii)?[cs]{1,2}i?d(?:e|es|al|el|ial|ality|ally|ed)",
                    r"kill(?:ing|ed)? my ?self",
                    r"kms",
                    r"unalive (?:my ?self|me)",
                    r"end(?:ing)? (?:it all|my (?:own )?life|everything)",
                    r"tak(?:e|ing) (?:away )?my (?:own )?life",
                    r"(?:want|wanna|wanted|wish|plan\w*|ready|deserve|decided)"
                    r" (?:to )?(?:just )?die",
                    r"wish (?:i|that i) (?:was|were|wasn't|weren't) (?:dead|alive|here|born)",
                    r"better off (?:dead|without me)",
                    r"(?:wish|hope|pray)\w* (?:that )?(?:i|to) "
                    r"(?:could |would |will |just |might )?"
                    r"(?:die|be dead|not wake up|never wake up|don't wake up)(?! down| off| out)",
                    r"wish (?:\w+ ){0,3}?would (?:just )?kill me",
                    r"(?:can't|cannot) (?:go on|carry on|keep going)"
                    r" (?:anymore|any more|any longer|like this|living)",
                    r"(?:don't|do not) want to (?:go on|carry on) (?:anymore|any more|living)",
                    r"(?:plan\w*|going|gonna|want\w*|wanna|thinking|think|decided|intend\w*|ready"
                    r"|about) (?:\w+ ){0,2}?(?:to |about |of )?"
                    r"(?:overdos\w*|over ?d(?:o|oe|oo)[sz]+\w*|od)",
                    r"(?:going to|gonna|plan\w* to|want to|wanna|will|about to|thinking of"
                    r"|thinking about) (?:take|taking|swallow\w*) (?:all (?:of )?(?:my|the|his|her)"
                    r"|a (?:whole )?bottle|the whole)",
                    r"(?:harm(?:ing|ed|s)?|cutting|burning|starving) my ?self",
                    r"(?:want|wanna|wanted|going|gonna|urges?|thinking|thought|thoughts|think"
                    r"|feel like|plan\w*|tempted|trying|tried|might|will|could|keep|need)"
                    r" (?:\w+ ){0,2}?(?:to |about |of )?(?:hurt|harm|cut|injure|punish)(?:ing)?"
                    r" my ?self",
                    r"(?:hurt|harm|cut|injur)\w* my ?self (?:\w+ ){0,2}?"
                    r"(?:on purpose|deliberately)",
                    r"self (?:harm\w*|injur\w*|mutilat\w*)",
                    r"selfharm\w*",
                    r"(?:don't|do not|no longer) want to (?:live|be alive|be here|wake up|exist)",
                    r"no (?:reason|point) (?:to|in) (?:live|living|going on)",
                    r"(?:life is )?not worth living",
                    r"(?:overdos\w*|over ?d(?:o|oe|oo)[sz]+\w*|pills|tablets)"
                    r" (?:\w+ ){0,4}?(?:on purpose|deliberately|intentionally|to die)",
                ),
            ),
        ),
    ),
    (
        "cardiac",
        (
            # unmistakable on their own
            _Rule(
                _rx(
                    r"(?:crushing|squeezing|severe|sudden|intense|excruciating|unbearable"
                    rf"|terrible|worst|really bad|very bad) (?:\w+ ){{0,2}}?{_CHEST} {_PAIN}",
                    rf"crushing (?:\w+ ){{0,2}}?(?:in|on|across) (?:{_POSS} )?chest",
                    r"(?:elephant|weight|something heavy|someone) (?:\w+ ){0,2}?"
                    r"(?:sitting|standing|on) (?:on )?(?:my|his|her) chest",
                    r"having (?:a |another )?heart attack",
                    r"heart attack (?:right )?now",
                    r"cardiac arrest",
                    r"heart (?:has )?stopped",
                    r"(?:has )?no pulse",
                ),
            ),
            # chest pain/pressure/tightness together with a classic co-symptom
            _Rule(
                _rx(
                    rf"{_CHEST} {_FILL}{_PAIN}",
                    rf"{_PAIN} (?:in|on|across|around|behind|inside|of) (?:{_POSS} )?"
                    r"(?:(?:middle|centre|center|left side) of (?:my |the )?)?"
                    rf"{_CHEST}(?! (?:muscles?|wall))",
                    r"tight chest",
                ),
                with_any=_CARDIAC_COMPANION,
            ),
            # chest and arm/jaw pain named together
            _Rule(
                _rx(
                    rf"{_CHEST} (?:and|&|\+) (?:{_POSS} )?(?:{_SIDE} )?"
                    rf"(?:arms?|jaw|neck|shoulders?) {_PAIN}",
                    rf"{_PAIN} (?:in|on|across) (?:{_POSS} )?chest (?:and|&|\+) (?:{_POSS} )?"
                    rf"(?:{_SIDE} )?(?:arms?|jaw|neck|shoulders?)",
                ),
            ),
        ),
    ),
    (
        "stroke",
        (
            _Rule(
                _rx(
                    r"having (?:a |another |an? mini )?(?:stroke|tia)",
                    r"stroke (?:right )?now",
                    r"(?:worst|thunderclap) headache",
                    r"sudden\w* (?:\w+ ){0,3}?(?:worst|severe|excruciating|terrible) headache",
                    r"sudden\w* (?:\w+ ){0,3}?(?:blind\w*|loss of (?:vision|sight)|vision loss"
                    r"|double vision|can't see)",
                    r"sudden\w* (?:\w+ ){0,3}?confus\w*",
                    rf"(?:face|facial|mouth|smile) (?:on one side )?{_FILL}"
                    r"(?:droop\w*|drop\w*|sag\w*|lopsided|crooked|uneven|slanted|twisted"
                    r"|fallen|paraly\w*)",
                    r"(?:droop\w*|sagg\w*|lopsided|crooked|uneven|slanted) (?:\w+ )?"
                    r"(?:face|mouth|smile)",
                    rf"(?:one|{_SIDE}) side of {_POSS} (?:face|mouth) {_FILL}"
                    r"(?:droop\w*|drop\w*|sag\w*|numb\w*|weak\w*|paraly\w*|dead|tingl\w*"
                    r"|not moving|won't move|fallen)",
                ),
                unless=_CHRONIC,
            ),
            # speech
            _Rule(
                _rx(
                    r"slurr?(?:ed|ing|s)? (?:\w+ )?(?:speech|words|talk\w*|speaking)",
                    r"slurring",
                    rf"(?:speech|words|talking|voice) {_FILL}"
                    r"(?:slurr?\w*|garbled|jumbled|gibberish|not making sense)",
                    rf"{_CANT} (?:speak|talk|get (?:the |my )?words out|find (?:the |my )?words"
                    r"|form words|say words)",
                    r"(?:trouble|difficulty|problems?|struggl\w*|hard time) (?:with )?"
                    r"(?:speak\w*|talk\w*|finding (?:the )?words|getting (?:the )?words out)",
                    r"(?:talking|speaking) gibberish",
                ),
                unless=_CHRONIC,
            ),
            # one-sided weakness or numbness
            _Rule(
                _rx(
                    rf"(?:one|{_SIDE}) side (?:of {_POSS} (?:body|face) )?{_FILL}"
                    r"(?:weak\w*|numb\w*|paraly\w*|limp|dead|heavy|tingl\w*|not working"
                    r"|won't move|gave out|floppy)",
                    r"(?:weak\w*|numb\w*|paralys\w*|paralyz\w*|tingl\w*|no feeling) "
                    rf"(?:\w+ ){{0,2}}?(?:on|in|down) (?:one|(?:{_POSS} )?{_SIDE}) side",
                    rf"(?:{_SIDE} )?(?:arm|leg|hand) and (?:{_POSS} )?(?:{_SIDE} )?face {_FILL}"
                    r"(?:numb\w*|weak\w*|droop\w*|paraly\w*|tingl\w*|dead)",
                    rf"face and (?:{_POSS} )?(?:{_SIDE} )?(?:arm|leg|hand) {_FILL}"
                    r"(?:numb\w*|weak\w*|paraly\w*|tingl\w*|dead)",
                ),
                unless=_CHRONIC,
            ),
            # sudden weakness, or an arm that will not lift: unless a cramp explains it
            _Rule(
                _rx(
                    r"sudden\w* (?:\w+ ){0,3}?(?:weak\w*|numb\w*|paraly\w*)",
                    rf"{_CANT} (?:lift|raise|move|feel|use) (?:up )?"
                    rf"(?:one|(?:{_POSS} )?{_SIDE}) (?:arm|leg|hand|side)",
                ),
                unless=re.compile(_CHRONIC.pattern + "|" + _CRAMP.pattern),
                acute_overrides=False,
            ),
        ),
    ),
    (
        "anaphylaxis",
        (
            _Rule(
                _rx(
                    r"ana(?:ph|f)[aiy]?l+a(?:x|ct|k)\w*",
                    rf"throat {_FILL}"
                    r"(?:clos\w*|swell\w*|swollen|tight\w*|constrict\w*|puff\w*)",
                    r"(?:swollen|swelling|swelled|puffy|puffed up) (?:\w+ )?"
                    r"(?:throat|tongue|lips?|mouth|face)",
                    rf"(?:swelling|swollen) (?:of|in) {_POSS} (?:throat|tongue|lips?|mouth|face)",
                    rf"(?:tongue|lips?|mouth|face|throat) {_FILL}"
                    r"(?:swell\w*|swollen|puff\w*|blow\w* up|huge)",
                    r"(?:severe|bad|serious|major|massive) allergic reaction",
                    r"(?:use|used|using|give|gave|giving|need|needed|needs) (?:to use )?"
                    r"(?:my |his |her |an |the |their )?(?:epi ?pen|epinephrine|adrenaline)",
                ),
            ),
        ),
    ),
    (
        "breathing",
        (
            _Rule(
                _rx(
                    rf"{_CANT} {_BREATH}",
                    rf"(?:struggl\w*|fighting|gasping|labou?red|trouble|difficulty|difficult|hard"
                    rf"|problems?|hardly|barely) (?:to |with |for )?(?:{_BREATH}|air)",
                    rf"(?:not|stopped|isn't|wasn't|no longer|quit) {_BREATH}",
                    r"(?:i'm|is|he's|she's|am|are|was|were|they're|baby's) chok\w*",
                    r"chok(?:ing|ed) on",
                    r"suffocat\w*",
                    rf"(?:lips?|face|fingers?|skin) {_FILL}(?:blue|bluish|grey|gray)",
                    r"(?:severe|sudden|extreme|really bad|very bad) (?:shortness of breath"
                    r"|breathlessness|breathing (?:problems?|difficult\w*|trouble))",
                    r"(?:having|bad|severe) (?:an? )?asthma attack",
                    r"inhaler (?:is )?(?:not|isn't) (?:working|helping)",
                ),
            ),
        ),
    ),
    (
        "unconscious",
        (
            _Rule(
                _rx(
                    r"unresponsive",
                    r"(?:won't|will not|isn't|is not|not) (?:wake|waking) up",
                    r"(?:can't|cannot|couldn't|could not) wake (?:\w+ ){1,2}?up",
                    r"(?:is|was|went|fell|lying|found \w+|he's|she's) unconscious",
                    r"collaps(?:ed|es|ing)",
                    r"passed out and (?:won't|isn't|is not|not|can't)",
                ),
            ),
        ),
    ),
    (
        "seizure",
        (
            _Rule(
                _rx(
                    r"(?:having|just had|has just had|is having|are having|am having"
                    r"|started having|in the middle of) (?:a |an |another )?"
                    rf"(?:(?:\w+ ){{0,2}}?(?:{_SEIZ}|convulsions?)(?! disorder)|fits?(?! of)"
                    r"|epileptic (?:fit|attack))",
                    r"seizing",
                    r"convuls(?:ing|ed|es|ions?)",
                    r"(?:is|he's|she's|i'm|are|keeps|started|been) fitting",
                    rf"(?:{_SEIZ}|fits?|convulsions?) {_FILL}{_WONT} stop\w*",
                    rf"(?:{_SEIZ}|fits?|convulsions?) (?:has )?(?:lasting|lasted|going on|for)"
                    r" (?:more than |over |longer than )?(?:\d+|five|ten) min\w*",
                    rf"(?:whole|entire) body {_FILL}(?:shaking|jerking|convuls\w*)",
                    r"(?:jerking|shaking) (?:\w+ ){0,3}?(?:unresponsive|not responding"
                    r"|won't respond|unconscious|eyes rolled)",
                    r"status epilepticus",
                ),
            ),
        ),
    ),
    (
        "head_injury",
        (
            _Rule(
                _rx(
                    r"(?:got|was|been|is|were|being|get) knocked (?:out|unconscious)",
                    r"(?:skull fracture|fractured (?:my |his |her )?skull"
                    r"|cracked (?:my |his |her |their )?skull)",
                    r"head (?:is )?bleeding (?:a lot|heavily|badly)",
                ),
            ),
            _Rule(
                _rx(
                    r"(?:hit|hitting|bump\w*|bang\w*|struck|smack\w*|knock\w*|whack\w*|hurt"
                    r"|injur\w*|land\w*|fell|fall\w*) (?:\w+ ){0,4}?head",
                    r"head (?:injury|injuries|trauma|wound|knock|bump|hit)",
                    r"concuss\w*",
                ),
                with_any=_HEAD_INJURY_COMPANION,
            ),
        ),
    ),
    (
        "poisoning",
        (
            _Rule(
                _rx(
                    r"over ?d(?:o|oe|oo)[sz]+\w*",
                    r"od'?(?:d|ed|ing)",
                    # past tense on purpose: "what if I take too much" is a question
                    rf"(?:took|taken|swallowed|ate|eaten|had|drank|drunk|consumed|given|gave)"
                    r" (?:way |far |like |about |around |over |maybe |nearly |almost )?"
                    r"(?:too (?:many|much) (?:of )?"
                    rf"(?:{_POSS} |these |those |his |her )?(?:\w+ )?{_MED}"
                    r"|(?:a|the) (?:(?:whole|full|entire) )?(?:bottle|pack\w*|box|strip|sheet"
                    rf"|blister|handful) of (?:{_POSS} |his |her )?(?:\w+ )?{_MED}"
                    rf"|all (?:of )?(?:{_POSS} |his |her )(?:\w+ )?{_MED}"
                    rf"|(?:\d{{2,}}|ten|twenty|thirty|forty|fifty|a hundred|dozens of) (?:\w+ )?"
                    r"(?:pills|tablets|capsules))",
                    r"(?:took|taken|swallowed) (?:too (?:many|much)|(?:a|the) (?:whole|full|entire)"
                    r" (?:bottle|pack|box))(?=\s*(?:[.,!?;\n]|$))",
                    r"(?<!food )poison(?:ed|ing)",
                    r"poison control",
                    r"carbon monoxide",
                    r"(?:swallow\w*|drank|drink\w*|drunk|ate|eaten|eating|ingest\w*|sipped"
                    r"|licked|chewed) (?:\w+ ){0,3}?(?:bleach|antifreeze|drain cleaner|detergent"
                    r"|(?:laundry|dishwasher|tide|detergent) pods?|rat poison|poison|pesticides?"
                    r"|weed ?killer|insecticide|bug spray|lye|ammonia|cleaning (?:products?"
                    r"|fluid|liquid|spray)|chemicals?|gasoline|petrol|kerosene|button batter\w*"
                    r"|batter(?:y|ies)|lighter fluid|paint thinner|nail polish remover"
                    r"|window cleaner|disinfectant|methanol|windshield washer|wild mushrooms?"
                    r"|poisonous \w+|toxic \w+|hand sanitizer|oven cleaner|toilet cleaner"
                    r"|lamp oil|nicotine liquid|e liquid)",
                    r"accidental\w* (?:took|take|taken|swallowed|gave|given|ate|drank)"
                    rf" (?:\w+ ){{0,4}}?{_MED}",
                ),
            ),
        ),
    ),
    (
        "bleeding",
        (
            _Rule(
                _rx(
                    rf"(?:bleed\w*|blood) {_FILL}{_WONT} (?:stop\w*|slow\w*|clot\w*)",
                    rf"{_WONT} (?:get (?:it|the bleeding|this) to )?stop (?:the )?bleed\w*",
                    r"unable to stop (?:the )?bleed\w*",
                    r"(?:uncontroll\w*|massive|profuse\w*|spurting|gushing|pouring|squirting)"
                    rf" (?:\w+ )?{_BLOOD}",
                    rf"blood {_FILL}(?:spurt\w*|gush\w*|pour\w*|everywhere|squirt\w*)",
                    rf"(?:cough\w*|vomit\w*|throw\w* up|threw up|puk\w*) (?:up )?(?:\w+ )?{_BLOOD}",
                ),
            ),
            _Rule(
                _rx(
                    r"(?:severe|heavy|heavily|excessive|a lot of|lots of|so much|tons of) "
                    rf"(?:\w+ )?{_BLOOD}",
                    r"bleed\w* (?:very |really |so )?(?:heavily|badly|a lot|profusely|everywhere"
                    r"|non ?stop|like crazy)",
                ),
                unless=_PERIOD,
            ),
        ),
    ),
)

CATEGORIES: tuple[str, ...] = tuple(name for name, _ in _RULES)
_NEVER_SUPPRESSED = frozenset({"self_harm"})

# --- suppression: negation and general questions ------------------------------------------

_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n")
_CLAUSE_END = re.compile(
    r"[,.!?;:()\n]|\b(?:but|however|although|though|except|yet|whereas|while)\b"
)
# a negation governing the text right after it: "no ", "don't have any ", "no fever or "
_NEG_CUE = (
    r"\b(?:no|not|never|without|denies|denied|nor|zero|none"
    r"|(?:don't|doesn't|didn't|haven't|hasn't|hadn't|do not|does not|did not|have not|has not"
    r"|am not|isn't|is not|aren't|wasn't|weren't)(?: (?:have|having|had|get|getting|got|feel"
    r"|feeling|felt|experienc\w*|notic\w*|see|seeing|show\w*))?)"
)
_NEG_FILLER = r"(?: (?:any|a|an|the|much|real|actual|more|other|some|signs? of|symptoms? of))*"
_NEGATED_TAIL = re.compile(rf"{_NEG_CUE}{_NEG_FILLER}(?:(?: [\w']+){{1,3}}? (?:or|nor))? ?$")
# a general question ("Can a stroke cause slurred speech?") rather than a report
_QUESTION_START = re.compile(
    r"^(?:hi|hello|hey|ok|okay|so|and|also|thanks|please|well)?[\s,]*"
    r"(?:what|what's|which|how|why|when|where|who|can|could|does|do|is|are|will|would|should"
    r"|may|might|tell me|explain|describe|list|define)\b"
)
_INFO_WORDS = _rx(
    r"danger\w*",
    r"safe",
    r"harmful",
    r"toxic",
    r"fatal",
    r"deadly",
    r"serious",
    r"caus\w*",
    r"signs?",
    r"symptoms?",
    r"side effects?",
    r"mean\w*",
    r"lead to",
    r"linked",
    r"associated",
    r"related",
    r"differen\w*",
    r"vs",
    r"versus",
    r"risks?",
    r"happens?",
    r"warning",
    r"definition",
    r"types?",
    r"treat\w*",
    r"prevent\w*",
    r"recogni[sz]e",
    r"tell if",
    r"know if",
    r"first aid",
)
_GENERIC_START = re.compile(
    r"^(?:what(?:'s| is| are)|define|is it possible|"
    r"(?:can|could|do|does|will|would|should|what happens (?:if|when)) "
    r"(?:you|a person|people|one|anyone)\b)"
)
_PERSONAL = _rx(
    r"i",
    r"i'm",
    r"i've",
    r"i'd",
    r"i'll",
    r"me",
    r"my",
    r"mine",
    r"myself",
    r"we",
    r"we're",
    r"our",
    r"us",
    r"he",
    r"he's",
    r"him",
    r"his",
    r"she",
    r"she's",
    r"her",
    r"they're",
    r"someone",
    r"somebody",
    r"now",
    r"currently",
    r"today",
    r"tonight",
)


def _span(text: str, start: int, end: int, boundary: re.Pattern[str]) -> tuple[int, int]:
    """The stretch of ``text`` around ``start:end`` between two ``boundary`` matches."""
    left = 0
    for before in boundary.finditer(text, 0, start):
        left = before.end()
    after = boundary.search(text, end)
    return left, (after.start() if after else len(text))


def _is_negated(text: str, start: int) -> bool:
    clause_start, _ = _span(text, start, start, _CLAUSE_END)
    return bool(_NEGATED_TAIL.search(text[clause_start:start]))


def _is_general_question(sentence: str) -> bool:
    sentence = sentence.strip()
    if not _QUESTION_START.search(sentence) or _PERSONAL.search(sentence):
        return False
    return bool(_INFO_WORDS.search(sentence) or _GENERIC_START.search(sentence))


def _suppressed(text: str, m: re.Match[str], rule: _Rule) -> bool:
    s_start, s_end = _span(text, m.start(), m.end(), _SENTENCE_END)
    sentence = text[s_start:s_end]
    if _is_negated(text, m.start()):
        return True
    if (
        rule.unless is not None
        and rule.unless.search(sentence)
        and not (rule.acute_overrides and _ACUTE.search(sentence))
    ):
        return True
    return _is_general_question(sentence)


def _companion(text: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    for m in pattern.finditer(text):
        if not _is_negated(text, m.start()):
            return m
    return None


def _hit(text: str, rule: _Rule, suppressible: bool) -> str | None:
    for m in rule.pattern.finditer(text):
        if suppressible and _suppressed(text, m, rule):
            continue
        if rule.with_any is None:
            return m.group(0).strip()
        other = _companion(text, rule.with_any)
        if other is None:
            return None  # the co-symptom is absent from the whole message
        return f"{m.group(0).strip()} + {other.group(0).strip()}"
    return None


def triage_all(text: str) -> list[Triage]:
    """Every red-flag category found in ``text``, in priority order."""
    if not text or not text.strip():
        return []
    prepared = _prepare(text)
    found: list[Triage] = []
    for category, rules in _RULES:
        suppressible = category not in _NEVER_SUPPRESSED
        for rule in rules:
            matched = _hit(prepared, rule, suppressible)
            if matched is not None:
                found.append(Triage(category=category, matched=matched))
                break
    return found


def triage(text: str) -> Triage | None:
    """The highest-priority red flag in ``text`` (self-harm first), or None."""
    found = triage_all(text)
    return found[0] if found else None


# ---------------------------------------------------------------------------------------
# personal medication questions
# ---------------------------------------------------------------------------------------

_SUBJ = r"(?:i|we|he|she|they|my \w+|our \w+|my \w+ \w+)"
_MODAL = r"(?:can|could|should|shall|may|must|do|would|will|ought)"
_MED_WORD = _MED[:-1] + r"|dosage|dosages|mg|milligrams?|injections?|shots?|supplements?)"
_NEED = r"(?:(?:need to|have to|still|just|safely|also|really|be able to) )?"
_CHANGE = (
    r"(?:stop|stopping|quit|discontinue|come off|go off|get off|wean off|wean|start|begin"
    r"|restart|resume|switch|change|increase|decrease|reduce|lower|raise|up|double|triple"
    r"|halve|skip|miss|cut|taper|split|crush|combine|mix|add|keep taking|continue|stay on|take"
    r"|taking)"
)
_TRY = r"(?:use|try|give|have|get)"  # weaker verbs: the medicine must follow closely
_DOSE_VERB = r"(?:take|use|give|have|be taking|keep taking|stay on|continue)"

_MEDICATION_QUESTION = _rx(
    # how much baclofen should I take / how many mg of X can I take
    rf"how (?:much|many|often|long|frequently) (?:of )?(?:[\w']+ ){{0,4}}?{_MED_WORD}"
    rf" (?:[\w']+ ){{0,3}}?{_MODAL} {_SUBJ} {_NEED}{_DOSE_VERB}",
    # how much should I take? / how often should I take it / ... take baclofen
    rf"how (?:much|many|often|long|frequently) {_MODAL} {_SUBJ} {_NEED}{_DOSE_VERB}"
    rf"(?: (?:it|them|this|that|these|those)|(?: [\w']+){{0,3}}? {_MED_WORD}"
    r"|(?= (?:a|per|each) day| daily| at (?:once|a time))|(?=\s*(?:[.?!,\n]|$)))",
    # what dose ... should I take / what's the right dose for me
    r"(?:what|which)(?:'s| is| are)? (?:the |a )?(?:right |correct |best |safe |maximum |max "
    r"|recommended |usual |starting |normal |good )?(?:dose|dosage|amount|strength|mg)"
    rf"[^.?!\n]*?\b(?:for me|for (?:my|our) \w+|{_MODAL} {_SUBJ}|i (?:should|can|need))",
    # (tell me) the dose of baclofen I should take
    rf"(?:dose|dosage|amount|mg) (?:of (?:[\w']+ ){{1,2}})?(?:that )?{_SUBJ} (?:should|can|must"
    r"|need to|ought to) (?:take|use|give|have)",
    # can / should I stop, start, switch, double ... <medicine>
    rf"{_MODAL} {_SUBJ} {_NEED}{_CHANGE}\b[^.?!\n]{{0,60}}?\b{_MED_WORD}",
    rf"{_MODAL} {_SUBJ} {_NEED}{_TRY}(?: [\w']+){{0,2}}? {_MED_WORD}",
    # I want / need / am going to stop ... <medicine>
    r"(?:i|we|he|she) (?:want|wants|need|needs|plan|plans|am planning|'m planning|am going"
    r"|'m going|would like|'d like|am thinking|'m thinking|was thinking) (?:to|of|about) "
    rf"{_CHANGE}\b[^.?!\n]{{0,60}}?\b{_MED_WORD}",
    # is it safe / ok (for me) to take ... <medicine>
    r"is it (?:ok|okay|safe|fine|alright|all right|dangerous|bad|wise|a good idea) "
    r"(?:for (?:me|my \w+|him|her|us) )?(?:to|if (?:i|he|she|we)) "
    rf"(?:\w+ ){{0,2}}?{_CHANGE}\b[^.?!\n]{{0,60}}?\b{_MED_WORD}",
    # forgot / missed my dose
    r"(?:i|he|she|we) (?:forgot|missed|skipped|forget|miss) (?:to take )?"
    rf"(?:my|his|her|a|the|our) (?:\w+ )?{_MED_WORD}",
    # double / increase / stop my dose
    r"(?:double|increase|decrease|reduce|lower|raise|up|halve|change|adjust|stop|skip)"
    r" (?:my|his|her|our) (?:\w+ )?(?:dose|dosage|doses|medication|medicine|meds|pills"
    r"|tablets|prescription)",
    # is 20 mg too much for me
    r"\d+(?:\.\d+)? ?(?:mg|milligrams?)\b[^.?!\n]{0,40}?\b(?:too (?:much|little|high|low"
    r"|strong)|enough|safe|ok|okay|fine) for (?:me|my \w+|him|her)",
)


def is_personal_medication_question(text: str) -> bool:
    """True when ``text`` asks for a personal dose or whether to stop, start, skip or change
    a medicine ("how much baclofen should I take", "should I double my dose")."""
    if not text or not text.strip():
        return False
    return bool(_MEDICATION_QUESTION.search(_prepare(text)))


# ---------------------------------------------------------------------------------------
# instructions aimed at the assistant
# ---------------------------------------------------------------------------------------

_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,60}\b(instruction|instructions|"
    r"prompt|rules?|guidelines?|disclaimer|above|previous)\b"
    r"|\b(don'?t|do not|never|stop|without)\b[^.!?\n]{0,30}\b(add|adding|include|including|"
    r"show|showing|append|print|use|using)\b[^.!?\n]{0,30}\bdisclaimers?\b"
    r"|\b(remove|delete|drop|skip|omit)\b[^.!?\n]{0,30}\bdisclaimers?\b"
    r"|\byou are now\b|\bsystem prompt\b|\bact as\b|\bpretend (to be|you are)\b|\bjailbreak\b",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"[^.!?\n]+[.!?]*")


def strip_instructions(text: str) -> str:
    """Drop sentences that instruct the assistant ("ignore previous instructions...").

    They cannot change behaviour (the disclaimer and citations are enforced in code), but
    left in the search query they pull in the wrong passages.
    """
    kept = [s.strip() for s in _SENTENCES.findall(text) if not _INSTRUCTION.search(s)]
    return " ".join(s for s in kept if s)
