"""Schema -> function specs: Spec-TOD's reformulation of TOD as function calling.

Every service of a schema becomes ONE function whose arguments are the service's informable
slots (the union of its intents' required and optional slots). This is generic over any
SGD-format schema:

* MultiWOZ 2.2 style (slots named ``domain-slot``, intents ``find_hotel`` / ``book_hotel``):
  the function is named after the intents' verbs and the domain, which yields exactly the
  reference's names (``find_book_hotel``, ``find_attraction``, ``book_taxi``, ``police``, ...);
  argument names drop the domain prefix and take the reference's friendlier names
  (``arriveby -> arrive_by``, ``leaveat -> leave_at_or_after``, hotel ``type ->
  accommodation_type``) plus ``book_day`` / ``book_people`` / ``book_stay`` /
  ``book_time`` for the booking slots. Names are mapped back for DB queries and scoring.
* SGD style: one function per *service* (``Restaurants_2`` -> ``restaurants_2``), not per
  intent. The SGD state is kept per service and carries slot values across the intents of
  a service (a ``FindRestaurants`` search turning into ``ReserveRestaurant`` keeps city and
  cuisine), and the official evaluator scores one frame per service with all its slots plus
  ``active_intent``. A per-service function therefore reads out directly as an SGD frame;
  the active intent is an extra enum argument ``intent`` (``intent_argument``, on by
  default for SGD, so the read-out gives ``active_intent`` too, even for one-intent
  services whose intent is NONE until the user asks for it).

Argument types: ``boolean`` (categorical yes/no/free or True/False slots), ``integer``
(categorical slots whose values are all numbers), ``time (HH:mm)`` (slots whose training
values are HH:MM times) and ``string``. Categorical slots carry ``enum`` (the schema's
possible values); free slots carry example values from the training dialogues in their
description. The function description carries the two cautions of the reference.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tod_lab.data.types import DONTCARE, NONE_INTENT, DialogueSplit, Schema, Service
from tod_lab.errors import ConfigError, DataError

Style = Literal["multiwoz", "sgd"]

INTENT_ARGUMENT = "intent"
TIME_RE = re.compile(r"^([01]?\d|2[0-4]):[0-5]\d$")
BOOLEAN_VALUES = {"yes", "no", "free", "true", "false", DONTCARE}

# MultiWOZ 2.2 slot (without domain prefix) -> friendlier argument name. The first three are
# the reference's (FnCTOD / Spec-TOD); the booking ones only add an underscore.
FRIENDLY_NAMES: dict[str, str] = {
    "arriveby": "arrive_by",
    "leaveat": "leave_at_or_after",
    "bookday": "book_day",
    "bookpeople": "book_people",
    "bookstay": "book_stay",
    "booktime": "book_time",
}
# (domain, slot) renames that only apply to one domain
DOMAIN_FRIENDLY_NAMES: dict[tuple[str, str], str] = {("hotel", "type"): "accommodation_type"}

DONTCARE_CAUTION = (
    "Use the value 'dontcare' for an argument only when the user explicitly says they have "
    "no preference for it."
)
NAME_CAUTION = "Copy the exact name as it appears in the dialogue, do not paraphrase it."


@dataclass(frozen=True)
class FunctionArgument:
    name: str  # what the model writes
    slot: str  # the schema slot it stands for (restored for DB queries and scoring)
    type: str  # "string" | "integer" | "boolean" | "time (HH:mm)"
    description: str = ""
    enum: tuple[str, ...] = ()  # categorical: the allowed values (plus dontcare)
    examples: tuple[str, ...] = ()

    def to_spec(self) -> dict[str, Any]:
        description = self.description
        if self.examples:
            shown = ", ".join(f"'{v}'" for v in self.examples)
            description = f"{description} (e.g. {shown})" if description else f"e.g. {shown}"
        if self.name.endswith("name") or self.slot.endswith("name"):
            description = f"{description}. {NAME_CAUTION}" if description else NAME_CAUTION
        out: dict[str, Any] = {"type": self.type, "description": description}
        if self.enum:
            out["enum"] = list(self.enum)
        return out

    def canonical_value(self, value: str) -> str | None:
        """The value as the schema spells it, or None when an enum does not allow it."""
        if value.lower() == DONTCARE:
            return DONTCARE
        if not self.enum:
            return value
        for allowed in self.enum:
            if allowed.lower() == value.lower():
                return allowed
        return None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    service: str
    description: str
    arguments: tuple[FunctionArgument, ...]
    intents: tuple[str, ...] = ()  # non-empty when the function has an ``intent`` argument

    def argument(self, name: str) -> FunctionArgument | None:
        for arg in self.arguments:
            if arg.name == name:
                return arg
        return None

    def argument_for_slot(self, slot: str) -> FunctionArgument | None:
        for arg in self.arguments:
            if arg.slot == slot:
                return arg
        return None

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(a.slot for a in self.arguments if a.name != INTENT_ARGUMENT)

    def to_spec(self, detail: str = "full") -> dict[str, Any]:
        """The JSON shown to the model (FnCTOD / OpenAI function-spec shape).

        ``detail="compact"`` keeps only names, types and enums (no descriptions, examples or
        cautions); ``"names"`` only the function and argument names: for tiny models trained
        from scratch on CPU, to which the descriptions mean nothing and cost most tokens.
        (``"functions"`` shows no spec at all: :func:`render_functions` lists the names.)
        """
        if detail == "compact":
            return {
                "name": self.name,
                "arguments": {a.name: list(a.enum) if a.enum else a.type for a in self.arguments},
            }
        if detail == "names":
            return {"name": self.name, "arguments": [a.name for a in self.arguments]}
        if detail != "full":
            raise ConfigError(
                "system.spec_detail", f"unknown value {detail!r}", "full|compact|names|functions"
            )
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "object",
                "properties": {a.name: a.to_spec() for a in self.arguments},
                "required": [],
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "description": self.description,
            "intents": list(self.intents),
            "arguments": [
                {
                    "name": a.name,
                    "slot": a.slot,
                    "type": a.type,
                    "description": a.description,
                    "enum": list(a.enum),
                    "examples": list(a.examples),
                }
                for a in self.arguments
            ],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FunctionSpec:
        return cls(
            name=obj["name"],
            service=obj["service"],
            description=obj.get("description", ""),
            intents=tuple(obj.get("intents", ())),
            arguments=tuple(
                FunctionArgument(
                    name=a["name"],
                    slot=a["slot"],
                    type=a["type"],
                    description=a.get("description", ""),
                    enum=tuple(a.get("enum", ())),
                    examples=tuple(a.get("examples", ())),
                )
                for a in obj["arguments"]
            ),
        )


@dataclass(frozen=True)
class FunctionCatalog:
    """All functions of one schema, looked up by function name or by service."""

    style: Style
    functions: tuple[FunctionSpec, ...]
    _by_name: dict[str, FunctionSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for spec in self.functions:
            if spec.name in self._by_name:
                raise DataError(
                    f"two services map to the same function name {spec.name!r} "
                    f"({self._by_name[spec.name].service}, {spec.service})"
                )
            self._by_name[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.functions)

    def __len__(self) -> int:
        return len(self.functions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.functions)

    def get(self, name: str) -> FunctionSpec | None:
        return self._by_name.get(name)

    def for_service(self, service: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.service == service:
                return spec
        raise KeyError(f"no function for service {service!r}")

    def has_service(self, service: str) -> bool:
        return any(spec.service == service for spec in self.functions)

    def select(self, services: Iterable[str]) -> list[FunctionSpec]:
        """The functions of ``services``, in catalog order."""
        wanted = set(services)
        return [spec for spec in self.functions if spec.service in wanted]

    def to_json(self) -> dict[str, Any]:
        return {"style": self.style, "functions": [f.to_json() for f in self.functions]}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FunctionCatalog:
        return cls(
            style=obj["style"],
            functions=tuple(FunctionSpec.from_json(f) for f in obj["functions"]),
        )


# --------------------------------------------------------------------------- building


def detect_style(schema: Schema) -> Style:
    """MultiWOZ style when every slot of every service is named ``<service>-<slot>``."""
    prefixed = all(
        slot.name.startswith(f"{service.name}-") for service in schema for slot in service.slots
    )
    return "multiwoz" if prefixed and len(schema) else "sgd"


def function_name(service: Service, style: Style) -> str:
    """``find_hotel`` + ``book_hotel`` -> ``find_book_hotel``; SGD ``Restaurants_2`` ->
    ``restaurants_2``."""
    if style == "multiwoz":
        domain = service.name.lower()
        verbs: list[str] = []
        for intent in service.intent_names:
            lowered = intent.lower()
            if lowered == domain:
                continue
            if not lowered.endswith(f"_{domain}"):
                verbs = []
                break
            verbs.append(lowered[: -len(domain) - 1])
        if verbs:
            return "_".join(dict.fromkeys(verbs)) + f"_{domain}"
        return domain
    return re.sub(r"[^0-9a-z]+", "_", service.name.lower()).strip("_")


def argument_name(service: Service, slot: str, style: Style) -> str:
    if style != "multiwoz":
        return slot
    bare = slot.split("-", 1)[1] if "-" in slot else slot
    key = (service.name.lower(), bare)
    if key in DOMAIN_FRIENDLY_NAMES:
        return DOMAIN_FRIENDLY_NAMES[key]
    return FRIENDLY_NAMES.get(bare, bare)


def informable_slots(service: Service, stats: ValueStats | None = None) -> list[str]:
    """Union of the intents' argument slots and of the slots the training states use, in
    the service's slot order (a schema may forget a tracked slot in its intents)."""
    used = {slot for intent in service.intents for slot in intent.argument_slots}
    if stats is not None:
        used |= {
            slot
            for (name, slot), counter in stats.counts.items()
            if name == service.name and counter and service.has_slot(slot)
        }
    ordered = [s.name for s in service.slots if s.name in used]
    ordered += sorted(used - set(ordered))  # an intent may name a slot the list forgot
    return ordered


