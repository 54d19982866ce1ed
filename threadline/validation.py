"""`make validate`: `rasa data validate`, where a response a form or a custom action uses counts as
used, and every response speaks every customer's language.

Rasa 3.6 calls a response unused unless a story or rule names it (rasa/validator.py,
`verify_utterances_in_stories`), so it flags every `utter_ask_<slot>` a form asks and every
response a custom action sends by name (38 false warnings on this project), and it never
fails on an unused response, even with --fail-on-warnings. Here a response counts as used
when a story or rule names it, a form asks with it, the code in actions/ names it, or
a follow-up rule (data/followups.yml) sends it; one nothing uses is a warning, and --fail-on-warnings fails on it.

Every response must also have a variant for each language in TRANSLATED_LANGUAGES (a condition
on the slot `language`), for every channel its English variants have: Rasa 3.6 prefers an
English channel variant to a translated variant without that channel, so a missing one reaches
the customer in English. The translation keeps the English `{slot}` placeholders and button
payloads. A response that lacks one fails the check, with or without --fail-on-warnings. Every
other check is Rasa's own, run by Rasa's own command line.

    python -m threadline.validation [rasa data validate options]
"""
from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set

from threadline.quiet import quiet_library_warnings
from threadline.settings import PROJECT_DIR

ACTIONS_DIR = PROJECT_DIR / "actions"
LANGUAGE_SLOT = "language"
# The languages besides English (the variants without a language condition) that every
# response must have: the values the slot `language` takes.
TRANSLATED_LANGUAGES = ("pt",)
# How Rasa's interpolator finds a slot in a text (rasa/core/nlg/interpolator.py).
PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")

Variant = Dict[str, Any]


def responses_asked_by_forms(domain) -> Set[str]:
    """The responses Rasa's forms ask a slot with: utter_ask_<form>_<slot> or utter_ask_<slot>."""
    asked = set()
    for form in domain.form_names:
        for slot in domain.required_slots_for_form(form):
            asked |= {f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"}
    return asked


def string_constants(code_dir: Path) -> Set[str]:
    return {node.value for path in sorted(code_dir.rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def responses_named_in_code(responses: Iterable[str], code_dir: Path = ACTIONS_DIR) -> Set[str]:
    """The responses a custom action sends: named whole in a string, or built from a string
    prefix that ends in `_` (actions/clarify.py: "utter_intent_label_" + intent)."""
    constants = string_constants(code_dir)
    prefixes = tuple(text for text in constants if text.startswith("utter_") and text.endswith("_"))
    return {name for name in responses if name in constants or name.startswith(prefixes)}


def responses_of_followups() -> Set[str]:
    """The responses the follow-up worker sends (data/followups.yml, threadline/followups/rules.py)."""
    from threadline.followups.rules import load_rules

    return {rule.response for rule in load_rules().kinds.values() if rule.response}


def variant_language(variant: Variant) -> Optional[str]:
    """The language a response variation is written for: its condition on the slot `language`,
    or None (English) without one."""
    for constraint in variant.get("condition") or []:
        if constraint.get("type") == "slot" and constraint.get("name") == LANGUAGE_SLOT:
            return str(constraint.get("value")).casefold()
    return None


def placeholders(variants: Iterable[Variant]) -> Set[str]:
    return {name for v in variants for name in PLACEHOLDER.findall(v.get("text") or "")}


def button_payloads(variants: Iterable[Variant]) -> Set[str]:
    return {button.get("payload") for v in variants for button in v.get("buttons") or []}


def missing_translations(responses: Dict[str, List[Variant]],
                         languages: Iterable[str] = TRANSLATED_LANGUAGES) -> List[str]:
    """What keeps a customer of each language from getting every response in their language,
    on every channel the English response has a variant for; [] when nothing does."""
    problems = []
    for name, variants in sorted(responses.items()):
        english = [v for v in variants if variant_language(v) is None]
        for language in languages:
            translated = [v for v in variants if variant_language(v) == language]
            for channel in sorted({v.get("channel") for v in english}, key=lambda c: c or ""):
                where = f"for channel '{channel}'" if channel else "without a channel"
                source = [v for v in english if v.get("channel") == channel]
                target = [v for v in translated if v.get("channel") == channel]
                if not target:
                    problems.append(f"The response '{name}' has no '{language}' variant {where} "
                                    f"(condition: [{{type: slot, name: {LANGUAGE_SLOT}, value: {language}}}]).")
                elif placeholders(target) != placeholders(source):
                    problems.append(f"The '{language}' variant of '{name}' {where} has the placeholders "
                                    f"{sorted(placeholders(target))}, the English one {sorted(placeholders(source))}.")
                elif button_payloads(target) != button_payloads(source):
                    problems.append(f"The '{language}' variant of '{name}' {where} has the button payloads "
                                    f"{sorted(button_payloads(target))}, the English one "
                                    f"{sorted(button_payloads(source))}.")
    return problems


def project_validator():
    """Rasa's Validator with the response checks above (imported late: Rasa takes seconds)."""
    import rasa.shared.utils.io
    from rasa.shared.core.events import ActionExecuted
    from rasa.validator import Validator

    class ProjectValidator(Validator):
        def verify_domain_validity(self) -> bool:
            # Rasa runs this with the domain checks, whose failures fail the command whatever
            # --fail-on-warnings says: a customer answered in the wrong language is an error.
            domain_is_valid = super().verify_domain_validity()
            return self.verify_responses_are_translated() and domain_is_valid

        def verify_responses_are_translated(self) -> bool:
            problems = missing_translations(self.domain.responses)
            for problem in problems:
                rasa.shared.utils.io.raise_warning(problem)
            return not problems

        def verify_utterances_in_stories(self, ignore_warnings: bool = True) -> bool:
            everything_is_alright = True
            responses = self._gather_utterance_actions()
            in_stories = {event.action_name for story in self.story_graph.story_steps for event in story.events
                          if isinstance(event, ActionExecuted) and (event.action_name or "").startswith("utter_")}
            for name in sorted(in_stories - responses):
                rasa.shared.utils.io.raise_warning(
                    f"The action '{name}' is used in the stories, but is not a valid utterance action. "
                    f"Please make sure the action is listed in your domain and there is a template "
                    f"defined with its name.")
                everything_is_alright = everything_is_alright and ignore_warnings
            used = (in_stories | responses_asked_by_forms(self.domain) | responses_named_in_code(responses)
                    | responses_of_followups())
            for name in sorted(responses - used):
                rasa.shared.utils.io.raise_warning(
                    f"The utterance '{name}' is not used in any story, rule, form or custom action.")
                everything_is_alright = everything_is_alright and ignore_warnings
            return everything_is_alright

    return ProjectValidator


def main(argv: Optional[List[str]] = None) -> None:
    # Deprecations only: Rasa's UserWarnings are this command's findings.
    quiet_library_warnings(categories=(DeprecationWarning, PendingDeprecationWarning))
    # Rasa's command line sets this before TensorFlow loads; the Validator below loads it earlier.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import rasa.validator
    from rasa.__main__ import main as rasa_main

    # `rasa data validate` looks the class up in rasa.validator when it runs (rasa/cli/utils.py,
    # validate_files): ours there, and the rest of the command stays Rasa's.
    rasa.validator.Validator = project_validator()
    sys.argv = ["rasa", "data", "validate", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
