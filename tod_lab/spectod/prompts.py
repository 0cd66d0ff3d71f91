"""Every text format Spec-TOD shows the model, in one place.

The SAME functions render the conversation history at training time (gold turns) and at
inference (the agent's own predicted turns), which is how tod_lab fixes the official code's
train / inference history mismatch: one history format, delexicalised responses, a function
call on exactly the turns whose functions are active, one JSON encoding of the action.

One conversation = the E2E task (DST + policy + response)::

    system       instruction + <FUNCTIONS>…</FUNCTIONS> + action inventory
    user         utterance
    function     <function_call>{"function": "find_book_hotel", "arguments": {…}}</function_call>
    observation  There are 3 entities match
    assistant    Action: {"[hotel]": {"[inform]": ["name"]}}\\n[name] is a nice place …

(``function`` / ``observation`` are logical roles; :class:`ChatRoles` maps them onto roles the
model's chat template knows. A function call is produced by the model, so by default it is
rendered as an ``assistant`` message: that is what a generation prompt opens at inference.)
Turns with no active function get the observation ``Do not need to call function``.
Domain prediction is its own short task: which functions does the last user turn concern?
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tod_lab.spectod.functions import FunctionSpec, render_functions

CALL_OPEN = "<function_call>"
CALL_CLOSE = "</function_call>"
NO_CALL_OBSERVATION = "Do not need to call function"
NO_DB_OBSERVATION = "Do not need to query the database"
ACTION_PREFIX = "Action: "
RESPONSE_PREFIX = "Action:"  # the forced start of an answer (no trailing space, see call_prefix)
NO_DOMAIN = "none"

# Paraphrased instructions; one is sampled per example with the run's seed. Inference uses
# the first of each list (the sampled ones are a training-time augmentation).
E2E_INSTRUCTIONS = (
    "You are a task-oriented assistant. When the user's request concerns one of the "
    "functions below, call it with every argument the user has given so far, read the "
    "observation, then answer with the dialogue action and a delexicalised response.",
    "Help the user through function calls. For each user turn, call the relevant functions "
    "with the complete set of arguments mentioned in the conversation, look at how many "
    "entities match, and reply with an action and a delexicalised response.",
    "Act as a dialogue system with access to the functions listed below. Keep each function "
    "call cumulative (all arguments so far), use the observation to decide what to do, and "
    "write the action followed by a response with placeholders instead of values.",
    "You assist users with bookings and information. Track what the user wants by calling "
    "the functions below with all arguments collected so far; after the observation, give "
    "the action you take and your delexicalised reply.",
)
# call_style=delta: a call holds what the user's turn changed ("none" removes a value)
E2E_DELTA_INSTRUCTIONS = (
    "You are a task-oriented assistant. When the user's request concerns one of the "
    "functions below, call it with the arguments the user's turn adds or changes, read the "
    "observation, then answer with the dialogue action and a delexicalised response.",
    "Help the user through function calls. For each user turn, call the relevant functions "
    "with only the arguments that turn gives or changes, look at how many entities match, "
    "and reply with an action and a delexicalised response.",
)
DOMAIN_INSTRUCTIONS = (
    "Which of the functions below does the user's last turn concern? Answer with the "
    "function names separated by commas, or 'none'.",
    "Read the conversation and name the functions the last user turn is about (comma "
    "separated), or 'none' if it needs no function.",
    "Decide which functions are relevant to the user's latest message. Reply with their "
    "names, comma separated, or 'none'.",
)
DST_INSTRUCTIONS = (
    "Track the user's goal: after each user turn, call the relevant function with every "
    "argument the user has given so far.",
    "For each user turn, write the function call that captures all the user's constraints "
    "mentioned up to now.",
    "Keep the function arguments up to date with the user's requests, one cumulative call "
    "per user turn.",
)

DST_DELTA_INSTRUCTIONS = (
    "Track the user's goal: after each user turn, call the relevant function with the "
    "arguments that turn adds or changes.",
    "For each user turn, write the function call with the constraints it adds or changes "
    "('none' for one the user drops).",
)


def e2e_instructions(call_style: str) -> tuple[str, ...]:
    return E2E_DELTA_INSTRUCTIONS if call_style == "delta" else E2E_INSTRUCTIONS


def dst_instructions(call_style: str) -> tuple[str, ...]:
    return DST_DELTA_INSTRUCTIONS if call_style == "delta" else DST_INSTRUCTIONS


@dataclass(frozen=True)
class ChatRoles:
    """Logical roles -> roles of the model's chat template."""

    system: str = "system"
    user: str = "user"
    function: str = "assistant"
    observation: str = "observation"
    assistant: str = "assistant"