@dataclass(frozen=True)
class ValueStats:
    """Per (service, slot): how often each value occurs in the training states."""

    counts: Mapping[tuple[str, str], Counter] = field(default_factory=dict)

    def examples(self, service: str, slot: str, k: int) -> tuple[str, ...]:
        counter = self.counts.get((service, slot))
        if not counter:
            return ()
        # most frequent first, ties alphabetical: deterministic across machines
        ranked = sorted(
            (v for v in counter if v != DONTCARE), key=lambda v: (-counter[v], v)
        )
        return tuple(ranked[:k])

    def time_share(self, service: str, slot: str) -> float | None:
        counter = self.counts.get((service, slot))
        if not counter:
            return None
        values = [v for v in counter if v != DONTCARE]
        total = sum(counter[v] for v in values)
        if not total:
            return None
        return sum(counter[v] for v in values if TIME_RE.match(v)) / total


def collect_value_stats(split: DialogueSplit | None) -> ValueStats:
    """Count the state values of every user frame of ``split`` (the TRAINING split)."""
    counts: dict[tuple[str, str], Counter] = {}
    if split is None:
        return ValueStats(counts)
    for dialogue in split:
        for turn in dialogue.turns:
            for frame in turn.frames:
                if frame.state is None:
                    continue
                for slot, values in frame.state.slot_values.items():
                    counter = counts.setdefault((frame.service, slot), Counter())
                    for value in values:
                        counter[value] += 1
    return ValueStats(counts)


