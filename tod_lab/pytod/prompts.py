"""Prompts of the Action Parser (AP), Parser Supervisor (PS) and Schema Supervisor (SS).

AP prompt (the reference format, lower-cased)::

    your task is to identify which of the following tasks the user wants to complete, ...
    - restaurants_2_reserve_restaurant( # make a table reservation at a restaurant
        restaurant_name: str, # name of the restaurant
        number_of_seats: optional[enum] = 2, choices: 1 | 2 | 3 # number of seats to reserve
      ) # returns: phone_number (phone number of restaurant), ...
    conversation:
    user: i want to make a restaurant reservation for 2 people at half past 11 ...
    x1 = restaurants_2_reserve_restaurant(time="half past 11 in the morning", number_of_seats=2)
    x2 = hint("request value: restaurant_name")
    x4 = say(x2, x3)
    agent: what city do you want to dine in?
    user: please find restaurants in san jose. can you try sino?

The target is the new statements of the turn joined by `` <new> `` (``pass`` when there are
none), or -- for the policy example -- the ``say(...)`` statement, whose prompt ends after
the runtime's hints and ``Signal:`` lines with the cue line ``agent policy:``. Training prompts shuffle the API, slot and choice
order and shift every variable index by a random offset (seeded); dev / test prompts are
fixed. Long conversations keep their most recent lines and a summary of every task so far.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tod_lab.errors import ConfigError
from tod_lab.pytod.interpreter import Line
from tod_lab.pytod.program import (
    NEW_STATEMENT,
    Assignments,
    Call,
    Renumbering,
    Statement,
    render_statement,
)
from tod_lab.pytod.simulator import ApiCatalog, IntentApi, ServiceApi, SlotApi

AP_INSTRUCTION = (
    "Your task is to identify which of the following tasks the user wants to complete, and "
    "update it accordingly as the user provides more information during the conversation. "
    "You should also carefully follow any developer instructions to answer user questions "
    "and complete follow-up tasks."
)
NO_STATEMENTS = "pass"
# The policy prompt ends with this line: without it a turn with no user statements and no
# runtime lines would give the same prompt for both AP tasks.
SAY_CUE = "agent policy:"
UNANSWERABLE = "unanswerable"
PS_INSTRUCTION = (
    'Q: Answer the following questions. Output "unanswerable" if the question cannot be '
    "answered given the conversation."
)
SIGNAL_VAR_RE = re.compile(r"\bx(\d+)\b")


@dataclass(frozen=True)
class PromptSettings:
    lowercase: bool = True
    execution_feedback: bool = True  # show the runtime's hints and Signal: lines
    describe_apis: bool = True  # slot descriptions in the API list (off: names only)
    show_results: bool = True  # list the properties (result slots) of each service
    max_prompt_chars: int = 6000  # oldest conversation lines are dropped beyond this
    max_history_lines: int | None = None  # optional hard cap on conversation lines
    # with max_history_lines: also keep the latest offer (a search's "returned N results"
    # signal or a next(...) line, and the agent line after it) when it fell out of the
    # window, so "book it" / "i like that one" can still be resolved. Costs one or two
    # lines where it applies instead of a longer window everywhere
    keep_last_offer: bool = False
    show_choices: bool = True  # list the possible values of categorical slots
    show_say: bool = True  # the say(...) policy lines (off when the agent predicts none)
    compact_apis: bool = False  # one line per API: tool(required, optional?) (tiny models)
    # False: no API list, one "services: ..." line instead. For models trained from scratch
    # on CPU, which cannot read API documentation anyway: the source shrinks ~2.5x, so a
    # step is faster and the conversation is most of what the encoder sees. Unseen
    # services are then out of reach (their tool names appear nowhere in the prompt).
    list_apis: bool = True
    target_labels: bool = True  # targets start with "x7 =" / "x7:"; off: the runtime numbers
    spaced_values: bool = False  # string values as " san jose " (whitespace tokenizers copy)
    # between the statements of a target. "<new>" (no spaces) for the tiny models'
    # Metaspace tokenizer: the statement after it then starts with the same piece as a
    # source line ("x7", not "▁x7"), so the copy head can point at it
    statement_separator: str = f" {NEW_STATEMENT} "
    instruction: str | None = None  # None: the reference's AP instruction
    newline: str = "\n"

    def __post_init__(self) -> None:
        if self.statement_separator.strip() != NEW_STATEMENT:
            raise ConfigError(
                "system.prompts.statement_separator",
                f"{self.statement_separator!r} is not the {NEW_STATEMENT} token with optional spaces",
                "the runtime splits a predicted program at that token",
            )


@dataclass(frozen=True)
class PromptContext:
    """What a prompt is rendered from: the transcript so far and the tasks it built."""

    services: tuple[str, ...]
    lines: tuple[Line, ...]
    tasks: tuple[Call, ...]  # every task object so far with its current values


@dataclass
class PromptRandomness:
    """Training-time shuffles: API / slot / choice order and the variable start index."""

    rng: random.Random | None = None
    max_offset: int = 20

    def renumbering(self) -> Renumbering:
        if self.rng is None:
            return Renumbering(0)
        return Renumbering(self.rng.randint(0, self.max_offset))

    def shuffled(self, items: Sequence) -> list:
        items = list(items)
        if self.rng is not None:
            self.rng.shuffle(items)
        return items


def context_of(session) -> PromptContext:
    """Snapshot of a :class:`~tod_lab.pytod.interpreter.DialogueSession` for a prompt."""
    return PromptContext(tuple(session.services), tuple(session.lines), session.task_summary())


# --------------------------------------------------------------------------- APIs


def _slot_line(slot: SlotApi, default: str | None, settings: PromptSettings, rand) -> str:
    kind = "enum" if slot.is_categorical and slot.possible_values else "str"
    text = f"{slot.ident}: {'optional[' + kind + ']' if default is not None else kind}"
    if default is not None:
        text += f" = {default}"
    if kind == "enum" and settings.show_choices:
        text += ", choices: " + " | ".join(rand.shuffled(slot.possible_values))
    text += ","
    if settings.describe_apis and slot.description:
        text += f" # {slot.description}"
    return text


def render_api(
    api: IntentApi, service: ServiceApi, settings: PromptSettings, rand: PromptRandomness
) -> str:
    nl = settings.newline
    if settings.compact_apis:
        args = [service.slots[s].ident for s in rand.shuffled(api.required)]
        args += [service.slots[s].ident + "?" for s in rand.shuffled(list(api.optional))]
        return f"- {api.tool}({', '.join(args)})"
    head = f"- {api.tool}("
    if settings.describe_apis and api.description:
        head += f" # {api.description}"
    required = rand.shuffled(api.required)
    optional = rand.shuffled(list(api.optional))
    lines = [head]
    for slot in required:
        lines.append("    " + _slot_line(service.slots[slot], None, settings, rand))
    for slot in optional:
        default = api.optional[slot]
        lines.append("    " + _slot_line(service.slots[slot], default, settings, rand))
    tail = "  )"
    if settings.show_results:
        results = [s for s in api.result_slots if s not in api.arguments and s in service.slots]
        if results:
            shown = rand.shuffled(results)
            if settings.describe_apis:
                parts = [
                    f"{service.slots[s].ident} ({service.slots[s].description})" for s in shown
                ]
            else:
                parts = [service.slots[s].ident for s in shown]
            tail += " # returns: " + ", ".join(parts)
    lines.append(tail)
    return nl.join(lines)


def render_apis(
    catalog: ApiCatalog, services: Sequence[str], settings: PromptSettings, rand: PromptRandomness
) -> str:
    apis = [
        render_api(api, catalog.services[api.service], settings, rand)
        for api in catalog.tools_of(services)
    ]
    return settings.newline.join(rand.shuffled(apis))


# --------------------------------------------------------------------------- transcript


def render_line(line: Line, rename: Renumbering, settings: PromptSettings) -> str | None:
    if line.kind == "user":
        return f"user: {line.text}"
    if line.kind == "agent":
        return f"agent: {line.text}"
    if line.kind == "signal":
        if not settings.execution_feedback:
            return None
        return "Signal: " + SIGNAL_VAR_RE.sub(lambda m: rename(m.group(0)), line.text)
    assert line.statement is not None
    if not settings.execution_feedback and line.origin == "runtime" and _is_hint(line.statement):
        return None
    if not settings.show_say and isinstance(line.statement, Call) and line.statement.func == "say":
        return None
    return render_statement(line.statement, rename, settings.spaced_values)


def _is_offer_event(line: Line) -> bool:
    """A runtime event after which the agent presents a result: a search's signal or next()."""
    if line.kind == "signal":
        return " returned " in line.text  # "Call to <tool> (x3) returned 4 results"
    return isinstance(line.statement, Call) and line.statement.func == "next"


