"""Repairing and completing the Action Parser's output.

- :class:`FuzzyRepairer` -- cheap fixes first: a name that is not in the schema is mapped
  to the most similar one by token-sort ratio, if it reaches 0.75 among the current
  intent's arguments or 0.9 among the other slots of the service (the reference's
  thresholds); tool names need 0.9 among the conversation's tools; categorical values 0.9.
- :class:`SchemaSupervisor` -- when fuzzy matching finds nothing: a masked multiple-choice
  question over the schema descriptions ("in `x1 = flights_1_search([mask]="nyc")`, what
  does [mask] refer to? (A) origin_city: ... (B) ... (C) none of these"), answered by a
  configured instruction-tuned model by *scoring* each option letter's log-likelihood
  (``generator.score_options``), never by parsing free text. The last option rejects.
- :class:`ParserSupervisor` -- after the AP, asks numbered questions about slots the agent's
  last turn asked for and the AP left unfilled (first turn: every unfilled argument of the
  task); answers other than ``unanswerable`` become assignments merged into the program.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from tod_lab.pytod.interpreter import DialogueSession, TaskObject
from tod_lab.pytod.program import Assignments, Const, SetAttr
from tod_lab.pytod.prompts import parse_ps_answer, ps_prompt, ss_prompt
from tod_lab.pytod.simulator import IntentApi, ServiceApi, SlotApi

log = logging.getLogger(__name__)

NONE_OF_THESE = "none of these"


def _similarity(a: str, b: str) -> float:
    return fuzz.token_sort_ratio(a.replace("_", " ").lower(), b.replace("_", " ").lower()) / 100


def _best(name: str, candidates: Sequence[str], threshold: float) -> str | None:
    best, best_score = None, 0.0
    for candidate in candidates:
        score = _similarity(name, candidate)
        if score > best_score:
            best, best_score = candidate, score
    return best if best is not None and best_score >= threshold else None


@dataclass
class FuzzyRepairer:
    intent_threshold: float = 0.75
    service_threshold: float = 0.9
    tool_threshold: float = 0.9
    value_threshold: float = 0.9

    def tool(self, name: str, session: DialogueSession) -> str | None:
        tools = [t.tool for t in session.catalog.tools_of(session.services)]
        return _best(name, tools, self.tool_threshold)

    def slot(
        self, name: str, service: ServiceApi, intent: IntentApi | None, session: DialogueSession
    ) -> str | None:
        if intent is not None:
            idents = {service.ident(s): s for s in intent.arguments}
            found = _best(name, list(idents), self.intent_threshold)
            if found is not None:
                return idents[found]
        idents = {s.ident: s.name for s in service.slots.values()}
        found = _best(name, list(idents), self.service_threshold)
        return idents[found] if found is not None else None

    def value(self, value: str, slot: SlotApi, session: DialogueSession) -> str | None:
        if not slot.possible_values:
            return None
        return _best(value, slot.possible_values, self.value_threshold)


@dataclass
class SupervisorStats:
    fuzzy: int = 0
    schema_supervisor: int = 0
    schema_supervisor_rejected: int = 0
    parser_supervisor_questions: int = 0
    parser_supervisor_answers: int = 0


@dataclass
class SchemaSupervisor:
    """Fuzzy repair, then (optionally) the masked multiple-choice Schema Supervisor."""

    generator: object | None = None  # anything with score_options(prompt, options)
    fuzzy: FuzzyRepairer = field(default_factory=FuzzyRepairer)
    use_model: bool = True
    stats: SupervisorStats = field(default_factory=SupervisorStats)

    # ----------------------------------------------------------------- Repairer protocol

    def tool(self, name: str, session: DialogueSession) -> str | None:
        found = self.fuzzy.tool(name, session)
        if found is not None:
            self.stats.fuzzy += 1
            return found
        apis = session.catalog.tools_of(session.services)
        options = [f"{a.tool}: {a.description}" for a in apis]
        choice = self._choose(session, name, options)
        return apis[choice].tool if choice is not None else None

    def slot(
        self, name: str, service: ServiceApi, intent: IntentApi | None, session: DialogueSession
    ) -> str | None:
        found = self.fuzzy.slot(name, service, intent, session)
        if found is not None:
            self.stats.fuzzy += 1
            return found
        names = list(intent.arguments) if intent is not None else list(service.slots)
        slots = [service.slots[s] for s in names if s in service.slots]
        options = [f"{s.ident}: {s.description}" for s in slots]
        choice = self._choose(session, name, options)
        return slots[choice].name if choice is not None else None

    def value(self, value: str, slot: SlotApi, session: DialogueSession) -> str | None:
        found = self.fuzzy.value(value, slot, session)
        if found is not None:
            self.stats.fuzzy += 1
            return found
        if not slot.possible_values:
            return None
        options = list(slot.possible_values)
        choice = self._choose(session, value, options)
        return options[choice] if choice is not None else None

    # ----------------------------------------------------------------- the model

    def _choose(self, session: DialogueSession, name: str, options: list[str]) -> int | None:
        if not self.use_model or self.generator is None or not options:
            return None
        prompt = self.prompt(session, name, options)
        letters = [chr(ord("A") + i) for i in range(len(options) + 1)]
        try:
            scores = self.generator.score_options(prompt, letters)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a failing supervisor must not stop the agent
            log.exception("schema supervisor failed; keeping the statement rejected")
            return None
        best = max(range(len(scores)), key=lambda i: scores[i])
        if best >= len(options):
            self.stats.schema_supervisor_rejected += 1
            return None
        self.stats.schema_supervisor += 1
        return best

    @staticmethod
    def prompt(session: DialogueSession, name: str, options: list[str]) -> str:
        user = next((line.text for line in reversed(session.lines) if line.kind == "user"), "")
        source = getattr(session, "current_source", "") or name
        masked = source.replace(name, "[mask]", 1)
        if len(options) > 25:  # letters run out; the closest names first
            options = sorted(options, key=lambda o: -_similarity(name, o.split(":")[0]))[:25]
        return ss_prompt(f"user: {user}".lower(), masked.lower(), [*options, NONE_OF_THESE])


# --------------------------------------------------------------------------- Parser Supervisor


@dataclass(frozen=True)
class PSRequest:
    obj: TaskObject
    slots: tuple[SlotApi, ...]
    prompt: str


def ps_request(
    session: DialogueSession, *, first_turn: bool, written: set[tuple[str, str]]
) -> PSRequest | None:
    """The Parser Supervisor's questions for this turn, or None when there is nothing to ask.

    ``written``: (service, slot) pairs the AP wrote this turn (never asked again).
    """
    service_name = session.focus
    if first_turn:
        obj = session.active_task(service_name)
        if obj is None:
            return None
        asked = list(obj.api.arguments)
    else:
        asked, obj = [], None
        for name, slots in session.system_requested.items():
            candidate = session.active_task(name)
            if slots and candidate is not None:
                asked, obj, service_name = list(slots), candidate, name
                break
        if obj is None:
            return None
    service = session.catalog.services[obj.service]
    memory = session.memory.get(obj.service, {})
    slots = tuple(
        service.slots[s]
        for s in dict.fromkeys(asked)
        if s in service.slots and not memory.get(s) and (obj.service, s) not in written
    )
    if not slots:
        return None
    turns = []
    for line in session.lines:
        if line.kind in ("user", "agent"):
            turns.append((line.kind, line.text))
    conversation = turns[-2:] if turns and turns[-1][0] == "user" else turns[-1:]
    if conversation and conversation[0][0] == "user" and len(conversation) == 2:
        conversation = conversation[1:]
    return PSRequest(obj, slots, ps_prompt(conversation, slots))


def ps_statement(request: PSRequest, answer: str) -> Assignments | None:
    values = parse_ps_answer(answer, len(request.slots))
    items = tuple(
        SetAttr(request.obj.var, slot.ident, Const(value))
        for slot, value in zip(request.slots, values, strict=True)
        if value is not None
    )
    return Assignments(None, items) if items else None
