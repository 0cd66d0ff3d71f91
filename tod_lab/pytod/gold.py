"""Gold programs: SGD annotations -> per-turn PyTOD statements, and their replay.

For every user turn the builder looks at what the annotations say changed (the reference
state of each frame against what the runtime holds, the user's acts, what the previous
system turn offered or asked to confirm) and writes the statements a PyTOD agent would:

1. ``confirm(x)`` when the user affirms a confirmation (or an offer) whose values all belong
   to the new state; ``select(slot=value, from_results=x)`` when the user takes an offered
   entity whose values all belong to the new state;
2. a tool call when the active intent changes (its arguments: the new values that are
   arguments of that intent), ``resume(x)`` when the user returns to an unfinished task,
   ``suspend()`` when the intent goes back to NONE;
3. attribute assignments for the values still missing -- carried-over values are written
   as plain strings;
4. the ``say(...)`` policy statement of the following system turn: the properties the user
   requested (-> ``requested_slots``), the runtime's hints for what the system asked, the
   entity it offered, the outcome it reported.

The statements are executed as they are written (so variables are bound exactly as a replay
will bind them) and the resulting state is compared with the reference with the official
JGA semantics (first value; categorical exact, non-categorical any listed value). What no
statement can express is recorded as a :class:`Mismatch` with a category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tod_lab.data.augment import boundary_pattern
from tod_lab.data.numbers import CARDINAL_WORDS
from tod_lab.data.types import DONTCARE, NONE_INTENT, Dialogue, Frame, State, Turn
from tod_lab.pytod.interpreter import DialogueSession, Entity, Outcome, TaskObject
from tod_lab.pytod.program import (
    Assignments,
    AttrRef,
    Call,
    Const,
    Expr,
    SetAttr,
    Statement,
    VarRef,
    render_statement,
)
from tod_lab.pytod.prompts import PromptContext, context_of
from tod_lab.pytod.simulator import ApiCatalog, ResultBackend, ServiceApi

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Mismatch:
    dialogue_id: str
    turn: int
    service: str
    slot: str
    category: str
    detail: str = ""


@dataclass
class GoldTurn:
    turn: int  # index of the user turn in the dialogue
    user: list[str]  # the user statements (rendered, in order)
    say: str  # the policy statement
    states: dict[str, State]  # what the runtime reads off after the turn
    user_statements: list[Statement] = field(default_factory=list)
    say_statement: Statement | None = None
    user_context: PromptContext | None = None  # the AP prompt before the user statements
    say_context: PromptContext | None = None  # ... before the say statement
    asked: dict[str, list[str]] = field(default_factory=dict)  # slots the system requested


@dataclass
class GoldDialogue:
    dialogue_id: str
    turns: list[GoldTurn] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    session: DialogueSession | None = None  # the session that built it (transcript)


# --------------------------------------------------------------------------- comparison


def value_matches(have: Sequence[str] | None, want: Sequence[str], categorical: bool) -> bool:
    """Official JGA semantics on the first predicted value (exact where it is exact).

    Categorical: the first predicted value equals the first reference value. Otherwise the
    first predicted value is one of the reference values (case-insensitive; the official
    fuzzy score is 1.0 for those).
    """
    if not have:
        return False
    if categorical:
        return have[0] == want[0]
    return have[0].lower() in {w.lower() for w in want}


def compare_state(
    service: ServiceApi, have: State, want: State, *, strict: bool = False
) -> list[tuple[str, str, str]]:
    """(slot, category, detail) for each slot where ``have`` fails ``want``'s JGA.

    ``strict`` adds differences the JGA does not see (categories prefixed ``not in JGA:``):
    the list of surface forms, the active intent, the requested slots.
    """
    problems: list[tuple[str, str, str]] = []
    if strict:
        if have.active_intent != want.active_intent:
            problems.append(("", "not in JGA: active intent", f"{have.active_intent} vs "
                             f"{want.active_intent}"))
        if sorted(have.requested_slots) != sorted(want.requested_slots):
            problems.append(("", "not in JGA: requested slots", f"{list(have.requested_slots)}"
                             f" vs {list(want.requested_slots)}"))
        for slot_name in service.slots:
            h = {v.lower() for v in have.slot_values.get(slot_name, ())}
            w = {v.lower() for v in want.slot_values.get(slot_name, ())}
            if h and w and h != w:
                kind = "fewer" if h < w else "more" if h > w else "other"
                problems.append((slot_name, f"not in JGA: {kind} surface forms than the "
                                 "reference", f"{sorted(h)} vs {sorted(w)}"))
    for slot_name, slot in service.slots.items():
        h = have.slot_values.get(slot_name)
        w = want.slot_values.get(slot_name)
        if w and not h:
            problems.append((slot_name, "missing value", f"want {list(w)}"))
        elif h and not w:
            problems.append((slot_name, "extra value", f"have {list(h)}"))
        elif h and w and not value_matches(h, w, slot.is_categorical):
            problems.append((slot_name, "wrong value", f"have {list(h)} want {list(w)}"))
    return problems


# --------------------------------------------------------------------------- builder


class GoldBuilder:
    """Writes the gold program of one dialogue turn by turn (see the module docstring)."""

    def __init__(self, catalog: ApiCatalog, dialogue: Dialogue, backend: ResultBackend,
                 *, values_in_new_call: bool = False, mention_order: bool = False):
        self.catalog = catalog
        # False (the reference): a new task's call takes the values that are arguments of
        # its intent; the others follow as attribute assignments on the new variable. True:
        # the call takes every new value of its service (same state), so a model never has
        # to guess the number the runtime gives the variable it has just created.
        self.values_in_new_call = values_in_new_call
        # False (the reference): a call's arguments in the intent's order, assignments in
        # the state's (alphabetical). True: both in the order the user said the values (the
        # slot's span, else the value's words in the utterance; values said nowhere -- a
        # boolean, a carried-over value -- keep their order after them), so a model writing
        # a program reads the utterance left to right. The state is the same either way
        self.mention_order = mention_order
        self.dialogue = dialogue
        self.session = DialogueSession(catalog, dialogue, backend)
        self.result = GoldDialogue(dialogue.dialogue_id, session=self.session)
        self._notes: dict[tuple[str, str], str] = {}  # (service, slot) -> why it failed

    def build(self) -> GoldDialogue:
        turns = self.dialogue.turns
        for index, turn in enumerate(turns):
            if not turn.is_user:
                self.session.observe_system_turn(index)
                continue
            next_system = turns[index + 1] if index + 1 < len(turns) else None
            self._user_turn(index, turn, next_system)
        return self.result

    # ----------------------------------------------------------------- one user turn

    def _user_turn(self, index: int, turn: Turn, next_system: Turn | None) -> None:
        s = self.session
        asked = {k: list(v) for k, v in s.system_requested.items() if v}
        s.start_user_turn(index)
        user_context = context_of(s)
        self._notes = {}
        user: list[Statement] = []
        frames = [f for f in turn.frames if f.state is not None and f.service in s.services]
        for frame in frames:
            user += self._frame_statements(index, turn, frame)
        s.run_policy()
        say_context = context_of(s)
        say = self._say(frames, next_system)
        s.execute([say], origin="gold")
        say_bound = s.statements_of_turn(index, ("gold",))[-1]
        states = s.states()
        for frame in frames:
            service = self.catalog.services[frame.service]
            for slot, category, detail in compare_state(service, states[frame.service], frame.state):
                reason = self._notes.get((frame.service, slot), category)
                self.result.mismatches.append(
                    Mismatch(self.dialogue.dialogue_id, index, frame.service, slot, reason, detail)
                )
        self.result.turns.append(
            GoldTurn(
                turn=index,
                user=[render_statement(st) for st in user],
                say=render_statement(say_bound),
                states=states,
                user_statements=user,
                say_statement=say_bound,
                user_context=user_context,
                say_context=say_context,
                asked=asked,
            )
        )

    def _run(self, stmt: Statement) -> list[Statement]:
        """Execute one gold statement now; return it as bound (or nothing if rejected)."""
        report = self.session.execute([stmt], origin="gold")
        for rejected in report.rejected:
            self._last_rejection = rejected.feedback
        return list(report.accepted)

    def _frame_statements(self, index: int, turn: Turn, frame: Frame) -> list[Statement]:
        s = self.session
        service = self.catalog.services[frame.service]
        target: State = frame.state  # type: ignore[assignment]
        out: list[Statement] = []
        acts = {a.act for a in frame.actions}

        # 1. the user takes what the system confirmed / offered, or asks for another one
        if "REQUEST_ALTS" in acts:
            source = self._search_object(frame.service)
            if source is not None and source.results:
                out += self._run(Call(None, "next", (VarRef(source.var),)))
        obj = s.active_task(frame.service)
        if obj is not None and "AFFIRM" in acts:
            effect = s.confirm_effect(frame.service)
            if effect and _effect_fits(effect, target, service):
                out += self._run(Call(None, "confirm", (VarRef(obj.var),)))
        offered = s.offered_values(frame.service)
        if offered and not ("AFFIRM" in acts and s.confirmed_values(frame.service)):
            out += self._select(frame.service, service, target, offered, turn)

        # 2. the active intent
        current = s.active_intent.get(frame.service, NONE_INTENT)
        needs = self._needs(service, frame.service, target, turn, frame)
        if target.active_intent != current:
            if target.active_intent == NONE_INTENT:
                active = s.active_task(frame.service)
                args: tuple[Expr, ...] = ()
                if s.focus != frame.service and active is not None:
                    args = (VarRef(active.var),)
                out += self._run(Call(None, "suspend", args))
            else:
                out += self._switch_intent(frame.service, service, target.active_intent, needs)
                needs = self._needs(service, frame.service, target, turn, frame)

        # 3. the values still missing, and those the state no longer holds
        removed = [k for k in s.memory.get(frame.service, {}) if k not in target.slot_values]
        if needs or removed:
            holder = s.active_task(frame.service) or self._latest_object(frame.service)
            if holder is None:
                out += self._hold_values(frame.service, service, needs)
            else:
                items = tuple(
                    SetAttr(holder.var, service.ident(slot), _const(service, slot, value))
                    for slot, value in needs.items()
                ) + tuple(SetAttr(holder.var, service.ident(k), Const(None)) for k in removed)
                out += self._run(Assignments(None, items))
        for slot in target.slot_values:
            if slot not in service.slots:
                self._notes[(frame.service, slot)] = "slot not in schema"
        for slot in s.memory.get(frame.service, {}):
            if slot not in target.slot_values:
                self._notes[(frame.service, slot)] = "value removed from the state"
        return out

    def _needs(
        self, service: ServiceApi, name: str, target: State, turn: Turn, frame: Frame
    ) -> dict[str, str]:
        """slot -> value to write, for every slot whose current value fails the reference."""
        have = self.session.memory.get(name, {})
        needs: dict[str, str] = {}
        for slot, values in target.slot_values.items():
            slot_api = service.slots.get(slot)
            if slot_api is None or not values:
                continue
            if value_matches(have.get(slot), values, slot_api.is_categorical):
                continue
            needs[slot] = _surface_value(values, slot_api.is_categorical, turn, frame, slot)
        if self.mention_order:
            needs = _in_mention_order(needs, turn, frame)
        return needs

    def _select(
        self,
        name: str,
        service: ServiceApi,
        target: State,
        offered: Mapping[str, list[str]],
        turn: Turn,
    ) -> list[Statement]:
        s = self.session
        have = s.memory.get(name, {})
        wanted = {
            slot: values
            for slot, values in offered.items()
            if slot in target.slot_values
            and any(v.lower() in {t.lower() for t in target.slot_values[slot]} for v in values)
            and not value_matches(have.get(slot), target.slot_values[slot], False)
        }
        if not wanted:
            return []
        # explicit choice: multi-valued offers (the user picked one), else the first offer
        chosen: dict[str, str] = {}
        for slot, values in offered.items():
            if slot in wanted and len(values) > 1:
                chosen[slot] = next(
                    v for v in values if v.lower() in {t.lower() for t in target.slot_values[slot]}
                )
        if not chosen:
            first = next(iter(wanted))
            chosen[first] = wanted[first][0]
        effect = {k: [v] for k, v in {**chosen, **s.selection_extras(name, chosen)}.items()}
        if not _effect_fits(effect, target, service):
            return []
        source = self._search_object(name)
        kwargs: list[tuple[str, Expr]] = [
            (service.ident(slot), _const(service, slot, value)) for slot, value in chosen.items()
        ]
        if source is not None:
            kwargs.append(("from_results", VarRef(source.var)))
        elif s.active_task(name) is None:
            return []
        return self._run(Call(None, "select", (), tuple(kwargs)))

    def _search_object(self, name: str) -> TaskObject | None:
        active = self.session.active_task(name)
        if active is not None and not active.api.transactional:
            return active
        for obj in reversed(self.session.objects(name)):
            if not obj.api.transactional:
                return obj
        return None

    def _latest_object(self, name: str) -> TaskObject | None:
        objects = self.session.objects(name)
        return objects[-1] if objects else None

    def _switch_intent(
        self, name: str, service: ServiceApi, intent: str, needs: dict[str, str]
    ) -> list[Statement]:
        s = self.session
        api = service.intents.get(intent)
        if api is None:
            self._notes[(name, "")] = f"unknown intent {intent}"
            return []
        for obj in reversed(s.objects(name)):
            if obj.api.intent == intent and not obj.performed:
                return self._run(Call(None, "resume", (VarRef(obj.var),)))
        slots = [slot for slot in api.arguments if slot in needs]
        if self.values_in_new_call:
            slots += [slot for slot in needs if slot not in api.arguments]
        if self.mention_order:  # needs are in that order already
            slots = [slot for slot in needs if slot in slots]
        kwargs = tuple((service.ident(slot), _const(service, slot, needs[slot])) for slot in slots)
        return self._run(Call(None, api.tool, (), kwargs))

    def _hold_values(
        self, name: str, service: ServiceApi, needs: dict[str, str]
    ) -> list[Statement]:
        """Values for a service with no task yet: call the best-fitting intent, suspend it."""
        best = max(
            service.intents.values(),
            key=lambda api: sum(slot in api.arguments for slot in needs),
            default=None,
        )
        if best is None:
            return []
        kwargs = tuple(
            (service.ident(slot), _const(service, slot, value)) for slot, value in needs.items()
        )
        out = self._run(Call(None, best.tool, (), kwargs))
        if out:
            out += self._run(Call(None, "suspend", (VarRef(out[0].target),)))  # type: ignore[union-attr]
        return out

    # ----------------------------------------------------------------- say

    def _say(self, frames: Sequence[Frame], next_system: Turn | None) -> Call:
        s = self.session
        args: list[Expr] = []
        for frame in frames:
            holder = s.active_task(frame.service) or self._latest_object(frame.service)
            for slot in frame.state.requested_slots if frame.state else ():
                service = self.catalog.services[frame.service]
                if holder is None or slot not in service.slots:
                    self._notes[(frame.service, slot)] = "requested slot without a task"
                    continue
                args.append(AttrRef(holder.var, service.ident(slot)))
        if next_system is not None:
            args += self._system_references(next_system)
        seen: set[str] = set()
        unique: list[Expr] = []
        for a in args:
            key = render_statement(Call(None, "say", (a,)))
            if key not in seen:
                seen.add(key)
                unique.append(a)
        return Call(None, "say", tuple(unique))

    def _system_references(self, turn: Turn) -> list[Expr]:
        """Hint / entity / outcome variables for what the system turn expresses."""
        s = self.session
        hints = {
            b.text: var for var, b in s.bindings.items() if _is_hint(b) and _bound_this_turn(s, var)
        }
        out: list[Expr] = []
        for frame in turn.frames:
            service = self.catalog.services.get(frame.service)
            if service is None:
                continue
            for act in frame.actions:
                text = None
                if act.act == "REQUEST" and act.slot in service.slots:
                    text = f"request value: {service.ident(act.slot)}"
                elif act.act == "CONFIRM" and act.slot in service.slots:
                    text = f"ask the user to confirm: {service.ident(act.slot)}"
                elif act.act == "REQ_MORE":
                    text = "ask the user if they require further assistance"
                if text is not None and text in hints:
                    out.append(VarRef(hints[text]))
                elif act.act == "OFFER":
                    var = self._this_turn_binding(frame.service, Entity)
                    if var:
                        out.append(VarRef(var))
                elif act.act in ("NOTIFY_SUCCESS", "NOTIFY_FAILURE"):
                    var = self._this_turn_binding(frame.service, Outcome)
                    if var:
                        out.append(VarRef(var))
        return out

    def _this_turn_binding(self, service: str, kind: type) -> str | None:
        s = self.session
        for line in reversed(s.lines):
            if line.turn != s.turn_index:
                break
            stmt = line.statement
            if isinstance(stmt, Call) and stmt.target:
                binding = s.bindings.get(stmt.target)
                if isinstance(binding, kind):
                    obj = s.bindings.get(binding.obj)  # type: ignore[attr-defined]
                    if isinstance(obj, TaskObject) and obj.service == service:
                        return stmt.target
        return None


def mention_position(turn: Turn, frame: Frame, slot: str, value: str) -> int | None:
    """Where the user turn says ``value`` for ``slot``: the annotated span, else the value
    (or, for a number, its word) between word boundaries; ``None`` when it says neither."""
    for span in frame.slots:
        if span.slot == slot and span.start is not None:
            return span.start
    forms = [value]
    if value.isdigit() and int(value) < len(CARDINAL_WORDS):
        forms.append(CARDINAL_WORDS[int(value)])
    found = boundary_pattern([f for f in forms if f]).search(turn.utterance) if value else None
    return found.start() if found else None


def _in_mention_order(needs: dict[str, str], turn: Turn, frame: Frame) -> dict[str, str]:
    positions = {slot: mention_position(turn, frame, slot, value) for slot, value in needs.items()}
    said = sorted((p, i, slot) for i, (slot, p) in enumerate(positions.items()) if p is not None)
    unsaid = [slot for slot, p in positions.items() if p is None]
    return {slot: needs[slot] for slot in [slot for _, _, slot in said] + unsaid}


def _is_hint(binding: object) -> bool:
    from tod_lab.pytod.interpreter import HintValue

    return isinstance(binding, HintValue)


def _bound_this_turn(session: DialogueSession, var: str) -> bool:
    for line in reversed(session.lines):
        if line.turn != session.turn_index:
            return False
        if isinstance(line.statement, Call) and line.statement.target == var:
            return True
    return False


def _effect_fits(effect: Mapping[str, Sequence[str]], target: State, service: ServiceApi) -> bool:
    """Every value an implicit statement would write is part of the reference state."""
    for slot, values in effect.items():
        want = target.slot_values.get(slot)
        if not want or slot not in service.slots:
            return False
        lowered = {w.lower() for w in want}
        if any(v.lower() not in lowered for v in values):
            return False
        if service.slots[slot].is_categorical and values[0] != want[0]:
            return False
    return True


def _const(service: ServiceApi, slot: str, value: str) -> Const:
    """Categorical numbers and booleans are written as Python literals (``seats=2``)."""
    if service.slots[slot].is_categorical:
        if value.isdigit() and len(value) < 6 and str(int(value)) == value:
            return Const(int(value))
        if value in ("True", "False"):
            return Const(value == "True")
    return Const(value)


def _surface_value(
    values: Sequence[str], categorical: bool, turn: Turn, frame: Frame, slot: str
) -> str:
    """The value to write: categorical -> the canonical first value; otherwise the form the
    user said in this turn when there is one (what a model can copy), else the first."""
    if categorical or len(values) == 1 or values[0] == DONTCARE:
        return values[0]
    utterance = turn.utterance.lower()
    for value in values:
        if value.lower() in utterance:
            return value
    for act in frame.actions:
        if act.slot == slot:
            for value in act.values:
                if value in values:
                    return value
    return values[0]


# --------------------------------------------------------------------------- API


def build_gold(
    dialogue: Dialogue, catalog: ApiCatalog, backend: ResultBackend, *,
    values_in_new_call: bool = False, mention_order: bool = False,
) -> GoldDialogue:
    return GoldBuilder(catalog, dialogue, backend, values_in_new_call=values_in_new_call,
                       mention_order=mention_order).build()


@dataclass
class ReplayTurn:
    turn: int
    states: dict[str, State]
    rejected: list[str]


def replay(
    dialogue: Dialogue,
    programs: Iterable[tuple[int, str, str]],
    catalog: ApiCatalog,
    backend: ResultBackend,
    *,
    services: Sequence[str] | None = None,
) -> list[ReplayTurn]:
    """Replay (turn index, user program text, say text) through a fresh runtime."""
    by_turn = {turn: (user, say) for turn, user, say in programs}
    session = DialogueSession(catalog, dialogue, backend, services=services)
    out: list[ReplayTurn] = []
    for index, turn in enumerate(dialogue.turns):
        if not turn.is_user:
            session.observe_system_turn(index)
            continue
        session.start_user_turn(index)
        user, say = by_turn.get(index, ("", ""))
        report = session.execute(user, origin="gold")
        session.run_policy()
        report.merge(session.execute(say, origin="gold"))
        out.append(
            ReplayTurn(
                index,
                session.states(),
                [f"{r.source}: {r.feedback}" for r in report.rejected] + report.feedback,
            )
        )
    return out


def mismatch_categories(mismatches: Iterable[Mismatch]) -> Counter:
    return Counter(m.category for m in mismatches)