def _last_offer(lines: Sequence[Line]) -> list[int]:
    """Indices of the latest offer event in ``lines`` and the first agent line after it."""
    for i in range(len(lines) - 1, -1, -1):
        if _is_offer_event(lines[i]):
            agent = next((j for j in range(i + 1, len(lines)) if lines[j].kind == "agent"), None)
            return [i] if agent is None else [i, agent]
    return []


def _unlabelled(stmt: Statement) -> Statement:
    if isinstance(stmt, Call):
        return Call(None, stmt.func, stmt.args, stmt.kwargs)
    return Assignments(None, stmt.items)


def _is_hint(stmt: Statement) -> bool:
    return isinstance(stmt, Call) and stmt.func == "hint"


def render_statements(
    statements: Sequence[Statement], rename: Renumbering, spaced: bool = False,
    separator: str = f" {NEW_STATEMENT} ",
) -> str:
    if not statements:
        return NO_STATEMENTS
    return separator.join(render_statement(s, rename, spaced) for s in statements)


def ap_prompt(
    catalog: ApiCatalog,
    context: PromptContext,
    settings: PromptSettings,
    rand: PromptRandomness,
    rename: Renumbering,
    *,
    task: str = "user",
) -> str:
    """The AP prompt: ``task="user"`` for the user statements, ``"say"`` for the policy."""
    nl = settings.newline
    instruction = AP_INSTRUCTION if settings.instruction is None else settings.instruction
    if settings.list_apis:
        header = instruction + nl + render_apis(catalog, context.services, settings, rand)
    else:
        names = rand.shuffled(context.services)  # lower-cased with the rest when lowercase
        header = instruction + nl + "services: " + ", ".join(names)
    rendered = [(x, t) for x in context.lines if (t := render_line(x, rename, settings))]
    lines = [text for _, text in rendered]
    shown = [line for line, _ in rendered]  # the Line behind each of ``lines``
    if settings.max_history_lines is not None and len(lines) > settings.max_history_lines:
        start = len(lines) - settings.max_history_lines
        pinned = _last_offer(shown[:start]) if settings.keep_last_offer else []
        lines = [lines[i] for i in pinned] + lines[start:]
        truncated = True
    else:
        truncated = False
    budget = settings.max_prompt_chars - len(header) - len("conversation:") - 2
    summary = _task_summary(context.tasks, rename, nl, settings.spaced_values)
    total = sum(len(t) + 1 for t in lines)
    if total > budget:
        truncated = True
        budget -= len(summary)
        while lines and total > budget and len(lines) > 1:
            total -= len(lines[0]) + 1
            lines.pop(0)
    if task == "say":
        lines.append(SAY_CUE)
    body = nl.join(lines)
    parts = [header]
    if truncated and summary:
        parts.append(summary)
    parts.append("conversation:" + nl + body)
    text = nl.join(parts)
    return text.lower() if settings.lowercase else text


