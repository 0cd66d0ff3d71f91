"""The PyTOD runtime: executes typed statements against the simulated APIs of one dialogue.

A :class:`DialogueSession` holds what the program built so far -- one :class:`TaskObject`
per tool call, the hints and outcomes the runtime produced -- and reads the dialogue state
off them after every user turn, per service, in SGD frame format:

- ``slot_values``: per service, the last value written for each slot by any statement on an
  object of that service (SGD keeps values across the intents of a service);
- ``active_intent``: the intent of the last call / ``resume`` of the service (``NONE`` after
  ``suspend``);
- ``requested_slots``: the ``x.slot`` arguments of this turn's ``say(...)``.

The only things a statement can touch are the objects, slots and values the *schema*
defines: names are looked up in the :class:`~tod_lab.pytod.simulator.ApiCatalog` (after an
optional repair: fuzzy matching, Schema Supervisor), never with ``getattr``. Each rejected
statement or argument produces a feedback message; nothing raises out of :meth:`execute`.

Per user turn the agent drives a session through: ``start_user_turn`` -> ``execute`` (the
Action Parser's statements, Parser Supervisor merges) -> ``run_policy`` (bookkeeping the
runtime inserts itself: ``perform``, ``next``, hints and signals) -> ``execute`` (the
``say`` policy statement) -> ``state`` -> ``observe_system_turn``. System turns come from the
data (the standard DST protocol). Because in PyTOD the system side is the runtime's own
policy, the session reads the system turn's dialogue acts as the record of what it offered
and asked the user to confirm: ``select`` / ``confirm`` take those values.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tod_lab.data.augment import boundary_pattern
from tod_lab.data.types import DONTCARE, NONE_INTENT, Action, Dialogue, State, Turn
from tod_lab.pytod.program import (
    DEFAULT_LIMITS,
    Assignments,
    AttrRef,
    Call,
    Const,
    Expr,
    Limits,
    ParsedProgram,
    Rejected,
    SetAttr,
    Statement,
    VarRef,
    parse_program,
    render_statement,
    variable_index,
)
from tod_lab.pytod.simulator import (
    ApiCatalog,
    IntentApi,
    ResultBackend,
    Row,
    ServiceApi,
    SlotApi,
    TransactionOutcome,
)

log = logging.getLogger(__name__)

# Statements the runtime understands besides the schema's tools.
TOOL_STATEMENTS = frozenset(
    {"select", "confirm", "perform", "say", "next", "suspend", "resume", "hint"}
)
RUNTIME_ONLY = frozenset({"perform", "hint"})  # inserted by the runtime; accepted from models


# --------------------------------------------------------------------------- bindings


@dataclass
class TaskObject:
    """One call of an intent API (``x1 = restaurants_2_reserve_restaurant(...)``)."""

    var: str
    api: IntentApi
    values: dict[str, list[str]] = field(default_factory=dict)  # slot -> surface forms
    results: list[Row] | None = None
    cursor: int = 0
    queried_with: tuple | None = None
    confirmed: bool = False
    performed: bool = False
    outcome: TransactionOutcome | None = None

    @property
    def service(self) -> str:
        return self.api.service

    def current_row(self) -> Row | None:
        if self.results and 0 <= self.cursor < len(self.results):
            return self.results[self.cursor]
        if self.outcome is not None and self.outcome.result:
            return self.outcome.result
        return None


@dataclass(frozen=True)
class Entity:
    """A result row of a search object (from ``next`` / ``select``)."""

    obj: str
    row: Row | None


@dataclass(frozen=True)
class HintValue:
    text: str


@dataclass(frozen=True)
class Outcome:
    obj: str
    outcome: TransactionOutcome


@dataclass(frozen=True)
class Marker:
    """What ``say``, ``confirm``, ``suspend``... bind: nothing to read from."""

    kind: str


Binding = TaskObject | Entity | HintValue | Outcome | Marker


# --------------------------------------------------------------------------- transcript


@dataclass(frozen=True)
class Line:
    """One line of the conversation as PyTOD prompts show it."""

    kind: str  # "user" | "agent" | "statement" | "signal"
    text: str
    statement: Statement | None = None
    origin: str = ""  # statements: "model" | "runtime" | "gold" | "parser_supervisor"
    turn: int = -1  # index of the dialogue turn this line belongs to


class Repairer(Protocol):
    """Maps a name or value that is not in the schema to one that is (or None)."""

    def tool(self, name: str, session: DialogueSession) -> str | None: ...

    def slot(
        self, name: str, service: ServiceApi, intent: IntentApi | None, session: DialogueSession
    ) -> str | None: ...

    def value(self, value: str, slot: SlotApi, session: DialogueSession) -> str | None: ...


@dataclass(frozen=True)
class WrittenLiteral:
    """A value the program wrote as a literal (not read from another object's attribute)."""

    slot: SlotApi
    text: str  # as written ("  the 9th ", "two", "2")
    via: Literal["call", "assignment", "select"]  # "call": an argument of a new task


@dataclass
class ExecutionReport:
    accepted: list[Statement] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)  # warnings on accepted statements too
    repairs: list[str] = field(default_factory=list)
    # accepted assignments that wrote the value the slot already held: legal, but a sign the
    # parser read the wrong slot or value (execution-guided decoding ranks such programs down)
    unchanged: list[str] = field(default_factory=list)
    # the literal values accepted statements wrote (tod_lab.pytod.grounding asks who said them)
    literals: list[WrittenLiteral] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.feedback

    def merge(self, other: ExecutionReport) -> None:
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.feedback += other.feedback
        self.repairs += other.repairs
        self.unchanged += other.unchanged
        self.literals += other.literals


