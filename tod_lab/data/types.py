"""Shared schema and dialogue types — the one vocabulary every part of tod_lab speaks.

The types mirror the Schema-Guided Dialogue (SGD / DSTC8) JSON format, which MultiWOZ 2.2
also uses. ``from_json`` / ``to_json`` round-trip the official files exactly (same keys,
optional keys omitted when absent), so predictions written from these types are read by
the official evaluators unchanged.

They are frozen, slotted dataclasses: cheap to build for the ~250k turns of SGD and safe
to share between the data layer, the systems and the evaluators.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

USER = "USER"
SYSTEM = "SYSTEM"
SPEAKERS = (USER, SYSTEM)
NONE_INTENT = "NONE"
DONTCARE = "dontcare"


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    description: str = ""
    is_categorical: bool = False
    possible_values: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Slot:
        return cls(
            name=obj["name"],
            description=obj.get("description", ""),
            is_categorical=bool(obj.get("is_categorical", False)),
            possible_values=tuple(obj.get("possible_values", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "is_categorical": self.is_categorical,
            "possible_values": list(self.possible_values),
        }


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    description: str = ""
    is_transactional: bool = False
    required_slots: tuple[str, ...] = ()
    # slot name -> default value ("dontcare" or a concrete value), in schema order
    optional_slots: Mapping[str, str] = field(default_factory=dict)
    result_slots: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Intent:
        return cls(
            name=obj["name"],
            description=obj.get("description", ""),
            is_transactional=bool(obj.get("is_transactional", False)),
            required_slots=tuple(obj.get("required_slots", ())),
            optional_slots=dict(obj.get("optional_slots", {})),
            result_slots=tuple(obj.get("result_slots", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "is_transactional": self.is_transactional,
            "required_slots": list(self.required_slots),
            "optional_slots": dict(self.optional_slots),
            "result_slots": list(self.result_slots),
        }

    @property
    def argument_slots(self) -> tuple[str, ...]:
        """Required then optional slots: the arguments of the intent's API."""
        return self.required_slots + tuple(self.optional_slots)


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    description: str = ""
    slots: tuple[Slot, ...] = ()
    intents: tuple[Intent, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Service:
        return cls(
            name=obj["service_name"],
            description=obj.get("description", ""),
            slots=tuple(Slot.from_json(s) for s in obj.get("slots", ())),
            intents=tuple(Intent.from_json(i) for i in obj.get("intents", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "service_name": self.name,
            "description": self.description,
            "slots": [s.to_json() for s in self.slots],
            "intents": [i.to_json() for i in self.intents],
        }

    @property
    def domain(self) -> str:
        """SGD domain of a service: ``Restaurants_2`` -> ``Restaurants``."""
        return self.name.split("_")[0]

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.slots)

    @property
    def intent_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.intents)

    def slot(self, name: str) -> Slot:
        for s in self.slots:
            if s.name == name:
                return s
        raise KeyError(f"service {self.name} has no slot {name!r}")

    def intent(self, name: str) -> Intent:
        for i in self.intents:
            if i.name == name:
                return i
        raise KeyError(f"service {self.name} has no intent {name!r}")

    def has_slot(self, name: str) -> bool:
        return any(s.name == name for s in self.slots)

    def has_intent(self, name: str) -> bool:
        return any(i.name == name for i in self.intents)


@dataclass(frozen=True, slots=True)
class Schema:
    services: tuple[Service, ...]

    @classmethod
    def from_json(cls, obj: Iterable[Mapping[str, Any]]) -> Schema:
        return cls(services=tuple(Service.from_json(s) for s in obj))

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.services]

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    def __contains__(self, service_name: object) -> bool:
        return any(s.name == service_name for s in self.services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(f"schema has no service {name!r}")


# --------------------------------------------------------------------------- dialogues


@dataclass(frozen=True, slots=True)
class Action:
    act: str
    slot: str = ""
    values: tuple[str, ...] = ()
    canonical_values: tuple[str, ...] | None = None  # absent in MultiWOZ 2.2 frames

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Action:
        canonical = obj.get("canonical_values")
        return cls(
            act=obj["act"],
            slot=obj.get("slot", ""),
            values=tuple(obj.get("values", ())),
            canonical_values=tuple(canonical) if canonical is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"act": self.act}
        if self.canonical_values is not None:
            out["canonical_values"] = list(self.canonical_values)
        out["slot"] = self.slot
        out["values"] = list(self.values)
        return out


@dataclass(frozen=True, slots=True)
class SlotSpan:
    """A slot mention: a character span (SGD, MultiWOZ) or a MultiWOZ ``copy_from``."""

    slot: str
    start: int | None = None
    exclusive_end: int | None = None
    value: Any = None  # MultiWOZ 2.2 stores the surface string (or a list for copy_from)
    copy_from: str | None = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SlotSpan:
        return cls(
            slot=obj["slot"],
            start=obj.get("start"),
            exclusive_end=obj.get("exclusive_end"),
            value=obj.get("value"),
            copy_from=obj.get("copy_from"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.copy_from is not None:
            out["copy_from"] = self.copy_from
        if self.exclusive_end is not None:
            out["exclusive_end"] = self.exclusive_end
        out["slot"] = self.slot
        if self.start is not None:
            out["start"] = self.start
        if self.value is not None:
            out["value"] = self.value
        return out

    @property
    def is_span(self) -> bool:
        return self.start is not None and self.exclusive_end is not None


@dataclass(frozen=True, slots=True)
class State:
    """Dialogue state of one service after a user turn."""

    active_intent: str = NONE_INTENT
    requested_slots: tuple[str, ...] = ()
    # slot -> all acceptable surface forms (SGD lists every mention; first is canonical for
    # categorical slots)
    slot_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> State:
        return cls(
            active_intent=obj.get("active_intent", NONE_INTENT),
            requested_slots=tuple(obj.get("requested_slots", ())),
            slot_values={k: tuple(v) for k, v in obj.get("slot_values", {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "active_intent": self.active_intent,
            "requested_slots": list(self.requested_slots),
            "slot_values": {k: list(v) for k, v in self.slot_values.items()},
        }


@dataclass(frozen=True, slots=True)
class ServiceCall:
    method: str
    parameters: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ServiceCall:
        return cls(method=obj["method"], parameters=dict(obj.get("parameters", {})))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "parameters": dict(self.parameters)}


@dataclass(frozen=True, slots=True)
class Frame:
    service: str
    actions: tuple[Action, ...] = ()
    slots: tuple[SlotSpan, ...] = ()
    state: State | None = None  # user frames only
    service_call: ServiceCall | None = None  # system frames that query the service
    service_results: tuple[Mapping[str, str], ...] | None = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Frame:
        state = obj.get("state")
        call = obj.get("service_call")
        results = obj.get("service_results")
        return cls(
            service=obj["service"],
            actions=tuple(Action.from_json(a) for a in obj.get("actions", ())),
            slots=tuple(SlotSpan.from_json(s) for s in obj.get("slots", ())),
            state=State.from_json(state) if state is not None else None,
            service_call=ServiceCall.from_json(call) if call is not None else None,
            service_results=tuple(dict(r) for r in results) if results is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "actions": [a.to_json() for a in self.actions],
            "service": self.service,
        }
        if self.service_call is not None:
            out["service_call"] = self.service_call.to_json()
        if self.service_results is not None:
            out["service_results"] = [dict(r) for r in self.service_results]
        out["slots"] = [s.to_json() for s in self.slots]
        if self.state is not None:
            out["state"] = self.state.to_json()
        return out


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str
    utterance: str
    frames: tuple[Frame, ...] = ()
    turn_id: str | None = None  # MultiWOZ 2.2 numbers its turns; SGD does not

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Turn:
        return cls(
            speaker=obj["speaker"],
            utterance=obj["utterance"],
            frames=tuple(Frame.from_json(f) for f in obj.get("frames", ())),
            turn_id=obj.get("turn_id"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frames": [f.to_json() for f in self.frames],
            "speaker": self.speaker,
        }
        if self.turn_id is not None:
            out["turn_id"] = self.turn_id
        out["utterance"] = self.utterance
        return out

    @property
    def is_user(self) -> bool:
        return self.speaker == USER

    def frame(self, service: str) -> Frame | None:
        for f in self.frames:
            if f.service == service:
                return f
        return None


@dataclass(frozen=True, slots=True)
class Dialogue:
    dialogue_id: str
    services: tuple[str, ...]
    turns: tuple[Turn, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Dialogue:
        return cls(
            dialogue_id=obj["dialogue_id"],
            services=tuple(obj.get("services", ())),
            turns=tuple(Turn.from_json(t) for t in obj.get("turns", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "dialogue_id": self.dialogue_id,
            "services": list(self.services),
            "turns": [t.to_json() for t in self.turns],
        }

    @property
    def user_turns(self) -> tuple[Turn, ...]:
        return tuple(t for t in self.turns if t.speaker == USER)


@dataclass(frozen=True, slots=True)
class DialogueSplit:
    """One split of a corpus: its schema, its dialogues and where they came from."""

    corpus: str  # "sgd", "multiwoz22", "toy", ...
    split: str  # "train" | "dev" | "test"
    schema: Schema
    dialogues: tuple[Dialogue, ...]
    files: tuple[str, ...] = ()
    variant: str | None = None  # SGD-X variant ("v1".."v5") or None for the original names
    skipped: Mapping[str, str] = field(default_factory=dict)  # dialogue id -> reason
    # corpus-specific annotations that are not part of the SGD format, e.g. MultiWOZ's
    # dialog_acts.json ({"dialog_acts": {...}}) or the path of its venue DBs ("db_dir")
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.dialogues)

    def __iter__(self) -> Iterator[Dialogue]:
        return iter(self.dialogues)

    @property
    def dialogue_ids(self) -> tuple[str, ...]:
        return tuple(d.dialogue_id for d in self.dialogues)

    def by_id(self) -> dict[str, Dialogue]:
        return {d.dialogue_id: d for d in self.dialogues}

    def subset(self, dialogue_ids: Iterable[str]) -> DialogueSplit:
        """The dialogues whose ids are given, in the split's own order."""
        wanted = set(dialogue_ids)
        return DialogueSplit(
            corpus=self.corpus,
            split=self.split,
            schema=self.schema,
            dialogues=tuple(d for d in self.dialogues if d.dialogue_id in wanted),
            files=self.files,
            variant=self.variant,
            skipped=self.skipped,
            extras=self.extras,
        )
