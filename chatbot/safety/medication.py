"""Two checks on the wording of a question that are not red flags.

* :func:`is_personal_medication_question`: a request for a personal dose, or whether to
  start, stop, skip, double or change a medicine ("how much baclofen should I take", "can
  I take two tonight", "what dose for my 4 year old"); the answer then starts with the
  note to ask a doctor or pharmacist.
* :func:`strip_instructions`: sentences aimed at the assistant ("ignore previous
  instructions") are dropped from the search query.
"""

from __future__ import annotations

import re
import unicodedata

from chatbot.safety.text import QUOTES
from chatbot.text import INSTRUCTION as _INSTRUCTION

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


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(QUOTES)
    return re.sub(r"[ \t]+", " ", text)


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
    # can I take two tonight / can he have another one
    rf"{_MODAL} {_SUBJ} {_NEED}(?:take|have|use|give (?:him|her|them|it))"
    r" (?:two|2|three|3|four|4|another|an extra|one more|a second|a double|double|both"
    r"|a couple|half|1/2)\b",
    # the dose for a child: "dose of magnesium for my 6 year old", "how much for a toddler"
    r"(?:dose|dosage|doses|how much|how many|mg|milligrams?)\b[^.?!\n]{0,60}?\b(?:for|to give)"
    r" (?:my|our|a|the|his|her) (?:\w+ )?(?:\d+ ?(?:year|yr|month|week)s? ?olds?|child|children"
    r"|kids?|son|daughter|baby|toddler|infant|boy|girl|teen\w*|grandson|granddaughter)\b",
    rf"(?:give|giving) (?:my|our|a|the) (?:\w+ )?(?:\d+ ?(?:year|yr|month)s? ?olds?|child|kids?|son"
    rf"|daughter|baby|toddler|infant)\b[^.?!\n]{{0,40}}?\b{_MED_WORD}",
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


_SENTENCES = re.compile(r"[^.!?\n]+[.!?]*")


def strip_instructions(text: str) -> str:
    """Drop sentences that instruct the assistant ("ignore previous instructions...").

    They cannot change behaviour (the disclaimer and citations are enforced in code), but
    left in the search query they pull in the wrong passages.
    """
    kept = [s.strip() for s in _SENTENCES.findall(text) if not _INSTRUCTION.search(s)]
    return " ".join(s for s in kept if s)
