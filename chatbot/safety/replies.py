"""The emergency, urgent and crisis replies, from the reviewed templates of
``data/triage/replies.yaml``, in the message's language, numbers of the chosen region
first. The instruction comes first; the disclaimer is added after it by the caller."""

from __future__ import annotations

from chatbot.safety.tables import SELF_HARM, ReplyTemplates, Tables
from chatbot.safety.triage import Assessment


class ReplyWriter:
    def __init__(self, tables: Tables, region: str) -> None:
        if region not in tables.replies.regions:
            raise ValueError(
                f"unknown region {region!r}; choose one of {sorted(tables.replies.regions)}"
            )
        self.tables = tables
        self.region = region
        regions = tables.replies.regions
        # the chosen region first; these strings are the same for every reply
        self._first = regions[region]
        others = [r for k, r in regions.items() if k != region]
        self._other_numbers = " · ".join(f"{r.name} {r.emergency}" for r in others)
        self._crisis_lines = " · ".join(
            f"{r.name}: {r.crisis}" for r in [self._first, *others] if r.crisis
        )

    # ------------------------------------------------------------------ helpers
    def templates(self, language: str) -> ReplyTemplates:
        langs = self.tables.replies.languages
        return langs.get(language) or langs["en"]

    def _fill(self, template: str, assessment: Assessment, category: str | None) -> str:
        first = self._first
        name = ""
        if category is not None:
            names = self.tables.red_flags.categories[category].name
            name = names.get(assessment.language) or names["en"]
        return template.format(
            ambulance=first.ambulance,
            emergency=first.emergency,
            region=first.name,
            poison=first.poison or first.emergency,
            urgent_suffix=f" ({first.urgent})" if first.urgent else "",
            name=name,
            name_de=_french_de(name),
            crisis_lines=self._crisis_lines,
            other_numbers=self._other_numbers,
        ).strip()

    # ------------------------------------------------------------------ replies
    def instruction(self, assessment: Assessment) -> str:
        """The whole reply body for an emergency or urgent assessment."""
        t = self.templates(assessment.language)
        category = assessment.category
        assert category is not None
        spec = self.tables.red_flags.categories[category]
        parts: list[str] = []
        if spec.action == "crisis":
            parts.append(self._fill(t.crisis, assessment, category))
            parts.append(self._fill(t.crisis_danger, assessment, category))
        else:
            headline = {"ambulance": t.ambulance, "emergency": t.emergency, "urgent": t.urgent}
            parts.append(self._fill(headline[spec.action], assessment, category))
            if spec.first_step is not None:
                step = spec.first_step.text.get(assessment.language) or spec.first_step.text["en"]
                parts.append(t.first_step.format(step=self._fill(step, assessment, category)))
            if assessment.crisis:
                parts.append(self._fill(t.crisis, assessment, SELF_HARM))
        if assessment.carer is not None and spec.action != "urgent":
            parts.append(t.carer[assessment.carer])
        parts.append(self._fill(t.other_numbers, assessment, category))
        return "\n\n".join(p for p in parts if p)

    def crisis_note(self, assessment: Assessment) -> str:
        return self._fill(self.templates(assessment.language).crisis_note, assessment, None)

    def safety_net(self, assessment: Assessment) -> str:
        return self._fill(self.templates(assessment.language).safety_net, assessment, None)

    def english_only(self, assessment: Assessment) -> str:
        return self._fill(self.templates(assessment.language).english_only, assessment, None)

    def medication_note(self, language: str = "en") -> str:
        return self.templates(language).medication_note


def _french_de(name: str) -> str:
    """ "une crise cardiaque" -> "d'une crise cardiaque", "des signes" -> "de signes"."""
    if name.startswith("des "):
        return "de " + name[4:]
    return ("d'" if name[:1].lower() in "aeiouyhéè" else "de ") + name