def _task_summary(tasks: Sequence[Call], rename: Renumbering, nl: str, spaced: bool) -> str:
    if not tasks:
        return ""
    return "tasks so far:" + nl + nl.join(render_statement(t, rename, spaced) for t in tasks)


def ap_target(statements: Sequence[Statement], rename: Renumbering, settings: PromptSettings):
    if not settings.target_labels:  # the runtime binds unlabelled statements to x<next>
        statements = [_unlabelled(s) for s in statements]
    text = render_statements(statements, rename, settings.spaced_values, settings.statement_separator)
    return text.lower() if settings.lowercase else text


# --------------------------------------------------------------------------- Parser Supervisor


def ps_question(slot: SlotApi) -> str:
    question = f"{slot.description or slot.ident.replace('_', ' ')}?"
    values = slot.possible_values if slot.is_categorical else ()
    if values and not all(v.isdigit() for v in values):
        options = ", ".join(f'"{v}"' for v in values)
        question += f" Answer should be one of the following: {options} or \"{UNANSWERABLE}\""
    return question


def ps_prompt(turns: Sequence[tuple[str, str]], slots: Sequence[SlotApi], *, nl: str = "\n") -> str:
    conversation = nl.join(f"{speaker}: {text}" for speaker, text in turns)
    questions = nl.join(f"{i + 1}) {ps_question(s)}" for i, s in enumerate(slots))
    text = f"{PS_INSTRUCTION}{nl}In the conversation:{nl}{conversation}{nl}{questions}{nl}Answer:"
    return text.lower()


def ps_target(answers: Sequence[str]) -> str:
    return " ".join(f"{i + 1}) {a}" for i, a in enumerate(answers)).lower()


PS_ANSWER_RE = re.compile(r"(?:^|\s)(\d{1,2})\)\s*")


def parse_ps_answer(text: str, n_questions: int) -> list[str | None]:
    """``1) san jose 2) unanswerable`` -> ["san jose", None]; missing answers are None."""
    answers: list[str | None] = [None] * n_questions
    matches = list(PS_ANSWER_RE.finditer(text))
    for i, match in enumerate(matches):
        index = int(match.group(1)) - 1
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        answer = text[match.end() : end].strip()
        if 0 <= index < n_questions and answer and answer.lower() != UNANSWERABLE:
            answers[index] = answer
    return answers


# --------------------------------------------------------------------------- Schema Supervisor


def ss_prompt(context: str, masked_statement: str, options: Sequence[str]) -> str:
    """Masked multiple choice: which schema element does [mask] stand for?"""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    listed = " ".join(f"({letter}) {option}" for letter, option in zip(letters, options, strict=True))
    return (
        f"{context}\nIn the statement `{masked_statement}`, what does [mask] refer to?\n"
        f"Options: {listed}\nAnswer:"
    )
