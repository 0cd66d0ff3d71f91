"""The end-to-end Spec-TOD agent, in process, batched across dialogues ("waves").

Per user turn, for every dialogue of a wave at once:

1. domain prediction — which functions the turn concerns (the agent's own earlier
   responses are the history; nothing gold is shown);
2. DST — for each predicted function, generation is forced to continue
   ``<function_call>{"function": "<fn>", "arguments":`` and stops at ``</function_call>``;
   the call is parsed, unknown arguments and invalid enum values are dropped (counted) and
   the cumulative state is updated;
3. DB — the state of that function queried, the observation ``There are N entities match``
   appended (``Do not need to call function`` when no function was predicted);
4. policy + response — forced to start with ``Action:``, greedy, stops at a blank line.

Every prompt is rendered by :mod:`tod_lab.spectod.prompts` from the agent's own
:class:`TurnRecord` s — the very code that renders the gold training conversations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tod_lab.data.types import Dialogue, DialogueSplit, State
from tod_lab.errors import ConfigError
from tod_lab.spectod.constrained import CallArgumentsConstraint
from tod_lab.spectod.db import Database
from tod_lab.spectod.examples import ActionInventory, PromptConfig, domain_messages
from tod_lab.spectod.functions import FunctionCatalog, FunctionSpec
from tod_lab.spectod.prompts import (
    CALL_CLOSE,
    RESPONSE_PREFIX,
    CallRecord,
    TurnRecord,
    call_prefix,
    e2e_instructions,
    e2e_system_message,
    message,
    parse_assistant,
    parse_domains,
    partial_turn_messages,
    turn_messages,
)
from tod_lab.spectod.state import (
    CLEARED_VALUE,
    CallCounters,
    DialogueState,
    delta_arguments,
    read_call,
    to_arguments,
)
from tod_lab.systems import Generator

log = logging.getLogger(__name__)


@dataclass
class AgentSettings:
    wave_size: int = 64  # dialogues advanced together (one generate call per step)
    max_calls_per_turn: int = 3
    domain_max_new_tokens: int = 32
    call_max_new_tokens: int = 128
    response_max_new_tokens: int = 128
    response_stop: tuple[str, ...] = ("\n\n",)
    # DST calls keep to the function's argument names, with enum values or spans of the
    # conversation as values (tod_lab.spectod.constrained)
    constrained_calls: bool = False
    # which function a turn's first call is for. "domain": the domain predictor's choice.
    # "call": the e2e model's, by the likelihood of each function's call prefix after the
    # whole conversation -- it sees its own earlier calls, where the domain predictor sees
    # the last exchange, delexicalised ("What is the address?" names no domain). The
    # domain predictor still decides whether a turn calls at all, and how many functions.
    function_choice: str = "domain"

    def __post_init__(self) -> None:
        if self.function_choice not in FUNCTION_CHOICES:
            raise ConfigError("system.agent.function_choice",
                              f"{self.function_choice!r} is not one of {list(FUNCTION_CHOICES)}")


FUNCTION_CHOICES = ("domain", "call")


@dataclass
class PredictedTurn:
    """What the agent did at one user turn."""

    user: str
    functions: list[str]  # predicted domains (function names)
    record: TurnRecord
    slots: dict[str, dict[str, str]]  # cumulative predicted state after the turn
    intents: dict[str, str]
    raw: dict[str, Any] = field(default_factory=dict)  # generations, for inspection

    def sgd_states(self, services: Sequence[str]) -> dict[str, State]:
        state = DialogueState(self.slots, self.intents)
        return {s: state.sgd_state(s) for s in services}

    def multiwoz_state(self, *, drop_dontcare: bool = False) -> dict[str, dict[str, str]]:
        return DialogueState(self.slots, self.intents).multiwoz_state(drop_dontcare=drop_dontcare)


@dataclass
class AgentStats:
    counters: CallCounters = field(default_factory=CallCounters)
    unknown_domains: int = 0
    function_choice_changes: int = 0  # turns whose first function the e2e model changed
    unparsable_actions: int = 0
    turns: int = 0
    generate_calls: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.counters.to_json(),
            "unknown_domains": self.unknown_domains,
            "function_choice_changes": self.function_choice_changes,
            "unparsable_actions": self.unparsable_actions,
            "turns": self.turns,
            "generate_calls": self.generate_calls,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Session:
    dialogue: Dialogue
    specs: list[FunctionSpec]
    system_message: str
    user_turns: list[str]
    state: DialogueState = field(default_factory=DialogueState)
    records: list[TurnRecord] = field(default_factory=list)
    predicted: list[PredictedTurn] = field(default_factory=list)
    # the turn in progress
    functions: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


class SpecTODAgent:
    def __init__(
        self,
        catalog: FunctionCatalog,
        inventory: ActionInventory,
        db: Database | None,
        prompt: PromptConfig,
        settings: AgentSettings | None = None,
    ):
        self.catalog = catalog
        self.inventory = inventory
        self.db = db
        self.prompt = prompt
        self.settings = settings or AgentSettings()
        self.stats = AgentStats()

    # -- prompts -------------------------------------------------------------------------
    def _history(self, session: _Session) -> list[dict[str, Any]]:
        messages = [message(self.prompt.roles.system, session.system_message)]
        for record in session.records:
            messages += turn_messages(record, self.prompt.roles, loss=False,
                                      spaced_values=self.prompt.spaced_values,
                                      observation_names=self.prompt.observation_names)
        return messages

    def _call_prompt(self, session: _Session, user: str) -> list[dict[str, Any]]:
        return self._history(session) + partial_turn_messages(
            user, session.calls, self.prompt.roles, before_response=False,
            spaced_values=self.prompt.spaced_values, observation_names=self.prompt.observation_names,
        )

    def _response_prompt(self, session: _Session, user: str) -> list[dict[str, Any]]:
        return self._history(session) + partial_turn_messages(
            user, session.calls, self.prompt.roles, before_response=True,
            spaced_values=self.prompt.spaced_values, observation_names=self.prompt.observation_names,
        )

    # -- the loop --------------------------------------------------------------------------
    def run(self, split: DialogueSplit | Sequence[Dialogue], generator: Generator) -> dict[
        str, list[PredictedTurn]
    ]:
        """Predicted turns per dialogue id, in the split's order."""
        started = time.perf_counter()
        dialogues = list(split)
        out: dict[str, list[PredictedTurn]] = {}
        size = max(1, self.settings.wave_size)
        for begin in range(0, len(dialogues), size):
            wave = [self._open(d) for d in dialogues[begin : begin + size]]
            self._run_wave(wave, generator)
            for session in wave:
                out[session.dialogue.dialogue_id] = session.predicted
            log.info("spectod agent: %d / %d dialogues", min(begin + size, len(dialogues)),
                     len(dialogues))
        self.stats.seconds += time.perf_counter() - started
        return out

    def _open(self, dialogue: Dialogue) -> _Session:
        specs = self.prompt.prompt_functions(self.catalog, dialogue)
        system = e2e_system_message(e2e_instructions(self.prompt.call_style)[0], specs,
                                    self.inventory.text(specs, self.catalog.style,
                                                        self.prompt.spec_detail),
                                    self.prompt.spec_detail)
        return _Session(
            dialogue=dialogue,
            specs=specs,
            system_message=system,
            user_turns=[t.utterance for t in dialogue.turns if t.is_user],
        )

    def _generate(self, generator: Generator, prompts, **kwargs) -> list[str]:
        if not prompts:
            return []
        self.stats.generate_calls += 1
        return generator.generate(prompts, **kwargs)

    def _run_wave(self, wave: list[_Session], generator: Generator) -> None:
        longest = max((len(s.user_turns) for s in wave), default=0)
        for position in range(longest):
            active = [s for s in wave if position < len(s.user_turns)]
            for session in active:
                session.functions, session.calls, session.raw = [], [], {}
            self._predict_domains(active, position, generator)
            if self.settings.function_choice == "call":
                self._choose_first_functions(active, position, generator)
            for round_index in range(self.settings.max_calls_per_turn):
                self._predict_calls(active, position, round_index, generator)
            self._predict_responses(active, position, generator)

    def _predict_domains(self, active: list[_Session], position: int, generator) -> None:
        prompts = [
            domain_messages(s.records, s.user_turns[position], s.specs, self.prompt, None)
            for s in active
        ]
        texts = self._generate(
            generator, prompts, max_new_tokens=self.settings.domain_max_new_tokens, stop=["\n"]
        )
        for session, text in zip(active, texts, strict=True):
            names, unknown = parse_domains(text, [spec.name for spec in session.specs])
            self.stats.unknown_domains += unknown
            session.functions = names[: self.settings.max_calls_per_turn]
            session.raw["domain"] = text

    def _choose_first_functions(self, active: list[_Session], position: int, generator) -> None:
        """``function_choice: call``: the e2e model names the first call's function."""
        calling = [s for s in active if s.functions and len(s.specs) > 1]  # else: no choice
        if not calling:
            return
        names = [[spec.name for spec in s.specs] for s in calling]
        prompts = [self._call_prompt(s, s.user_turns[position]) for s in calling]
        options = [[call_prefix(name) for name in row] for row in names]
        score_batch = getattr(generator, "score_options_batch", None)
        if callable(score_batch):
            scores = score_batch(prompts, options)
        else:  # any Generator: one prompt at a time
            scores = [generator.score_options(p, o) for p, o in zip(prompts, options, strict=True)]
        self.stats.generate_calls += 1
        for session, row, row_scores in zip(calling, names, scores, strict=True):
            best = row[max(range(len(row)), key=row_scores.__getitem__)]
            if best != session.functions[0]:
                self.stats.function_choice_changes += 1
            others = [name for name in session.functions if name != best]
            session.functions = [best, *others][: len(session.functions)]
            session.raw["function_choice"] = best

    def _predict_calls(self, active: list[_Session], position: int, round_index: int,
                       generator) -> None:
        pending = [s for s in active if round_index < len(s.functions)]
        if not pending:
            return
        names = [s.functions[round_index] for s in pending]
        prefixes = [call_prefix(name) for name in names]
        prompts = [self._call_prompt(s, s.user_turns[position]) for s in pending]
        extra = {}
        cleared = (CLEARED_VALUE,) if self.prompt.call_style == "delta" else ()
        if self.settings.constrained_calls:
            extra["constraints"] = [
                CallArgumentsConstraint.for_messages(spec, prompt, self.prompt.roles.system, cleared)
                if (spec := self.catalog.get(name)) is not None else None
                for name, prompt in zip(names, prompts, strict=True)
            ]
        texts = self._generate(
            generator,
            prompts,
            max_new_tokens=self.settings.call_max_new_tokens,
            stop=[CALL_CLOSE],
            prefixes=prefixes,
            **extra,
        )
        for session, name, prefix, text in zip(pending, names, prefixes, texts, strict=True):
            session.raw.setdefault("calls", []).append(text)
            spec = self.catalog.get(name)
            call = read_call(prefix + text + CALL_CLOSE, self.catalog, self.stats.counters,
                             expected=name)
            before = (session.state.of(spec.service), session.state.intents.get(spec.service))
            if call is not None:
                session.state.apply(call, self.prompt.call_style)
            count = first = None
            if self.db is not None:
                constraints = session.state.db_constraints(spec)
                count = self.db.count(spec.service, constraints)
                first = self.db.first_name(spec.service, constraints)
            if self.prompt.call_style == "delta":
                # the history shows the change the call made, as the training calls do
                changed, intent = delta_arguments(
                    session.state.of(spec.service), session.state.intents.get(spec.service),
                    *before)
                arguments = to_arguments(spec, changed, intent, self.prompt.argument_order)
            else:
                arguments = session.state.arguments(spec, self.prompt.argument_order)
            session.calls.append(CallRecord(name, arguments, count, first))

    def _predict_responses(self, active: list[_Session], position: int, generator) -> None:
        has_response = [
            s for s in active if _system_follows(s.dialogue, position)
        ]
        prompts = [self._response_prompt(s, s.user_turns[position]) for s in has_response]
        texts = self._generate(
            generator,
            prompts,
            max_new_tokens=self.settings.response_max_new_tokens,
            stop=list(self.settings.response_stop),
            prefixes=[RESPONSE_PREFIX] * len(prompts),
        )
        answers = dict(zip((id(s) for s in has_response), texts, strict=True))
        for session in active:
            text = answers.get(id(session))
            action: dict[str, dict[str, list[str]]] = {}
            response = ""
            if text is not None:
                parsed, response = parse_assistant(RESPONSE_PREFIX + text)
                if parsed is None:
                    self.stats.unparsable_actions += 1
                else:
                    action = parsed
                session.raw["response"] = text
            record = TurnRecord(
                user=session.user_turns[position],
                calls=list(session.calls),
                action=action,
                response=response,
                has_response=text is not None,
            )
            session.records.append(record)
            session.predicted.append(
                PredictedTurn(
                    user=record.user,
                    functions=list(session.functions),
                    record=record,
                    slots={k: dict(v) for k, v in session.state.slots.items()},
                    intents=dict(session.state.intents),
                    raw=dict(session.raw),
                )
            )
            self.stats.turns += 1


def _system_follows(dialogue: Dialogue, user_position: int) -> bool:
    seen = -1
    for index, turn in enumerate(dialogue.turns):
        if turn.is_user:
            seen += 1
            if seen == user_position:
                nxt = dialogue.turns[index + 1] if index + 1 < len(dialogue.turns) else None
                return nxt is not None and not nxt.is_user
    return False
