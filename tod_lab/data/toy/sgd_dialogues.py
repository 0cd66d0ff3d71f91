"""Simulating SGD-format dialogues over the toy services.

A dialogue is played out act by act between a scripted user (who has a goal drawn from
the seeded :class:`~tod_lab.data.toy.world.ToyWorld`) and a scripted agent that follows
the SGD policy: request missing required slots, call the service, offer results, confirm
every argument of a transaction, call it, notify success or failure. Every act is
realised with a template, every value with an exact span. The annotation follows the
SGD conventions (checked against the real corpus):

- user frames carry the cumulative ``state`` of their service: ``slot_values`` are lists
  of every surface form used for the current value (the user's, and the system's once the
  system has said it), sorted; categorical values are the schema's possible values;
  ``requested_slots`` are the slots requested in that turn; ``active_intent`` turns to
  ``NONE`` when the user closes the dialogue;
- offered values enter the state when the user selects the offer; defaults of optional
  arguments enter it when the user affirms the confirmation;
- values carried over from a previous service enter the new service's state without an
  action or a span, as in SGD;
- ``dontcare`` is an INFORM value, never spanned and never a service-call parameter;
- system frames carry ``service_call`` / ``service_results`` (canonical values) when the
  agent queried the service in that turn.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tod_lab.data.toy import specs as S
from tod_lab.data.toy import values as V
from tod_lab.data.toy.rendering import Mention, UtteranceBuilder, placeholders
from tod_lab.data.toy.sgd_services import ALL_SERVICES
from tod_lab.data.toy.specs import IntentSpec, ServiceSpec, SlotSpec
from tod_lab.data.toy.world import Row, ToyWorld

DONTCARE = "dontcare"
# values a user may change when correcting a confirmation ("actually make it 7 pm")
CORRECTABLE_KINDS = frozenset({"time", "date", "number"})


# --------------------------------------------------------------------------- state


@dataclass
class SlotState:
    canonical: str
    surfaces: list[str]


@dataclass
class ServiceState:
    intent: str = "NONE"
    slots: dict[str, SlotState] = field(default_factory=dict)

    def canonical(self, slot: str) -> str | None:
        entry = self.slots.get(slot)
        return entry.canonical if entry else None

    def set(self, slot: str, canonical: str, surface: str) -> None:
        """A new value replaces the old one; the same value gains a surface form."""
        entry = self.slots.get(slot)
        if entry is not None and entry.canonical == canonical:
            if surface not in entry.surfaces:
                entry.surfaces.append(surface)
                entry.surfaces.sort()
        else:
            self.slots[slot] = SlotState(canonical, [surface])

    def constraints(self, arguments: Sequence[str]) -> dict[str, str]:
        """Service-call parameters: canonical values, ``dontcare`` left out (as SGD does)."""
        return {
            slot: self.slots[slot].canonical
            for slot in sorted(arguments)
            if slot in self.slots and self.slots[slot].canonical != DONTCARE
        }

    def to_json(self, requested: Sequence[str]) -> dict[str, Any]:
        return {
            "active_intent": self.intent,
            "requested_slots": list(requested),
            "slot_values": {k: list(v.surfaces) for k, v in sorted(self.slots.items())},
        }


# --------------------------------------------------------------------------- turns


@dataclass
class FrameDraft:
    service: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    service_call: dict[str, Any] | None = None
    service_results: list[dict[str, str]] | None = None


@dataclass
class TurnDraft:
    speaker: str
    builder: UtteranceBuilder = field(default_factory=UtteranceBuilder)
    frames: dict[str, FrameDraft] = field(default_factory=dict)
    # system turns: (service, slot, canonical, surface) the agent said
    mentions: list[tuple[str, str, str, str]] = field(default_factory=list)

    def frame(self, service: str) -> FrameDraft:
        if service not in self.frames:
            self.frames[service] = FrameDraft(service)
        return self.frames[service]

    def act(
        self,
        service: str,
        act: str,
        slot: str = "",
        values: Sequence[str] = (),
        canonical: Sequence[str] | None = None,
    ) -> None:
        self.frame(service).actions.append(
            {
                "act": act,
                "canonical_values": list(values if canonical is None else canonical),
                "slot": slot,
                "values": list(values),
            }
        )

    def acts(self) -> set[str]:
        return {a["act"] for f in self.frames.values() for a in f.actions}


# --------------------------------------------------------------------------- the simulator


@dataclass
class Scenario:
    """What one dialogue will do: services in order, with what carries over between them."""

    services: tuple[str, ...]
    carry: Mapping[str, str] = field(default_factory=dict)  # slot of 2nd service <- slot of 1st


class SGDDialogueSimulator:
    def __init__(self, world: ToyWorld, rng: random.Random, dialogue_id: str):
        self.world = world
        self.rng = rng
        self.dialogue_id = dialogue_id
        self.turns: list[dict[str, Any]] = []
        self.states: dict[str, ServiceState] = {}
        self.services: list[str] = []
        self.pending: list[tuple[str, str, str, str]] = []
        self.offered: dict[str, Row] = {}
        self.offered_slots: dict[str, tuple[str, ...]] = {}  # what the last OFFER said
        self.told: dict[str, set[str]] = {}  # slots the agent already said about the offer
        self.last_system_acts: set[str] = set()
        self.closed = False
        self.handoff: str | None = None  # service the next user turn SELECTs before moving on

    # ------------------------------------------------------------------ helpers

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def untold(self, service: str, slot: str) -> bool:
        """Neither in the user's state nor already said by the agent about this offer."""
        return slot not in self.states[service].slots and slot not in self.told.get(service, ())

    def state(self, service: str) -> ServiceState:
        if service not in self.states:
            self.states[service] = ServiceState()
            self.services.append(service)
        return self.states[service]

    def user_mention(self, service: str, slot: SlotSpec, canonical: str, template: str = "",
                     placeholder: str = "v") -> Mention:  # fmt: skip
        """How the user says a value inside ``template`` (at ``{placeholder}``)."""
        at_start = template.startswith("{" + placeholder + "}")
        if slot.is_categorical:
            surface = slot.display.get(canonical, canonical)
            if slot.kind == "number":
                surface = V.number_surface(canonical, self.rng)
            return Mention(slot.name, _sentence_case(surface, at_start), False, service)
        after_on = ("on {" + placeholder + "}") in template.lower()
        surface = V.user_surface(slot.kind, canonical, self.rng, after_on=after_on)
        return Mention(slot.name, _sentence_case(surface, at_start), True, service)

    def system_mention(self, turn: TurnDraft, service: str, slot: SlotSpec, canonical: str) -> Mention:
        if slot.is_categorical:
            return Mention(slot.name, slot.display.get(canonical, canonical), False, service)
        surface = V.system_surface(slot.kind, canonical)
        turn.mentions.append((service, slot.name, canonical, surface))
        return Mention(slot.name, surface, True, service)

    @staticmethod
    def action_values(slot: SlotSpec, mention: Mention, canonical: str) -> tuple[list[str], list[str]]:
        if slot.is_categorical:
            return [canonical], [canonical]
        return [mention.surface], [canonical]

    # ------------------------------------------------------------------ turn commits

    def user_turn(self) -> TurnDraft:
        # values the system said last turn join the state as alternative surface forms
        for service, slot, canonical, surface in self.pending:
            state = self.states.get(service)
            if state is not None and state.canonical(slot) == canonical:
                state.set(slot, canonical, surface)
        self.pending = []
        return TurnDraft("USER")

    def commit_user(self, turn: TurnDraft) -> None:
        frames = []
        for service, draft in turn.frames.items():
            spans = [s for s in turn.builder.spans if s.service == service]
            frames.append(
                {
                    "actions": draft.actions,
                    "service": service,
                    "slots": [
                        {"exclusive_end": s.end, "slot": s.slot, "start": s.start} for s in spans
                    ],
                    "state": self.states[service].to_json(draft.requested),
                }
            )
        self.turns.append({"frames": frames, "speaker": "USER", "utterance": turn.builder.text})

    def system_turn(self) -> TurnDraft:
        return TurnDraft("SYSTEM")

    def commit_system(self, turn: TurnDraft) -> None:
        frames = []
        for service, draft in turn.frames.items():
            spans = [s for s in turn.builder.spans if s.service == service]
            frame: dict[str, Any] = {
                "actions": draft.actions,
                "service": service,
                "slots": [
                    {"exclusive_end": s.end, "slot": s.slot, "start": s.start} for s in spans
                ],
            }
            if draft.service_call is not None:
                frame["service_call"] = draft.service_call
                frame["service_results"] = draft.service_results or []
            frames.append(frame)
        self.turns.append({"frames": frames, "speaker": "SYSTEM", "utterance": turn.builder.text})
        self.pending = list(turn.mentions)
        self.last_system_acts = turn.acts()

    # ------------------------------------------------------------------ user acts

    def u_inform(self, turn: TurnDraft, service: str, slot_name: str, canonical: str,
                 *, short: bool = False) -> None:  # fmt: skip
        spec = ALL_SERVICES[service]
        slot = spec.slot(slot_name)
        state = self.state(service)
        if canonical == DONTCARE:
            template = self.choice(slot.dontcare or S.GENERIC_DONTCARE).replace("{label}", slot.label)
            turn.builder.add(template)
            turn.act(service, "INFORM", slot.name, [DONTCARE])
            state.set(slot.name, DONTCARE, DONTCARE)
            return
        if slot.tell_by_value:
            turn.builder.add(self.choice(slot.tell_by_value[canonical]))
            turn.act(service, "INFORM", slot.name, [canonical])
            state.set(slot.name, canonical, canonical)
            return
        template = self.choice(slot.short if short and slot.short else slot.tell)
        mention = self.user_mention(service, slot, canonical, template)
        turn.builder.add(template, {"v": mention})
        values, canon = self.action_values(slot, mention, canonical)
        turn.act(service, "INFORM", slot.name, values, canon)
        state.set(slot.name, canonical, values[0])

    def u_embedded(self, turn: TurnDraft, service: str, templates: Sequence[str],
                   slots: Mapping[str, str]) -> set[str] | None:  # fmt: skip
        """Say one template that embeds some of ``slots``; INFORM what it embeds.

        Returns the embedded slots, or None when no template fits (nothing was said).
        """
        spec = ALL_SERVICES[service]
        fitting = [t for t in templates if set(placeholders(t)) <= set(slots)]
        if not fitting:
            return None
        richest = max(len(placeholders(t)) for t in fitting)
        if slots and self.chance(0.6):
            fitting = [t for t in fitting if len(placeholders(t)) == richest]
        template = self.choice(fitting)
        used = placeholders(template)
        mentions = {}
        for name in used:
            mentions[name] = self.user_mention(service, spec.slot(name), slots[name], template, name)
        turn.builder.add(template, mentions)
        state = self.state(service)
        for name in used:
            slot = spec.slot(name)
            values, canon = self.action_values(slot, mentions[name], slots[name])
            turn.act(service, "INFORM", name, values, canon)
            state.set(name, slots[name], values[0])
        return set(used)

    def u_intent(self, turn: TurnDraft, service: str, intent: IntentSpec,
                 slots: Mapping[str, str], templates: Sequence[str] | None = None) -> None:  # fmt: skip
        """INFORM_INTENT, with some of ``slots`` embedded and the rest said as clauses."""
        embeddable = {k: v for k, v in slots.items() if v != DONTCARE}
        used = self.u_embedded(turn, service, templates or intent.user, embeddable)
        if used is None:  # no phrasing fits: fall back to the plain ones
            used = self.u_embedded(turn, service, intent.user + intent.after_select, {})
        if used is None:
            raise AssertionError(f"{service}.{intent.name} has no plain INFORM_INTENT phrasing")
        turn.act(service, "INFORM_INTENT", "intent", [intent.name])
        self.state(service).intent = intent.name
        for name, value in slots.items():
            if name not in used:
                self.u_inform(turn, service, name, value)

    def u_request(self, turn: TurnDraft, service: str, slot_names: Sequence[str]) -> None:
        spec = ALL_SERVICES[service]
        phrases, questions = [], []
        for name in slot_names:
            slot = spec.slot(name)
            if slot.ask_q and (not slot.ask_np or self.chance(0.5)):
                questions.append(self.choice(slot.ask_q))
            else:
                phrases.append(self.choice(slot.ask_np))
        if phrases:
            joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
            turn.builder.add(self.choice(S.USER_REQUEST_FRAMES).replace("{np}", joined))
        for question in questions:
            turn.builder.add(question)
        for name in slot_names:
            turn.act(service, "REQUEST", name)
            turn.frame(service).requested.append(name)
        turn.frame(service).requested.sort()

    def u_simple(self, turn: TurnDraft, service: str, act: str, templates: Sequence[str]) -> None:
        turn.builder.add(self.choice(templates))
        turn.act(service, act)

    def u_select(self, turn: TurnDraft, service: str, *, say: bool = True) -> None:
        """SELECT the last offer: its values that are transaction arguments join the state."""
        spec = ALL_SERVICES[service]
        if say:
            turn.builder.add(self.choice(S.USER_SELECT))
        turn.act(service, "SELECT")
        row = self.offered.get(service)
        if row is None or spec.transaction is None:
            return
        state = self.state(service)
        for name in spec.transaction.arguments:
            if name in self.offered_slots.get(service, ()) and state.canonical(name) in (
                None,
                DONTCARE,
            ):
                slot = spec.slot(name)
                surface = row[name] if slot.is_categorical else V.system_surface(slot.kind, row[name])
                state.set(name, row[name], surface)

    # ------------------------------------------------------------------ system acts

    def s_request(self, turn: TurnDraft, service: str, slot_names: Sequence[str]) -> None:
        spec = ALL_SERVICES[service]
        for index, name in enumerate(slot_names):
            question = self.choice(spec.slot(name).ask)
            if index and self.chance(0.5):
                question = "Also, " + question[0].lower() + question[1:]
            turn.builder.add(question)
            turn.act(service, "REQUEST", name)

    def s_offer(self, turn: TurnDraft, service: str, row: Row, count: int | None) -> None:
        spec = ALL_SERVICES[service]
        if count is not None and spec.search.count_noun:
            noun = spec.search.count_noun
            template = self.choice(S.SYSTEM_COUNT) if count > 1 else "I found {count} {noun}."
            turn.builder.add(template.format(count=count, noun=noun if count > 1 else noun[:-1]))
            turn.act(service, "INFORM_COUNT", "count", [str(count)])
        template = self.choice(spec.search.offer)
        mentions = {
            name: self.system_mention(turn, service, spec.slot(name), row[name])
            for name in placeholders(template)
        }
        turn.builder.add(template, mentions)
        for name in placeholders(template):
            slot = spec.slot(name)
            values, canon = self.action_values(slot, mentions[name], row[name])
            turn.act(service, "OFFER", name, values, canon)
        self.offered[service] = row
        self.offered_slots[service] = placeholders(template)
        self.told[service] = set(placeholders(template))

    def s_inform(self, turn: TurnDraft, service: str, slot_name: str, canonical: str) -> None:
        slot = ALL_SERVICES[service].slot(slot_name)
        if slot.say_by_value:
            turn.builder.add(self.choice(slot.say_by_value[canonical]))
            turn.act(service, "INFORM", slot_name, [canonical])
            self.told.setdefault(service, set()).add(slot_name)
            return
        mention = self.system_mention(turn, service, slot, canonical)
        turn.builder.add(self.choice(slot.say), {"v": mention})
        values, canon = self.action_values(slot, mention, canonical)
        turn.act(service, "INFORM", slot_name, values, canon)
        self.told.setdefault(service, set()).add(slot_name)

    def s_confirm(self, turn: TurnDraft, service: str, intent: IntentSpec,
                  args: Mapping[str, str], *, full: bool) -> None:  # fmt: skip
        spec = ALL_SERVICES[service]
        turn.builder.add(self.choice(S.SYSTEM_CONFIRM_PREFIX))
        if full:
            template = self.choice(intent.confirm)
            names = placeholders(template)
            mentions = {n: self.system_mention(turn, service, spec.slot(n), args[n]) for n in names}
            turn.builder.add(template, mentions)
        else:
            names = tuple(args)
            mentions = {}
            for name in names:
                slot = spec.slot(name)
                mentions[name] = self.system_mention(turn, service, slot, args[name])
                say = slot.say if slot.say else (f"The {slot.label} is {{v}}.",)
                turn.builder.add(self.choice(say), {"v": mentions[name]})
        turn.builder.add(self.choice(S.SYSTEM_CONFIRM_SUFFIX))
        for name in names:
            values, canon = self.action_values(spec.slot(name), mentions[name], args[name])
            turn.act(service, "CONFIRM", name, values, canon)

    def s_call(self, turn: TurnDraft, service: str, method: str, parameters: Mapping[str, str],
               results: list[Row]) -> None:  # fmt: skip
        draft = turn.frame(service)
        draft.service_call = {"method": method, "parameters": dict(sorted(parameters.items()))}
        draft.service_results = [dict(sorted(r.items())) for r in results]

    def s_simple(self, turn: TurnDraft, service: str, act: str, templates: Sequence[str],
                 slot: str = "", values: Sequence[str] = ()) -> None:  # fmt: skip
        turn.builder.add(self.choice(templates))
        turn.act(service, act, slot, values)

    # ------------------------------------------------------------------ goals

    def sample_goal(self, spec: ServiceSpec, fixed: Mapping[str, str]) -> dict[str, str]:
        """What the user wants from the search: required values plus some optional ones."""
        intent = spec.search
        rng = self.rng
        goal: dict[str, str] = {}
        if self.world.is_tabular(spec.name):
            keys = {k: v for k, v in fixed.items() if k in intent.arguments}
            row = self.world.sample_row(spec.name, rng, keys) or self.world.sample_row(spec.name, rng)
            assert row is not None
            for name in intent.required:
                goal[name] = row[name]
            for name in intent.optional:
                draw = rng.random()
                if draw < 0.3:
                    goal[name] = row[name]
                elif draw < 0.45:
                    goal[name] = DONTCARE
        else:
            goal = self._trip_goal(spec, fixed)
        goal.update({k: v for k, v in fixed.items() if k in intent.arguments})
        return goal

    def _trip_goal(self, spec: ServiceSpec, fixed: Mapping[str, str]) -> dict[str, str]:
        rng = self.rng
        day = V.canonical_date(rng.choice((1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)))
        cities = rng.sample(V.CITY_NAMES, 2)
        if spec.name == "Trains_1":
            goal = {"from": cities[0], "to": cities[1], "date_of_journey": day}
            if rng.random() < 0.25:
                goal["class"] = rng.choice(("Value", "Business", "Flexible"))
            if rng.random() < 0.2:
                goal["number_of_adults"] = rng.choice(("1", "2", "3", "4"))
        elif spec.name == "Flights_1":
            goal = {"origin_city": cities[0], "destination_city": cities[1], "departure_date": day}
            draw = rng.random()
            if draw < 0.25:
                goal["airlines"] = rng.choice(S_AIRLINES)
            elif draw < 0.4:
                goal["airlines"] = DONTCARE
            if rng.random() < 0.25:
                goal["seating_class"] = rng.choice(("Economy", "Premium Economy", "Business"))
        else:  # Weather_1
            goal = {"city": rng.choice(V.CITY_NAMES)}
            if rng.random() < 0.5:
                goal["date"] = day
        # a carried city must not make origin == destination
        for slot, value in fixed.items():
            for other, other_value in list(goal.items()):
                if other != slot and other_value == value and spec.slot(other).kind == "city":
                    goal[other] = next(c for c in V.CITY_NAMES if c != value)
        return goal

    # ------------------------------------------------------------------ phases

    def run(self, scenario: Scenario) -> dict[str, Any]:
        first = scenario.services[0]
        self.service_phase(first, carried={}, opening=True, has_next=len(scenario.services) > 1)
        for service in scenario.services[1:]:
            if self.closed:
                break
            carried = {}
            prev = self.states[first]
            for slot, source in scenario.carry.items():
                if source in prev.slots and prev.slots[source].canonical != DONTCARE:
                    entry = prev.slots[source]
                    carried[slot] = SlotState(entry.canonical, list(entry.surfaces))
            self.service_phase(service, carried=carried, opening=False, has_next=False)
        if not self.closed:
            self.close(self.services[-1])
        return {"dialogue_id": self.dialogue_id, "services": list(self.services), "turns": self.turns}

    def service_phase(self, service: str, carried: dict[str, SlotState], opening: bool,
                      has_next: bool) -> None:  # fmt: skip
        spec = ALL_SERVICES[service]
        if self.handoff is None and not opening and "REQ_MORE" not in self.last_system_acts and self.chance(0.5):
            turn = self.user_turn()
            self.u_simple(turn, self.services[-1], "THANK_YOU", S.USER_THANKS)
            self.commit_user(turn)
            reply = self.system_turn()
            self.s_simple(reply, self.services[-1], "REQ_MORE", S.SYSTEM_REQ_MORE)
            self.commit_system(reply)
        direct = (
            spec.transaction is not None
            and any(placeholders(t) for t in spec.transaction.user)
            and self.chance(0.12)
            and not carried
            and self.handoff is None
        )
        if direct:
            self.direct_transaction(spec)
            return
        row = self.search_phase(spec, carried)
        wants_booking = spec.transaction is not None and self.chance(0.72)
        if wants_booking:
            self.start_transaction_after_offer(spec)
        elif has_next and row is not None and spec.transaction is not None and self.chance(0.6):
            # select and move on in the same turn: one user turn, two frames (as in SGD)
            self.handoff = service
        elif spec.transaction is not None and self.chance(0.5):
            turn = self.user_turn()
            self.u_select(turn, service)
            self.commit_user(turn)
            reply = self.system_turn()
            reply.act(service, "OFFER_INTENT", "intent", [spec.transaction.name])
            reply.builder.add(self.choice(spec.transaction.offer_intent))
            self.commit_system(reply)
            turn = self.user_turn()
            self.u_simple(turn, service, "NEGATE_INTENT", S.USER_NEGATE_INTENT)
            self.commit_user(turn)
            reply = self.system_turn()
            self.s_simple(reply, service, "REQ_MORE", S.SYSTEM_REQ_MORE)
            self.commit_system(reply)
        else:
            turn = self.user_turn()
            if row is not None and spec.transaction is not None:
                self.u_select(turn, service)
            self.u_simple(turn, service, "THANK_YOU", S.USER_THANKS)
            self.commit_user(turn)
            reply = self.system_turn()
            self.s_simple(reply, service, "REQ_MORE", S.SYSTEM_REQ_MORE)
            self.commit_system(reply)

    def search_phase(self, spec: ServiceSpec, carried: dict[str, SlotState]) -> Row | None:
        service, intent = spec.name, spec.search
        goal = self.sample_goal(spec, {k: v.canonical for k, v in carried.items()})
        turn = self.user_turn()
        if self.handoff is not None:
            self.u_select(turn, self.handoff)
            self.handoff = None
        state = self.state(service)
        turn.frame(service)
        for slot, entry in carried.items():
            state.slots[slot] = entry
        if len(self.services) > 1 and self.chance(0.3):
            turn.builder.add(self.choice(("One more thing.", "I need one more thing.", "There is something else.")))
        open_slots = [s for s in goal if s not in carried]
        self.rng.shuffle(open_slots)
        k = self.choice((0, 1, 1, 2, 2, 3))
        first = {s: goal[s] for s in open_slots[:k]}
        if carried and self.chance(0.3):  # say a carried value explicitly after all
            slot = self.choice(sorted(carried))
            first[slot] = carried[slot].canonical
        self.u_intent(turn, service, intent, first)
        self.commit_user(turn)
        self.fill_required(service, intent.required, goal)
        results = self.world.search(service, state.constraints(intent.arguments))
        reply = self.system_turn()
        self.s_call(reply, service, intent.name, state.constraints(intent.arguments), results)
        if not results:  # cannot happen with goals drawn from the world; kept for safety
            self.s_simple(reply, service, "NOTIFY_FAILURE", S.SYSTEM_FAILURE)
            self.commit_system(reply)
            return None
        self.s_offer(reply, service, results[0], len(results) if self.chance(0.5) else None)
        self.commit_system(reply)
        self.follow_ups(spec, results)
        return self.offered[service]

    def fill_required(self, service: str, required: Sequence[str], goal: Mapping[str, str]) -> None:
        """System requests missing required slots (1-2 at a time) until all are known."""
        state = self.states[service]
        while True:
            missing = [s for s in required if s not in state.slots]
            if not missing:
                return
            asked = missing[: self.choice((1, 1, 2))]
            reply = self.system_turn()
            self.s_request(reply, service, asked)
            self.commit_system(reply)
            turn = self.user_turn()
            for slot in asked:
                self.u_inform(turn, service, slot, goal[slot], short=len(asked) == 1)
            extra = [s for s in goal if s not in state.slots and s not in asked]
            if extra and self.chance(0.3):
                slot = self.choice(sorted(extra))
                self.u_inform(turn, service, slot, goal[slot])
            self.commit_user(turn)

    def follow_ups(self, spec: ServiceSpec, results: list[Row]) -> None:
        """After an offer: ask about it, ask for alternatives, or change a constraint."""
        service = spec.name
        index = 0
        changed = False
        for _ in range(self.choice((0, 1, 1, 2, 2, 3))):
            options = []
            askable = [s for s in spec.follow_up_slots if self.untold(service, s)]
            if askable:
                options += ["request", "request"]
            if index + 1 < len(results):
                options.append("alts")
            if not changed:
                options.append("change")
            if not options:
                return
            kind = self.choice(options)
            if kind == "request":
                asked = self.rng.sample(askable, min(len(askable), self.choice((1, 1, 2))))
                turn = self.user_turn()
                self.u_request(turn, service, asked)
                self.commit_user(turn)
                reply = self.system_turn()
                for slot in asked:
                    self.s_inform(reply, service, slot, self.offered[service][slot])
                self.commit_system(reply)
            elif kind == "alts":
                index += 1
                turn = self.user_turn()
                self.u_simple(turn, service, "REQUEST_ALTS", S.USER_ALTS)
                self.commit_user(turn)
                reply = self.system_turn()
                self.s_offer(reply, service, results[index], None)
                self.commit_system(reply)
            else:
                new_results = self.change_constraint(spec)
                changed = True
                if new_results:
                    results, index = new_results, 0

    def change_constraint(self, spec: ServiceSpec) -> list[Row] | None:
        """The user changes a search constraint; the agent searches again and re-offers."""
        service, intent = spec.name, spec.search
        state = self.states[service]
        candidates = []
        for name in intent.arguments:
            current = state.canonical(name)
            if current is None or spec.slot(name).kind == "city":
                continue
            others = {k: v for k, v in state.constraints(intent.arguments).items() if k != name}
            for value in self._alternative_values(spec, name, others):
                if value != current:
                    candidates.append((name, value))
        if not candidates:
            return None
        name, value = self.choice(sorted(candidates))
        slot = spec.slot(name)
        turn = self.user_turn()
        if slot.tell_by_value:
            clause = self.choice(slot.tell_by_value[value])
            turn.builder.add(self.choice(("Actually, ", "Hmm, actually ")) + clause[0].lower() + clause[1:])
            turn.act(service, "INFORM", name, [value])
            state.set(name, value, value)
        else:
            template = self.choice((
                "Actually, make it {v}.", "Actually, I'd prefer {v}.",
                "Sorry, can you change the {label} to {v}?", "On second thought, let's do {v}.",
            )).replace("{label}", slot.label)  # fmt: skip
            mention = self.user_mention(service, slot, value, template)
            turn.builder.add(template, {"v": mention})
            values, canon = self.action_values(slot, mention, value)
            turn.act(service, "INFORM", name, values, canon)
            state.set(name, value, values[0])
        if self.chance(0.4):
            self.u_simple(turn, service, "REQUEST_ALTS", S.USER_ALTS)
        self.commit_user(turn)
        results = self.world.search(service, state.constraints(intent.arguments))
        reply = self.system_turn()
        self.s_call(reply, service, intent.name, state.constraints(intent.arguments), results)
        self.s_offer(reply, service, results[0], len(results) if self.chance(0.5) else None)
        self.commit_system(reply)
        return results

    def _alternative_values(self, spec: ServiceSpec, name: str, others: Mapping[str, str]) -> list[str]:
        slot = spec.slot(name)
        if self.world.is_tabular(spec.name):
            rows = [r for r in self.world.tables[spec.name]
                    if all(r.get(k) == v for k, v in others.items())]  # fmt: skip
            return sorted({r[name] for r in rows if name in r})
        if slot.kind == "date":
            return [V.canonical_date(d) for d in range(1, 15)]
        if slot.is_categorical:
            return list(slot.values)
        return []

    # ------------------------------------------------------------------ transactions

    def start_transaction_after_offer(self, spec: ServiceSpec) -> None:
        service, intent = spec.name, spec.transaction
        assert intent is not None
        goal = self.transaction_goal(spec)
        state = self.states[service]
        if self.chance(0.3):  # select, then the agent offers the transaction
            turn = self.user_turn()
            self.u_select(turn, service)
            self.commit_user(turn)
            reply = self.system_turn()
            reply.builder.add(self.choice(intent.offer_intent))
            reply.act(service, "OFFER_INTENT", "intent", [intent.name])
            self.commit_system(reply)
            turn = self.user_turn()
            self.u_simple(turn, service, "AFFIRM_INTENT", S.USER_AFFIRM_INTENT)
            state.intent = intent.name
            missing = [a for a in intent.arguments if a not in state.slots and a in goal]
            if missing and self.chance(0.5):
                slot = self.choice(missing)
                self.u_inform(turn, service, slot, goal[slot])
            self.commit_user(turn)
        else:
            turn = self.user_turn()
            self.u_select(turn, service, say=self.chance(0.5))
            missing = {a: goal[a] for a in intent.arguments if a not in state.slots and a in goal}
            keep = dict(self.rng.sample(sorted(missing.items()), min(len(missing), self.choice((0, 1, 1, 2)))))
            self.u_intent(turn, service, intent, keep, templates=intent.after_select)
            self.commit_user(turn)
        self.booking(spec, goal)

    def direct_transaction(self, spec: ServiceSpec) -> None:
        """The user asks to book a named venue straight away (no search)."""
        intent = spec.transaction
        assert intent is not None
        row = self.world.sample_row(spec.name, self.rng)
        assert row is not None
        self.offered[spec.name] = row
        goal = self.transaction_goal(spec)
        goal.update({a: row[a] for a in intent.required if a in row})
        self.state(spec.name)
        turn = self.user_turn()
        identity = {a: row[a] for a in intent.required if a in row}
        self.u_intent(turn, spec.name, intent, identity)
        self.commit_user(turn)
        self.booking(spec, goal)

    def transaction_goal(self, spec: ServiceSpec) -> dict[str, str]:
        """Values of the transaction's arguments the user will give when asked."""
        intent = spec.transaction
        assert intent is not None
        goal: dict[str, str] = {}
        for name in intent.arguments:
            slot = spec.slot(name)
            if slot.kind == "time":
                goal[name] = V.canonical_time(self.rng.randint(11, 21), self.choice((0, 0, 15, 30, 45)))
            elif slot.kind == "date":
                goal[name] = V.canonical_date(self.rng.randint(1, 14))
            elif slot.kind == "number":
                goal[name] = self.choice(slot.values[:4])
        return goal

    def booking(self, spec: ServiceSpec, goal: dict[str, str]) -> None:
        service, intent = spec.name, spec.transaction
        assert intent is not None
        state = self.states[service]
        state.intent = intent.name
        self.fill_required(service, intent.required, goal)
        args = self.confirmation_args(spec)
        reply = self.system_turn()
        self.s_confirm(reply, service, intent, args, full=True)
        self.commit_system(reply)
        changeable = self._changeable(spec, CORRECTABLE_KINDS)
        if changeable and self.chance(0.28):  # the user corrects one value
            name = self.choice(changeable)
            value = self._different_value(spec.slot(name), args[name])
            turn = self.user_turn()
            self.u_correct(turn, service, spec.slot(name), value)
            self.commit_user(turn)
            args[name] = value
            reply = self.system_turn()
            self.s_confirm(reply, service, intent, {name: value}, full=False)
            self.commit_system(reply)
        asked = self.affirm(spec, args)
        success = self.chance(0.86)
        self.execute(spec, args, success, asked)
        if not success:
            if self._changeable(spec, CORRECTABLE_KINDS) and self.chance(0.6):
                self.retry_after_failure(spec, args)
            else:
                self.closed = True
                turn = self.user_turn()
                self.u_simple(turn, service, "NEGATE", ("No, thanks anyway.", "No, that's all. Thank you."))
                turn.act(service, "THANK_YOU")
                state.intent = "NONE"
                self.commit_user(turn)
                reply = self.system_turn()
                self.s_simple(reply, service, "GOODBYE", S.SYSTEM_GOODBYE)
                self.commit_system(reply)
                return
        if self.chance(0.3):
            result = self.result_row(spec, args)
            askable = [s for s in spec.follow_up_slots if s in result and self.untold(service, s)]
            if askable:
                slot = self.choice(askable)
                turn = self.user_turn()
                self.u_request(turn, service, [slot])
                self.commit_user(turn)
                reply = self.system_turn()
                self.s_inform(reply, service, slot, result[slot])
                self.commit_system(reply)

    def confirmation_args(self, spec: ServiceSpec) -> dict[str, str]:
        intent = spec.transaction
        assert intent is not None
        state = self.states[spec.name]
        args = {}
        for name in intent.arguments:
            value = state.canonical(name)
            if value is None or value == DONTCARE:
                value = intent.optional[name]
            args[name] = value
        return args

    @staticmethod
    def _changeable(spec: ServiceSpec, kinds) -> list[str]:
        """Transaction arguments a user may change without invalidating the search."""
        intent = spec.transaction
        assert intent is not None
        return [
            a
            for a in intent.arguments
            if spec.slot(a).kind in kinds
            and a != spec.entity_slot
            and a not in spec.search.required
        ]

    def _different_value(self, slot: SlotSpec, current: str) -> str:
        for _ in range(20):
            if slot.kind == "time":
                value = V.canonical_time(self.rng.randint(11, 21), self.choice((0, 15, 30, 45)))
            elif slot.kind == "date":
                value = V.canonical_date(self.rng.randint(1, 14))
            else:
                value = self.choice(slot.values[:5])
            if value != current:
                return value
        return current  # pragma: no cover

    def u_correct(self, turn: TurnDraft, service: str, slot: SlotSpec, value: str) -> None:
        """NEGATE the confirmation and INFORM the new value ("No, actually make it 7 pm")."""
        template = self.choice(S.USER_NEGATE_PREFIX) + " " + self.choice(S.USER_CORRECTION)
        mention = self.user_mention(service, slot, value, template)
        turn.builder.add(template, {"v": mention})
        turn.act(service, "NEGATE")
        values, canon = self.action_values(slot, mention, value)
        turn.act(service, "INFORM", slot.name, values, canon)
        self.states[service].set(slot.name, value, values[0])

    def affirm(self, spec: ServiceSpec, args: Mapping[str, str]) -> list[str]:
        """AFFIRM the confirmation: every confirmed value joins the state."""
        service = spec.name
        state = self.states[service]
        turn = self.user_turn()
        self.u_simple(turn, service, "AFFIRM", S.USER_AFFIRM)
        for name, value in args.items():
            if state.canonical(name) in (None, DONTCARE):
                slot = spec.slot(name)
                surface = value if slot.is_categorical else V.system_surface(slot.kind, value)
                state.set(name, value, surface)
        asked: list[str] = []
        result = self.result_row(spec, args)
        askable = [s for s in spec.follow_up_slots if s in result and self.untold(service, s)]
        if askable and self.chance(0.15):
            asked = [self.choice(askable)]
            self.u_request(turn, service, asked)
        self.commit_user(turn)
        return asked

    def result_row(self, spec: ServiceSpec, args: Mapping[str, str]) -> Row:
        base = dict(self.offered.get(spec.name, {}))
        base.update(args)
        intent = spec.transaction
        assert intent is not None
        return {k: base[k] for k in intent.result_slots if k in base}

    def execute(self, spec: ServiceSpec, args: Mapping[str, str], success: bool,
                asked: Sequence[str]) -> None:  # fmt: skip
        service, intent = spec.name, spec.transaction
        assert intent is not None
        reply = self.system_turn()
        result = self.result_row(spec, args)
        self.s_call(reply, service, intent.name, args, [result] if success else [])
        if success:
            self.s_simple(reply, service, "NOTIFY_SUCCESS", intent.success)
            for slot in asked:
                self.s_inform(reply, service, slot, result[slot])
        else:
            self.s_simple(reply, service, "NOTIFY_FAILURE", intent.failure)
            self.s_simple(reply, service, "REQ_MORE", ("Can I help with anything else?",
                                                       "Would you like to try something else?"))
        self.commit_system(reply)

    def retry_after_failure(self, spec: ServiceSpec, args: dict[str, str]) -> None:
        """After a failed booking the user tries another time or date; it then succeeds."""
        service, intent = spec.name, spec.transaction
        assert intent is not None
        changeable = self._changeable(spec, ("time", "date")) or self._changeable(
            spec, CORRECTABLE_KINDS
        )
        name = self.choice(changeable)
        value = self._different_value(spec.slot(name), args[name])
        turn = self.user_turn()
        slot = spec.slot(name)
        template = self.choice(("Can you try {v} instead?", "Then please try for {v}.", "How about {v}?"))
        mention = self.user_mention(service, slot, value, template)
        turn.builder.add(template, {"v": mention})
        values, canon = self.action_values(slot, mention, value)
        turn.act(service, "INFORM", name, values, canon)
        turn.act(service, "INFORM_INTENT", "intent", [intent.name])
        self.states[service].set(name, value, values[0])
        self.commit_user(turn)
        args[name] = value
        reply = self.system_turn()
        self.s_confirm(reply, service, intent, args, full=True)
        self.commit_system(reply)
        asked = self.affirm(spec, args)
        self.execute(spec, args, True, asked)

    # ------------------------------------------------------------------ closing

    def close(self, service: str) -> None:
        state = self.states[service]
        if "REQ_MORE" not in self.last_system_acts:
            if self.chance(0.3):
                turn = self.user_turn()
                self.u_simple(turn, service, "THANK_YOU", S.USER_BYE)
                turn.act(service, "GOODBYE")
                self.commit_user(turn)
                reply = self.system_turn()
                self.s_simple(reply, service, "GOODBYE", S.SYSTEM_GOODBYE)
                self.commit_system(reply)
                return
            turn = self.user_turn()
            self.u_simple(turn, service, "THANK_YOU", S.USER_THANKS)
            self.commit_user(turn)
            reply = self.system_turn()
            self.s_simple(reply, service, "REQ_MORE", S.SYSTEM_REQ_MORE)
            self.commit_system(reply)
        turn = self.user_turn()
        self.u_simple(turn, service, "NEGATE", S.USER_DONE)
        turn.act(service, "THANK_YOU")
        state.intent = "NONE"
        self.commit_user(turn)
        reply = self.system_turn()
        self.s_simple(reply, service, "GOODBYE", S.SYSTEM_GOODBYE)
        self.commit_system(reply)


def _sentence_case(surface: str, at_start: bool) -> str:
    """A value that opens the sentence is capitalised ("The 13th, please.")."""
    return surface[0].upper() + surface[1:] if at_start and surface else surface


S_AIRLINES = ALL_SERVICES["Flights_1"].slot("airlines").values