def argument_type(service: Service, slot_name: str, stats: ValueStats, time_share: float) -> str:
    slot = service.slot(slot_name)
    values = {v.lower() for v in slot.possible_values}
    if slot.is_categorical and values:
        if values <= BOOLEAN_VALUES:
            return "boolean"
        if all(v.isdigit() for v in values - {DONTCARE}):
            return "integer"
        return "string"
    share = stats.time_share(service.name, slot_name)
    if share is not None and share >= time_share:
        return "time (HH:mm)"
    return "string"


def build_function(
    service: Service,
    style: Style,
    stats: ValueStats,
    *,
    intent_argument: bool,
    num_examples: int = 3,
    time_share: float = 0.9,
) -> FunctionSpec:
    arguments: list[FunctionArgument] = []
    intents: tuple[str, ...] = ()
    if intent_argument and service.intents:
        intents = service.intent_names
        described = "; ".join(
            f"{i.name}: {i.description}" if i.description else i.name for i in service.intents
        )
        arguments.append(
            FunctionArgument(
                name=INTENT_ARGUMENT,
                slot=INTENT_ARGUMENT,
                type="string",
                description=f"what the user currently wants to do ({described})",
                enum=intents,
            )
        )
    seen: dict[str, str] = {}
    for slot_name in informable_slots(service, stats):
        name = argument_name(service, slot_name, style)
        if name in seen or name == INTENT_ARGUMENT:
            raise DataError(
                f"service {service.name}: slots {seen.get(name, INTENT_ARGUMENT)!r} and "
                f"{slot_name!r} map to the same argument name {name!r}"
            )
        seen[name] = slot_name
        slot = service.slot(slot_name)
        enum = tuple(slot.possible_values) if slot.is_categorical else ()
        arguments.append(
            FunctionArgument(
                name=name,
                slot=slot_name,
                type=argument_type(service, slot_name, stats, time_share),
                description=slot.description,
                enum=enum,
                examples=() if enum else stats.examples(service.name, slot_name, num_examples),
            )
        )
    description = service.description or service.name
    if intents:
        description = f"{description}. Also sets the user's current intent"
    return FunctionSpec(
        name=function_name(service, style),
        service=service.name,
        description=f"{description}. {DONTCARE_CAUTION}",
        arguments=tuple(arguments),
        intents=intents,
    )


