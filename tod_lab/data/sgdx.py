"""SGD-X: the SGD dialogues with paraphrased service / intent / slot names.

The mapping is positional (as in the official ``sgd_x`` release): the i-th service of
``{sgdx_root}/{variant}/{split}/schema.json`` is the i-th service of the original split
schema, and inside a service the i-th slot / intent maps to the i-th slot / intent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import (
    Action,
    Dialogue,
    Frame,
    Schema,
    ServiceCall,
    SlotSpan,
    State,
    Turn,
)
from tod_lab.errors import DataError

VARIANTS = ("v1", "v2", "v3", "v4", "v5")
_INTENT_VALUED_ACTS = frozenset({"INFORM_INTENT", "OFFER_INTENT"})


@dataclass(frozen=True)
class ServiceRenaming:
    name: str
    slots: dict[str, str]
    intents: dict[str, str]


@dataclass(frozen=True)
class SchemaRenaming:
    """Original names -> variant names for every service of one split."""

    variant_schema: Schema
    services: dict[str, ServiceRenaming]

    @classmethod
    def build(cls, original: Schema, variant: Schema, *, file: str = "") -> SchemaRenaming:
        if len(original) != len(variant):
            raise DataError(
                f"variant schema has {len(variant)} services, the original {len(original)}",
                file=file,
            )
        services: dict[str, ServiceRenaming] = {}
        for orig, var in zip(original.services, variant.services, strict=True):
            if len(orig.slots) != len(var.slots) or len(orig.intents) != len(var.intents):
                raise DataError(
                    f"service {orig.name} -> {var.name}: slot/intent counts differ, "
                    "the positional mapping is undefined",
                    file=file,
                )
            services[orig.name] = ServiceRenaming(
                name=var.name,
                slots={a.name: b.name for a, b in zip(orig.slots, var.slots, strict=True)},
                intents={a.name: b.name for a, b in zip(orig.intents, var.intents, strict=True)},
            )
        return cls(variant_schema=variant, services=services)

    @classmethod
    def for_split(
        cls, original: Schema, sgdx_root: str | Path | None, variant: str, split: str
    ) -> SchemaRenaming:
        if variant not in VARIANTS:
            raise DataError(f"unknown SGD-X variant {variant!r}; expected one of {VARIANTS}")
        if not sgdx_root:
            raise DataError(
                "data.variant is set but data.sgdx_root is empty",
                hint="set data.sgdx_root to the directory holding v1..v5 (sgd_x/data upstream)",
            )
        path = Path(sgdx_root) / variant / split / "schema.json"
        return cls.build(original, read_schema(path), file=str(path))

    # ----------------------------------------------------------------- dialogue renaming

    def rename_dialogue(self, dialogue: Dialogue) -> Dialogue:
        try:
            return Dialogue(
                dialogue_id=dialogue.dialogue_id,
                services=tuple(self.services[s].name for s in dialogue.services),
                turns=tuple(self._turn(t) for t in dialogue.turns),
            )
        except KeyError as exc:
            raise DataError(
                f"cannot rename {exc} through the SGD-X mapping: not in the original schema",
                dialogue_id=dialogue.dialogue_id,
            ) from exc

    def _turn(self, turn: Turn) -> Turn:
        return replace(turn, frames=tuple(self._frame(f) for f in turn.frames))

    def _frame(self, frame: Frame) -> Frame:
        m = self.services[frame.service]

        def slot(name: str) -> str:
            return m.slots.get(name, name)  # "", "intent", "count" are not schema slots

        actions = tuple(
            Action(
                act=a.act,
                slot=slot(a.slot),
                values=tuple(m.intents[v] for v in a.values)
                if a.act in _INTENT_VALUED_ACTS
                else a.values,
                canonical_values=(
                    tuple(m.intents[v] for v in a.canonical_values)
                    if a.act in _INTENT_VALUED_ACTS and a.canonical_values is not None
                    else a.canonical_values
                ),
            )
            for a in frame.actions
        )
        state = None
        if frame.state is not None:
            s = frame.state
            state = State(
                active_intent=m.intents.get(s.active_intent, s.active_intent),
                requested_slots=tuple(m.slots[r] for r in s.requested_slots),
                slot_values={m.slots[k]: v for k, v in s.slot_values.items()},
            )
        call = None
        if frame.service_call is not None:
            c = frame.service_call
            call = ServiceCall(
                method=m.intents[c.method],
                parameters={m.slots[k]: v for k, v in c.parameters.items()},
            )
        results = None
        if frame.service_results is not None:
            results = tuple({m.slots[k]: v for k, v in r.items()} for r in frame.service_results)
        return Frame(
            service=m.name,
            actions=actions,
            slots=tuple(replace(sp, slot=m.slots[sp.slot]) for sp in frame.slots),
            state=state,
            service_call=call,
            service_results=results,
        )


__all__ = ["VARIANTS", "SchemaRenaming", "ServiceRenaming", "SlotSpan"]