@dataclass
class CallRecord:
    function: str
    arguments: dict[str, str]  # argument name (as the model writes it) -> value
    count: int | None = None  # DB entities matching; None: no DB for this function
    first: str | None = None  # name of the first match (shown with observation_names)


@dataclass
class TurnRecord:
    """One user turn and the system's answer, as the conversation shows them."""

    user: str
    calls: list[CallRecord] = field(default_factory=list)
    action: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    response: str = ""  # delexicalised
    has_response: bool = True  # False for a final user turn with no system answer


def render_call(function: str, arguments: Mapping[str, str], *, spaced_values: bool = False) -> str:
    """The call markup. ``spaced_values`` writes ``{"area": " north "}``: for a tokenizer
    trained from scratch the value then has the same pieces as in the user's words
    ("Ġnorth", not "north" after a quote), so a tiny model can copy it. The parser strips
    values, so the state is the same either way."""
    if spaced_values:
        arguments = {k: f" {v} " if isinstance(v, str) else v for k, v in arguments.items()}
    payload = json.dumps({"function": function, "arguments": dict(arguments)}, ensure_ascii=False)
    return f"{CALL_OPEN}{payload}{CALL_CLOSE}"


def argument_key_token(argument: str) -> str:
    """How an argument's key opens its value in a call: ``"area": "`` (json.dumps' separators).

    ``system.call_key_tokens`` makes each of these one token of a tokenizer trained from
    scratch: the value then follows a token that names its slot, so a copy head (or an
    attention head) looking for the value has one position to query from.
    """
    return json.dumps(argument, ensure_ascii=False) + ': "'


def call_prefix(function: str) -> str:
    """The forced start of a call: generation continues with `` {`` + the arguments.

    No trailing space: BPE tokenizers merge the space with the next character (`` {``), so
    a prefix ending in a space would leave the model at a token boundary it never saw in
    training.
    """
    head = json.dumps({"function": function}, ensure_ascii=False)[:-1]
    return f'{CALL_OPEN}{head}, "arguments":'


def observation_text(count: int | None, first: str | None = None) -> str:
    """``first``: the first match's name, which the system's ``[name]`` will stand for."""
    if count is None:
        return NO_DB_OBSERVATION
    text = f"There are {count} entities match"
    return f"{text}, the first is {first}" if first and count else text


def render_action(action: Mapping[str, Mapping[str, Sequence[str]]]) -> str:
    return ACTION_PREFIX + json.dumps(
        {d: {a: list(s) for a, s in acts.items()} for d, acts in action.items()},
        ensure_ascii=False,
    )


def render_assistant(action: Mapping[str, Mapping[str, Sequence[str]]], response: str) -> str:
    return f"{render_action(action)}\n{response}"


def parse_assistant(text: str) -> tuple[dict[str, dict[str, list[str]]] | None, str]:
    """``Action: {…}\\nresponse`` -> (action or None when unparsable, response)."""
    text = text.strip()
    first, _, rest = text.partition("\n")
    if not first.startswith(ACTION_PREFIX.strip()):
        return None, text
    payload = first[len(ACTION_PREFIX.strip()) :].strip()
    try:
        action = json.loads(payload)
    except json.JSONDecodeError:
        return None, rest.strip()
    if not isinstance(action, dict) or not all(isinstance(v, dict) for v in action.values()):
        return None, rest.strip()
    clean = {
        str(d): {str(a): [str(s) for s in slots] if isinstance(slots, list) else []
                 for a, slots in acts.items()}
        for d, acts in action.items()
    }
    return clean, rest.strip()


def action_inventory_text(
    acts: Iterable[str], domains: Iterable[str], placeholder: str = "[value_slot]",
    detail: str = "full",
) -> str:
    acts_list = ", ".join(f"[{a}]" for a in acts)
    domain_list = ", ".join(f"[{d}]" for d in domains)
    if detail == "functions":  # none: learnt from the examples, like the arguments
        return ""
    if detail == "names":  # the lists only (tiny models: every token of the prompt costs)
        return f"Action domains: {domain_list}. Acts: {acts_list}."
    return (
        "Write the action as JSON on one line after 'Action: ', mapping each domain to its "
        f"acts and their slots, e.g. {render_action({'[domain]': {'[inform]': ['slot']}})[8:]}. "
        f"Domains: {domain_list}. Acts: {acts_list}. On the next line write the response, "
        f"with {placeholder} placeholders instead of concrete values."
    )