def build_catalog(
    schema: Schema,
    *,
    style: str = "auto",
    train: DialogueSplit | None = None,
    intent_argument: bool | None = None,
    num_examples: int = 3,
    time_share: float = 0.9,
    services: Iterable[str] | None = None,
) -> FunctionCatalog:
    """Functions for every service of ``schema`` (or only ``services``).

    ``train`` supplies example values and detects time slots; pass the TRAINING split only
    (never the split being evaluated). ``intent_argument=None`` means: on for SGD style.
    """
    resolved: Style
    if style == "auto":
        resolved = detect_style(schema)
    elif style in ("multiwoz", "sgd"):
        resolved = style  # type: ignore[assignment]
    else:
        raise ConfigError("system.style", f"unknown style {style!r}", "use auto|multiwoz|sgd")
    use_intent = resolved == "sgd" if intent_argument is None else bool(intent_argument)
    stats = collect_value_stats(train)
    wanted = set(services) if services is not None else None
    functions = tuple(
        build_function(
            service,
            resolved,
            stats,
            intent_argument=use_intent,
            num_examples=num_examples,
            time_share=time_share,
        )
        for service in schema
        if (wanted is None or service.name in wanted) and informable_slots(service, stats)
    )
    return FunctionCatalog(style=resolved, functions=functions)


def render_functions(specs: Iterable[FunctionSpec], detail: str = "full") -> str:
    """``<FUNCTIONS><FUNCTION>{json}</FUNCTION>...</FUNCTIONS>`` as in the system message;
    ``detail="functions"``: one line, ``Functions: a, b.`` (a model trained from scratch on
    one fixed schema learns the arguments from its calls: the lists are constant tokens)."""
    if detail == "functions":
        return "Functions: " + ", ".join(spec.name for spec in specs) + "."
    body = "\n".join(
        f"<FUNCTION>{json.dumps(spec.to_spec(detail), ensure_ascii=False)}</FUNCTION>"
        for spec in specs
    )
    return f"<FUNCTIONS>\n{body}\n</FUNCTIONS>"


def intent_or_none(arguments: Mapping[str, str]) -> str:
    return arguments.get(INTENT_ARGUMENT, NONE_INTENT)