class StatementError(Exception):
    """Internal: a statement cannot be executed; always turned into feedback."""


@dataclass
class PolicyStep:
    lines: list[Line]
    hints: dict[str, str]  # var -> hint text


# --------------------------------------------------------------------------- session


class DialogueSession:
    """The runtime for one dialogue."""

    def __init__(
        self,
        catalog: ApiCatalog,
        dialogue: Dialogue,
        backend: ResultBackend,
        *,
        services: Sequence[str] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        repairer: Repairer | None = None,
        max_objects: int = 200,
    ):
        self.catalog = catalog
        self.dialogue = dialogue
        self.backend = backend
        self.services = [s for s in (services or dialogue.services) if s in catalog.services]
        self.limits = limits
        self.repairer = repairer
        self.max_objects = max_objects
        self.bindings: dict[str, Binding] = {}
        self.memory: dict[str, dict[str, list[str]]] = {}
        self.active_intent: dict[str, str] = {}
        self.active_object: dict[str, str] = {}
        self.requested: dict[str, list[str]] = {}
        self.system_acts: dict[str, tuple[Action, ...]] = {}
        # values the system asked to confirm in the turns before its last one, while it kept
        # confirming (a correction, then "It is on March 8th. Shall I go ahead?")
        self.earlier_confirmed: dict[str, dict[str, list[str]]] = {}
        self.system_requested: dict[str, list[str]] = {}
        self.touched: list[str] = []  # services touched by this turn's statements
        self.focus: str | None = None
        self.next_index = 1
        self.turn_index = -1
        self.lines: list[Line] = []
        self.current_source = ""  # the statement being executed (for supervisors' prompts)

    # ----------------------------------------------------------------- turn structure

    def start_user_turn(self, turn_index: int) -> None:
        turn = self.dialogue.turns[turn_index]
        self.turn_index = turn_index
        self.requested = {}
        self.touched = []
        self.lines.append(Line("user", turn.utterance, turn=turn_index))

    def observe_system_turn(self, turn_index: int) -> None:
        """Record the data's system turn: its text for prompts, its acts for the runtime."""
        turn: Turn = self.dialogue.turns[turn_index]
        self.lines.append(Line("agent", turn.utterance, turn=turn_index))
        acts = {f.service: f.actions for f in turn.frames}
        earlier: dict[str, dict[str, list[str]]] = {}
        for service, service_acts in acts.items():
            if any(a.act == "CONFIRM" for a in service_acts):
                before = self.confirmed_values(service)  # still the previous system turn's
                if before:
                    earlier[service] = {**self.earlier_confirmed.get(service, {}), **before}
        self.earlier_confirmed = earlier
        self.system_acts = acts
        self.system_requested = {
            f.service: [a.slot for a in f.actions if a.act == "REQUEST" and a.slot]
            for f in turn.frames
        }

    def add_signal(self, text: str) -> None:
        self.lines.append(Line("signal", text, turn=self.turn_index))

    # ----------------------------------------------------------------- state read-out

    def state(self, service: str) -> State:
        values = self.memory.get(service, {})
        return State(
            active_intent=self.active_intent.get(service, NONE_INTENT),
            requested_slots=tuple(self.requested.get(service, ())),
            slot_values={k: tuple(v) for k, v in values.items() if v},
        )

    def states(self, services: Iterable[str] | None = None) -> dict[str, State]:
        return {s: self.state(s) for s in (services or self.services)}

    # ----------------------------------------------------------------- variables

    def fresh_variable(self) -> str:
        name = f"x{self.next_index}"
        self.next_index += 1
        return name

    def _bind(self, name: str | None, value: Binding, rename: dict[str, str]) -> str:
        """Bind ``value`` to the model's name if it is fresh, else to the next index."""
        target = name
        if target is None or target in self.bindings or (variable_index(target) or 0) < 1:
            target = self.fresh_variable()
            if name is not None:
                rename[name] = target
        else:
            self.next_index = max(self.next_index, (variable_index(target) or 0) + 1)
        self.bindings[target] = value
        return target

    def objects(self, service: str | None = None) -> list[TaskObject]:
        return [
            b
            for b in self.bindings.values()
            if isinstance(b, TaskObject) and (service is None or b.service == service)
        ]

    def active_task(self, service: str | None = None) -> TaskObject | None:
        service = service or self.focus
        if service is None:
            return None
        var = self.active_object.get(service)
        obj = self.bindings.get(var) if var else None
        return obj if isinstance(obj, TaskObject) else None

    # ----------------------------------------------------------------- execution

    def execute(
        self, program: str | ParsedProgram | Sequence[Statement], *, origin: str = "model"
    ) -> ExecutionReport:
        """Execute a program; accepted statements are appended to the transcript."""
        report = ExecutionReport()
        if isinstance(program, str):
            program = parse_program(program, self.limits)
        if isinstance(program, ParsedProgram):
            report.rejected.extend(program.rejected)
            statements: Sequence[Statement] = program.statements
        else:
            statements = program
        rename: dict[str, str] = {}
        for stmt in statements:
            self.current_source = render_statement(stmt)
            try:
                bound = self._execute_statement(stmt, rename, report)
            except StatementError as err:
                report.rejected.append(Rejected(render_statement(stmt)[:200], str(err)))
                continue
            except Exception as err:  # noqa: BLE001 - never let model output crash the agent
                log.exception("internal error executing %r", stmt)
                report.rejected.append(
                    Rejected(render_statement(stmt)[:200], f"internal error ({type(err).__name__})")
                )
                continue
            report.accepted.append(bound)
            self.lines.append(
                Line("statement", render_statement(bound), bound, origin, self.turn_index)
            )
        return report

    def trial(self, program: str | ParsedProgram | Sequence[Statement]) -> ExecutionReport:
        """What :meth:`execute` would report for ``program``, run on a copy of this session
        (schema, dialogue, backend and repairer shared): this session is left as it is. A
        repairer that asks a model (the Schema Supervisor) is asked during the trial too."""
        shared = (self.catalog, self.dialogue, self.backend, self.repairer, self.limits)
        memo = {id(x): x for x in shared if x is not None}
        return copy.deepcopy(self, memo).execute(program, origin="trial")

    def _execute_statement(
        self, stmt: Statement, rename: dict[str, str], report: ExecutionReport
    ) -> Statement:
        if isinstance(stmt, Assignments):
            return self._assignments(stmt, rename, report)
        func = stmt.func
        if func in TOOL_STATEMENTS:  # a fixed set: the dispatch never sees model-made names
            return self._TOOL_STATEMENT_METHODS[func](self, stmt, rename, report)
        api = self.catalog.tool(func)
        if api is None and self.repairer is not None:
            repaired = self.repairer.tool(func, self)
            if repaired is not None and self.catalog.tool(repaired) is not None:
                report.repairs.append(f"tool {func} -> {repaired}")
                api = self.catalog.tool(repaired)
        if api is None:
            raise StatementError(f"'{func}' is not a tool; {self._available_tools()}")
        if api.service not in self.services:
            raise StatementError(
                f"'{func}' belongs to service {api.service}, which is not part of this "
                "conversation"
            )
        return self._tool_call(stmt, api, rename, report)

    def _available_tools(self) -> str:
        names = [t.tool for t in self.catalog.tools_of(self.services)]
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        return f"available tools: {shown}" if names else "no tools are available"

    # ----------------------------------------------------------------- schema lookups

    def _slot(
        self,
        name: str,
        service: ServiceApi,
        intent: IntentApi | None,
        report: ExecutionReport,
    ) -> SlotApi:
        slot = service.slot(name) if name in service.by_ident else None
        if slot is None and self.repairer is not None:
            repaired = self.repairer.slot(name, service, intent, self)
            if repaired is not None and repaired in service.slots:
                slot = service.slots[repaired]
                report.repairs.append(f"slot {name} -> {slot.ident}")
        if slot is None:
            where = intent.tool if intent else service.name
            known = ", ".join(s.ident for s in service.slots.values())
            raise StatementError(f"'{name}' is not a slot of {where}; slots: {known}")
        return slot

    def _value(self, raw: object, slot: SlotApi, report: ExecutionReport) -> str:
        value, problem = slot.normalize(raw)
        if value is None and self.repairer is not None and isinstance(raw, (str, int)):
            repaired = self.repairer.value(str(raw), slot, self)
            if repaired is not None:
                value, problem = slot.normalize(repaired)
                if value is not None:
                    report.repairs.append(f"value {raw!r} -> {value!r} for {slot.ident}")
        if value is None:
            raise StatementError(problem or f"invalid value for '{slot.ident}'")
        return value

    def _resolve(self, expr: Expr, rename: dict[str, str]) -> object:
        """A value expression -> a constant (attributes are read from bindings)."""
        if isinstance(expr, Const):
            return expr.value
        if isinstance(expr, VarRef):
            raise StatementError(
                f"'{rename.get(expr.name, expr.name)}' is an object, not a value; "
                "use one of its attributes (x.slot)"
            )
        var = rename.get(expr.var, expr.var)
        binding = self.bindings.get(var)
        if binding is None:
            raise StatementError(f"'{var}' is not defined")
        value = self._read_attribute(binding, expr.attr)
        if value is None:
            raise StatementError(f"'{var}.{expr.attr}' has no value")
        return value

    def _read_attribute(self, binding: Binding, attr: str) -> str | None:
        if isinstance(binding, Entity):
            obj = self.bindings.get(binding.obj)
            service = self.catalog.services[obj.service] if isinstance(obj, TaskObject) else None
            if service is None:
                return None
            slot = self._known_slot(service, attr)
            if binding.row and slot.name in binding.row:
                return binding.row[slot.name]
            return self._read_attribute(obj, attr)  # type: ignore[arg-type]
        if isinstance(binding, TaskObject):
            service = self.catalog.services[binding.service]
            slot = self._known_slot(service, attr)
            if binding.values.get(slot.name):
                return binding.values[slot.name][0]
            row = binding.current_row()
            if row and slot.name in row:
                return row[slot.name]
            memory = self.memory.get(binding.service, {})
            if memory.get(slot.name):
                return memory[slot.name][0]
            default = binding.api.optional.get(slot.name)
            return default
        if isinstance(binding, Outcome):
            obj = self.bindings.get(binding.obj)
            if binding.outcome.result is None or not isinstance(obj, TaskObject):
                return None
            slot = self._known_slot(self.catalog.services[obj.service], attr)
            return binding.outcome.result.get(slot.name)
        raise StatementError("only objects returned by tools have attributes")

    def _known_slot(self, service: ServiceApi, attr: str) -> SlotApi:
        slot = service.slot(attr) if attr in service.by_ident else None
        if slot is None:
            raise StatementError(f"'{attr}' is not a property of {service.name} objects")
        return slot

    def _object(self, expr: Expr | None, rename: dict[str, str], what: str) -> TaskObject:
        if expr is None:
            obj = self.active_task()
            if obj is None:
                raise StatementError(f"{what}: no task is active; pass the task variable")
            return obj
        if not isinstance(expr, VarRef):
            raise StatementError(f"{what} expects a task variable (x3)")
        var = rename.get(expr.name, expr.name)
        binding = self.bindings.get(var)
        if isinstance(binding, Entity):
            binding = self.bindings.get(binding.obj)
        if not isinstance(binding, TaskObject):
            raise StatementError(f"{what}: '{var}' is not a task")
        return binding

    # ----------------------------------------------------------------- writes

    def _write(self, obj: TaskObject, slot: str, value: str, *, append: bool = False) -> None:
        memory = self.memory.setdefault(obj.service, {})
        if append and memory.get(slot):
            if value not in memory[slot]:
                memory[slot].append(value)
        else:
            memory[slot] = [value]
        if append and obj.values.get(slot):
            if value not in obj.values[slot]:
                obj.values[slot].append(value)
        else:
            obj.values[slot] = [value]
        if obj.performed and not append:
            # a finished transaction that changes has to be confirmed and performed again
            obj.performed = obj.confirmed = False
            obj.outcome = None
        self._touch(obj.service)

    def _clear(self, obj: TaskObject, slot: str) -> None:
        obj.values.pop(slot, None)
        self.memory.setdefault(obj.service, {}).pop(slot, None)
        self._touch(obj.service)

    def _touch(self, service: str) -> None:
        self.focus = service
        if service not in self.touched:
            self.touched.append(service)

    def _activate(self, obj: TaskObject) -> None:
        self.active_intent[obj.service] = obj.api.intent
        self.active_object[obj.service] = obj.var
        self.memory.setdefault(obj.service, {})
        self._touch(obj.service)

    # ----------------------------------------------------------------- statements

    def _tool_call(
        self, stmt: Call, api: IntentApi, rename: dict[str, str], report: ExecutionReport
    ) -> Statement:
        if len(self.objects()) >= self.max_objects:
            raise StatementError(f"too many task objects (at most {self.max_objects})")
        service = self.catalog.services[api.service]
        if len(stmt.args) > len(api.arguments):
            raise StatementError(
                f"{api.tool} takes at most {len(api.arguments)} positional arguments"
            )
        pairs: list[tuple[str, Expr]] = [
            (service.ident(slot), expr) for slot, expr in zip(api.arguments, stmt.args, strict=False)
        ]
        pairs += list(stmt.kwargs)
        written: list[tuple[SlotApi, str, Expr]] = []
        kept: list[tuple[str, Expr]] = []
        for name, expr in pairs:
            try:
                slot = self._slot(name, service, api, report)
                value = self._value(self._resolve(expr, rename), slot, report)
            except StatementError as err:
                report.feedback.append(f"{api.tool}: {err} (argument dropped)")
                continue
            written.append((slot, value, expr))
            kept.append((slot.ident, _rewrite(expr, rename)))
        obj = TaskObject(var="", api=api)
        var = self._bind(stmt.target, obj, rename)
        obj.var = var
        for slot, value, expr in written:
            self._write(obj, slot.name, value)
            _note_literal(report, slot, expr, "call")
        self._activate(obj)
        return Call(var, api.tool, (), tuple(kept))

    def _assignments(
        self, stmt: Assignments, rename: dict[str, str], report: ExecutionReport
    ) -> Statement:
        if len(stmt.items) > self.limits.max_assignments_per_line:
            raise StatementError("too many assignments on one line")
        kept: list[SetAttr] = []
        errors: list[str] = []
        for item in stmt.items:
            var = rename.get(item.var, item.var)
            binding = self.bindings.get(var)
            if isinstance(binding, Entity):
                binding = self.bindings.get(binding.obj)
            if not isinstance(binding, TaskObject):
                errors.append(
                    f"'{var}' is not defined" if binding is None else f"'{var}' is not a task"
                )
                continue
            service = self.catalog.services[binding.service]
            try:
                slot = self._slot(item.attr, service, binding.api, report)
                if isinstance(item.value, Const) and item.value.value is None:
                    self._clear(binding, slot.name)  # x.slot = None: the user withdrew it
                    kept.append(SetAttr(binding.var, slot.ident, item.value))
                    continue
                value = self._value(self._resolve(item.value, rename), slot, report)
            except StatementError as err:
                errors.append(f"{var}.{item.attr}: {err}")
                continue
            if self._holds(binding, slot.name, value):
                report.unchanged.append(f"{binding.var}.{slot.ident} already holds {value!r}")
            self._write(binding, slot.name, value)
            kept.append(SetAttr(binding.var, slot.ident, _rewrite(item.value, rename)))
            _note_literal(report, slot, item.value, "assignment")
        if not kept:
            raise StatementError("; ".join(errors) or "nothing to assign")
        for problem in errors:
            report.feedback.append(problem + " (assignment dropped)")
        label = self._bind(stmt.label, Marker("assignments"), rename)
        return Assignments(label, tuple(kept))

    def _holds(self, obj: TaskObject, slot: str, value: str) -> bool:
        """Writing ``value`` changes neither ``obj`` nor the state: both report it first for
        ``slot`` (writing a later surface form over ``["dontcare", "regular"]`` is a change),
        in the same words or in the system's, read back in the confirmation just made ("the
        7th" -> "March 7th"; not for ``dontcare``, which a confirmation replaces)."""
        held_by_task = obj.values.get(slot)
        held_in_state = self.memory.get(obj.service, {}).get(slot)
        if not (held_by_task and held_in_state):
            return False
        confirmed = {v.lower() for v in self.confirmed_values(obj.service).get(slot, ())}
        for first in (held_by_task[0].lower(), held_in_state[0].lower()):
            same = {first} | (confirmed if first != DONTCARE else set())
            if value.lower() not in same:
                return False
        return True

    def _marker(self, stmt: Call, kind: str, rename: dict[str, str], args=(), kwargs=()) -> Call:
        var = self._bind(stmt.target, Marker(kind), rename)
        return Call(var, stmt.func, tuple(args), tuple(kwargs))

    def _tool_select(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        source = stmt.kwarg("from_results")
        if stmt.args:
            raise StatementError("select takes keyword arguments: select(slot=\"value\", ...)")
        obj = self._object(source, rename, "select")
        service = self.catalog.services[obj.service]
        chosen: dict[str, str] = {}
        kept: list[tuple[str, Expr]] = []
        for name, expr in stmt.kwargs:
            if name == "from_results":
                continue
            try:
                slot = self._slot(name, service, obj.api, report)
                value = self._value(self._resolve(expr, rename), slot, report)
            except StatementError as err:
                report.feedback.append(f"select: {err} (argument dropped)")
                continue
            chosen[slot.name] = self._offered_form(obj.service, slot, value, report)
            kept.append((slot.ident, _rewrite(expr, rename)))
            _note_literal(report, slot, expr, "select")
        chosen.update(self.selection_extras(obj.service, chosen))
        if not chosen:
            raise StatementError("select: nothing was offered; name the chosen values")
        for slot_name, value in chosen.items():
            self._write(obj, slot_name, value)
        row = self._find_row(obj, chosen)
        if row is not None and obj.results:
            obj.cursor = obj.results.index(row)
        if obj.results is not None:
            # choosing among the results narrows them; it is not a new query
            obj.queried_with = tuple(sorted(self.arguments_of(obj).items()))
        self._activate_if_none(obj)
        var = self._bind(stmt.target, Entity(obj.var, row), rename)
        if source is not None:
            kept.append(("from_results", VarRef(obj.var)))
        return Call(var, "select", (), tuple(kept))

    def _activate_if_none(self, obj: TaskObject) -> None:
        if self.active_intent.get(obj.service, NONE_INTENT) == NONE_INTENT:
            self._activate(obj)
        else:
            self._touch(obj.service)

    def _find_row(self, obj: TaskObject, chosen: dict[str, str]) -> Row | None:
        for row in obj.results or ():
            if all(row.get(k, v).lower() == v.lower() for k, v in chosen.items()):
                return row
        return None

    def _system_values(self, service: str, act_name: str) -> dict[str, list[str]]:
        """Values of the last system turn's ``act_name`` acts, for slots a task can hold
        (arguments of some intent: the state never tracks result-only slots)."""
        api = self.catalog.services.get(service)
        if api is None:
            return {}
        out: dict[str, list[str]] = {}
        for act in self.system_acts.get(service, ()):
            if act.act == act_name and act.slot in api.argument_slots:
                out.setdefault(act.slot, []).extend(act.values)
        return out

    def offered_values(self, service: str) -> dict[str, list[str]]:
        """Values the last system turn offered for ``service`` (OFFER acts)."""
        return self._system_values(service, "OFFER")

    def _offered_form(
        self, service: str, slot: SlotApi, value: str, report: ExecutionReport
    ) -> str:
        """The offered value a chosen one names in part ("wild voyage" -> "The Wild Voyage"):
        selecting takes the entity the system offered, in the system's words."""
        offered = self.offered_values(service).get(slot.name, [])
        if slot.is_categorical or value.lower() in {v.lower() for v in offered}:
            return value
        pattern = boundary_pattern([value])
        named = [v for v in offered if pattern.search(v)]
        if len(named) != 1:
            return value
        report.repairs.append(f"value {value!r} -> {named[0]!r} for {slot.ident} (offered)")
        return named[0]

    def selection_extras(self, service: str, chosen: Mapping[str, str]) -> dict[str, str]:
        """What ``select`` writes besides the values named: each single offered value of a
        slot an accepted offer fills (``ServiceApi.selectable_slots``) that the state does not
        hold yet (SGD keeps a held value: "any price range", then "it is expensive")."""
        held = self.memory.get(service, {})
        selectable = self.catalog.services[service].selectable_slots
        return {
            slot: values[0]
            for slot, values in self.offered_values(service).items()
            if len(values) == 1 and slot not in chosen and slot not in held and slot in selectable
        }

    def confirmed_values(self, service: str) -> dict[str, list[str]]:
        """Values the last system turn asked the user to confirm (CONFIRM acts)."""
        return self._system_values(service, "CONFIRM")

    def confirm_effect(self, service: str) -> dict[str, list[str]]:
        """What ``confirm(x)`` writes: the values the system just asked to confirm, and those
        of its earlier confirmations in a row that the state does not hold (a default the
        first confirmation read out, before the user corrected another value: SGD's states
        take it when the user affirms the second; 24 real SGD dev turns, none without); with
        no confirmation, the values offered (one each)."""
        confirmed = self.confirmed_values(service)
        if confirmed:
            held = self.memory.get(service, {})
            earlier = self.earlier_confirmed.get(service, {})
            pending = {k: v for k, v in earlier.items() if k not in confirmed and k not in held}
            return {**confirmed, **pending}
        return {k: v for k, v in self.offered_values(service).items() if len(v) == 1}

    def _tool_confirm(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if len(stmt.args) > 1 or stmt.kwargs:
            raise StatementError("confirm takes one task variable: confirm(x3)")
        obj = self._object(stmt.args[0] if stmt.args else None, rename, "confirm")
        held = self.memory.get(obj.service, {})
        effect = self.confirm_effect(obj.service)
        self.earlier_confirmed.pop(obj.service, None)  # taken: a later confirmation starts anew
        for slot_name, values in effect.items():
            # the system's words join the user's; a concrete value read back replaces the
            # user's "any" ("regular showing" after "I don't mind the show type")
            replace = held.get(slot_name, [None])[0] == DONTCARE
            for i, value in enumerate(values):
                self._write(obj, slot_name, value, append=not (replace and i == 0))
        obj.confirmed = True
        self._activate_if_none(obj)
        return self._marker(stmt, "confirm", rename, (VarRef(obj.var),))

    def _tool_perform(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if len(stmt.args) != 1 or stmt.kwargs:
            raise StatementError("perform takes one task variable: perform(x3)")
        obj = self._object(stmt.args[0], rename, "perform")
        if not obj.api.transactional:
            raise StatementError(f"perform: {obj.api.tool} is a search, not a transaction")
        outcome = self._perform(obj)
        var = self._bind(stmt.target, Outcome(obj.var, outcome), rename)
        self._signal_outcome(obj, outcome)
        return Call(var, "perform", (VarRef(obj.var),))

    def _perform(self, obj: TaskObject) -> TransactionOutcome:
        arguments = self.arguments_of(obj)
        outcome = self.backend.transact(obj.api, arguments, self.turn_index)
        obj.performed = True
        obj.outcome = outcome
        return outcome

    def _signal_outcome(self, obj: TaskObject, outcome: TransactionOutcome) -> None:
        if outcome.success:
            self.add_signal(f"Call to {obj.api.tool} ({obj.var}) succeeded")
        else:
            self.add_signal("There was an error while completing the task")

    def _tool_next(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if len(stmt.args) != 1 or stmt.kwargs:
            raise StatementError("next takes one search variable: next(x7)")
        obj = self._object(stmt.args[0], rename, "next")
        if obj.results is None:
            self._search(obj)
        elif obj.results:
            obj.cursor = (obj.cursor + 1) % len(obj.results)
        row = obj.current_row()
        var = self._bind(stmt.target, Entity(obj.var, row), rename)
        return Call(var, "next", (VarRef(obj.var),))

    def _tool_resume(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if len(stmt.args) != 1 or stmt.kwargs:
            raise StatementError("resume takes one task variable: resume(x3)")
        obj = self._object(stmt.args[0], rename, "resume")
        self._activate(obj)
        return self._marker(stmt, "resume", rename, (VarRef(obj.var),))

    def _tool_suspend(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if len(stmt.args) > 1 or stmt.kwargs:
            raise StatementError("suspend takes at most one task variable: suspend(x3)")
        if stmt.args:
            obj = self._object(stmt.args[0], rename, "suspend")
            service = obj.service
        else:
            service = self.focus
            if service is None:
                raise StatementError("suspend: no task is active")
        self.active_intent[service] = NONE_INTENT
        self._touch(service)
        args = (_rewrite(stmt.args[0], rename),) if stmt.args else ()
        return self._marker(stmt, "suspend", rename, args)

    def _tool_hint(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if len(stmt.args) != 1 or stmt.kwargs or not isinstance(stmt.args[0], Const):
            raise StatementError('hint takes one string: hint("...")')
        text = str(stmt.args[0].value)
        var = self._bind(stmt.target, HintValue(text), rename)
        return Call(var, "hint", (Const(text),))

    def _tool_say(self, stmt: Call, rename: dict[str, str], report: ExecutionReport):
        if stmt.kwargs:
            raise StatementError("say takes positional arguments: say(x2, x1.phone_number)")
        kept: list[Expr] = []
        for expr in stmt.args:
            if isinstance(expr, Const):
                report.feedback.append("say: constants are not allowed (argument dropped)")
                continue
            var = rename.get(expr.var if isinstance(expr, AttrRef) else expr.name)
            var = var or (expr.var if isinstance(expr, AttrRef) else expr.name)
            binding = self.bindings.get(var)
            if binding is None:
                report.feedback.append(f"say: '{var}' is not defined (argument dropped)")
                continue
            if isinstance(expr, AttrRef):
                obj = binding
                if isinstance(obj, (Entity, Outcome)):
                    obj = self.bindings.get(obj.obj)
                if not isinstance(obj, TaskObject):
                    report.feedback.append(f"say: '{var}' has no properties (argument dropped)")
                    continue
                service = self.catalog.services[obj.service]
                slot = service.slot(expr.attr) if expr.attr in service.by_ident else None
                if slot is None:
                    report.feedback.append(
                        f"say: '{expr.attr}' is not a property of {obj.api.tool} (dropped)"
                    )
                    continue
                requested = self.requested.setdefault(obj.service, [])
                if slot.name not in requested:
                    requested.append(slot.name)
                kept.append(AttrRef(var, slot.ident))
            else:
                kept.append(VarRef(var))
        var = self._bind(stmt.target, Marker("say"), rename)
        return Call(var, "say", tuple(kept))

    # ----------------------------------------------------------------- runtime policy

    def arguments_of(self, obj: TaskObject) -> dict[str, str]:
        """An object's arguments: its own values, else the service's, else the defaults."""
        memory = self.memory.get(obj.service, {})
        out: dict[str, str] = {}
        for slot in obj.api.arguments:
            if obj.values.get(slot):
                out[slot] = obj.values[slot][0]
            elif memory.get(slot):
                out[slot] = memory[slot][0]
            elif slot in obj.api.optional:
                out[slot] = obj.api.optional[slot]
        return out

    def missing_required(self, obj: TaskObject) -> list[str]:
        arguments = self.arguments_of(obj)
        return [s for s in obj.api.required if s not in arguments]

    def _search(self, obj: TaskObject) -> None:
        arguments = self.arguments_of(obj)
        obj.results = list(self.backend.search(obj.api, arguments, self.turn_index))
        obj.cursor = 0
        obj.queried_with = tuple(sorted(arguments.items()))

    def run_policy(self) -> PolicyStep:
        """Bookkeeping after the user's statements: perform, search, hints, signals."""
        lines_before = len(self.lines)
        hints: dict[str, str] = {}

        def hint(text: str) -> None:
            var = self.fresh_variable()
            stmt = Call(var, "hint", (Const(text),))
            self.bindings[var] = HintValue(text)
            hints[var] = text
            self.lines.append(
                Line("statement", render_statement(stmt), stmt, "runtime", self.turn_index)
            )

        for service in list(self.touched):
            obj = self.active_task(service)
            if obj is None or self.active_intent.get(service, NONE_INTENT) == NONE_INTENT:
                continue
            api = obj.api
            ident = self.catalog.services[service].ident
            missing = self.missing_required(obj)
            if api.transactional:
                if obj.confirmed and not obj.performed and not missing:
                    var = self.fresh_variable()
                    outcome = self._perform(obj)
                    self.bindings[var] = Outcome(obj.var, outcome)
                    stmt = Call(var, "perform", (VarRef(obj.var),))
                    self.lines.append(
                        Line("statement", render_statement(stmt), stmt, "runtime", self.turn_index)
                    )
                    self._signal_outcome(obj, outcome)
                    if outcome.success:
                        hint("ask the user if they require further assistance")
                elif missing:
                    for slot in missing:
                        hint(f"request value: {ident(slot)}")
                elif not obj.performed:
                    for slot in self.arguments_of(obj):
                        hint(f"ask the user to confirm: {ident(slot)}")
            else:
                if missing:
                    for slot in missing:
                        hint(f"request value: {ident(slot)}")
                    continue
                arguments = tuple(sorted(self.arguments_of(obj).items()))
                if obj.queried_with == arguments:
                    continue
                self._search(obj)
                if obj.results:
                    var = self.fresh_variable()
                    self.bindings[var] = Entity(obj.var, obj.current_row())
                    stmt = Call(var, "next", (VarRef(obj.var),))
                    self.lines.append(
                        Line("statement", render_statement(stmt), stmt, "runtime", self.turn_index)
                    )
                    self.add_signal(
                        f"Call to {api.tool} ({obj.var}) returned {len(obj.results)} results"
                    )
                else:
                    self.add_signal(f"No results found for {api.tool} ({obj.var})")
        return PolicyStep(self.lines[lines_before:], hints)

    # ----------------------------------------------------------------- transcript views

    def task_summary(self) -> tuple[Call, ...]:
        """Every task object as a call with its current values (for truncated prompts)."""
        out: list[Call] = []
        for obj in self.objects():
            service = self.catalog.services[obj.service]
            kwargs = tuple(
                (service.ident(slot), Const(values[0]))
                for slot, values in obj.values.items()
                if values
            )
            out.append(Call(obj.var, obj.api.tool, (), kwargs))
        return tuple(out)

    def statements_of_turn(self, turn_index: int, origins: Iterable[str] | None = None):
        wanted = set(origins) if origins is not None else None
        return [
            line.statement
            for line in self.lines
            if line.kind == "statement"
            and line.turn == turn_index
            and (wanted is None or line.origin in wanted)
        ]


DialogueSession._TOOL_STATEMENT_METHODS = {
    name: getattr(DialogueSession, f"_tool_{name}") for name in TOOL_STATEMENTS
}


def _note_literal(
    report: ExecutionReport,
    slot: SlotApi,
    expr: Expr,
    via: Literal["call", "assignment", "select"],
) -> None:
    if isinstance(expr, Const) and isinstance(expr.value, (str, int)) and not isinstance(
        expr.value, bool
    ):
        report.literals.append(WrittenLiteral(slot, str(expr.value), via))


def _rewrite(expr: Expr, rename: dict[str, str]) -> Expr:
    """The expression as the transcript keeps it: renamed variables, stripped strings."""
    if isinstance(expr, Const) and isinstance(expr.value, str):
        return Const(expr.value.strip())
    if isinstance(expr, VarRef):
        return VarRef(rename.get(expr.name, expr.name))
    if isinstance(expr, AttrRef):
        return AttrRef(rename.get(expr.var, expr.var), expr.attr)
    return expr