def call_format_text(detail: str = "full") -> str:
    """How to call, for the system messages; none with ``spec_detail=functions`` (a model
    trained from scratch learns the format from its calls)."""
    if detail == "functions":
        return ""
    return (f'Call a function as {CALL_OPEN}{{"function": "name", "arguments": '
            f'{{"argument": "value"}}}}{CALL_CLOSE}.')


def e2e_system_message(
    instruction: str, specs: Sequence[FunctionSpec], inventory: str, detail: str = "full"
) -> str:
    parts = [instruction, render_functions(specs, detail), call_format_text(detail), inventory]
    return "\n\n".join(part for part in parts if part)


def dst_system_message(
    instruction: str, specs: Sequence[FunctionSpec], detail: str = "full"
) -> str:
    parts = [instruction, render_functions(specs, detail), call_format_text(detail)]
    return "\n\n".join(part for part in parts if part)


def domain_system_message(instruction: str, specs: Sequence[FunctionSpec]) -> str:
    listed = "\n".join(f"- {s.name}: {s.description.split('. ')[0]}" for s in specs)
    return f"{instruction}\n\nFunctions:\n{listed}"


def domain_user_message(history: Sequence[TurnRecord], utterance: str, window: int,
                        with_calls: bool = False) -> str:
    """``with_calls``: each shown exchange also names the functions called in it (the
    agent's own calls at inference): "What is the address?" after a delexicalised answer
    says nothing of its domain, the call before it does."""
    lines = []
    for record in list(history)[-window:] if window > 0 else []:
        lines.append(f"user: {record.user}")
        if with_calls:
            lines.append(f"functions: {domain_target([c.function for c in record.calls])}")
        if record.has_response:
            lines.append(f"system: {record.response}")
    lines.append(f"user: {utterance}")
    return "Conversation:\n" + "\n".join(lines)


def domain_target(functions: Sequence[str]) -> str:
    return ", ".join(functions) if functions else NO_DOMAIN


def parse_domains(text: str, known: Iterable[str]) -> tuple[list[str], int]:
    """Function names in ``text`` (first line), in order; returns (names, unknown count)."""
    known_set = set(known)
    names: list[str] = []
    unknown = 0
    for part in text.strip().split("\n")[0].split(","):
        name = part.strip().strip(".").strip()
        if not name or name == NO_DOMAIN:
            continue
        if name in known_set:
            if name not in names:
                names.append(name)
        else:
            unknown += 1
    return names, unknown


def message(role: str, content: str, loss: bool = False) -> dict[str, Any]:
    return {"role": role, "content": content, "loss": loss}


def turn_messages(
    record: TurnRecord, roles: ChatRoles, *, loss: bool, with_policy: bool = True,
    spaced_values: bool = False, observation_names: bool = False, policy_loss: bool = True,
) -> list[dict[str, Any]]:
    """The messages of one turn.

    E2E (``with_policy``): user, [call, observation]*, (no-call observation), assistant
    ``Action: …`` + delexicalised response. DST only: user, call*, then the system's
    utterance as a plain assistant message without loss (the auxiliary DST conversations).
    ``policy_loss=False`` keeps the loss on the calls only (value-swapped copies).
    """
    out = [message(roles.user, record.user)]
    for call in record.calls:
        call_text = render_call(call.function, call.arguments, spaced_values=spaced_values)
        out.append(message(roles.function, call_text, loss))
        if with_policy:
            first = call.first if observation_names else None
            out.append(message(roles.observation, observation_text(call.count, first)))
    if with_policy:
        if not record.calls:
            out.append(message(roles.observation, NO_CALL_OBSERVATION))
        if record.has_response:
            out.append(
                message(roles.assistant, render_assistant(record.action, record.response),
                        loss and policy_loss)
            )
    elif record.has_response:
        out.append(message(roles.assistant, record.response, False))
    return out


def partial_turn_messages(
    user: str, calls: Sequence[CallRecord], roles: ChatRoles, *, before_response: bool,
    spaced_values: bool = False, observation_names: bool = False,
) -> list[dict[str, Any]]:
    """The current turn as far as the agent has got: what the next generation continues.

    ``before_response``: the prompt of the assistant answer (adds the no-call observation
    when nothing was called); otherwise the prompt of the next function call.
    """
    record = TurnRecord(user=user, calls=list(calls), has_response=False)
    out = turn_messages(record, roles, loss=False, with_policy=True, spaced_values=spaced_values,
                        observation_names=observation_names)
    if not before_response and not calls:
        out = out[:1]  # the user message only: no "no call" observation before a call
    return out


def sample_instruction(options: Sequence[str], rng: random.Random | None) -> str:
    return options[0] if rng is None else rng.choice(list(options))
