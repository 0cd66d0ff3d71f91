"""The online PyTOD agent: every dialogue of a split, turn by turn, in waves.

A *wave* is one user-turn position across all dialogues still running: their prompts go to
the model in one ``generator.generate`` call (the training core batches them by length), so
the work per wave is a few batched generations instead of one per dialogue. Per user turn:

    AP prompt -> AP statements -> parse / validate -> repair (fuzzy -> Schema Supervisor)
    -> execute -> Parser Supervisor (questions about slots the agent asked for and the AP
    left unfilled; its answers merged as assignments) -> runtime policy (perform, search,
    hints, signals) -> AP policy prompt -> say(...) -> state read-out

System turns come from the data (the standard DST protocol). The hints and signals of the
runtime appear in the next prompts (execution feedback); rejected statements are reported
as ``Signal:`` lines too. Ablation switches (``AgentSettings``) turn off execution feedback,
the Schema Supervisor or the Parser Supervisor. A dialogue's outputs never depend on which
other dialogues share its wave (greedy decoding; tested), so ``wave_size=1`` (one dialogue
at a time) gives the same predictions -- the ``agent_batching`` benchmark asserts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tod_lab.data.types import Dialogue, DialogueSplit, Frame, State, Turn
from tod_lab.errors import ConfigError
from tod_lab.pytod.constrained import ProgramConstraint
from tod_lab.pytod.grounding import unsaid_values
from tod_lab.pytod.interpreter import DialogueSession
from tod_lab.pytod.program import Assignments, Call, render_statement
from tod_lab.pytod.prompts import (
    PromptRandomness,
    PromptSettings,
    ap_prompt,
    context_of,
)
from tod_lab.pytod.simulator import ApiCatalog, VenueDatabase, backend_for
from tod_lab.pytod.supervisors import (
    FuzzyRepairer,
    PSRequest,
    SchemaSupervisor,
    SupervisorStats,
    ps_request,
    ps_statement,
)
from tod_lab.systems import Generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSettings:
    execution_feedback: bool = True  # hints / signals / error feedback in the prompts
    schema_supervisor: str = "fuzzy"  # "model" (score options) | "fuzzy" | "off"
    parser_supervisor: bool = True
    predict_say: bool = True  # the policy statement (requested slots come from it)
    max_new_tokens: int = 128
    ps_max_new_tokens: int = 64
    wave_size: int | None = None  # dialogues per wave; None = all; 1 = one at a time
    # AP decoding keeps to the program grammar of the dialogue's services, with string
    # values copied from the prompt or categorical (tod_lab.pytod.constrained)
    constrained_decoding: bool = False
    # execution-guided decoding: of the AP's beams (best first) take the first program the
    # runtime accepts whole -- no rejected statement or dropped argument, no assignment of
    # the value a slot already holds (a parser that reads "make it 3" as ``x8.date = " march
    # 7th "``, the date it had, has picked the wrong slot) -- tried on a copy of the session;
    # none clean: the best beam. Needs num_beams > 1 and a generator with candidates
    execution_guided: bool = False
    # ... and not one that writes a value nobody said, or one the user said once into two
    # slots (tod_lab.pytod.grounding; gold programs always pass)
    grounded_values: bool = False


DEFAULT_AGENT = AgentSettings()
DEFAULT_PROMPTS = PromptSettings()


@dataclass
class TurnLog:
    dialogue_id: str
    turn: int
    program: str
    say: str = ""
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    parser_supervisor: str = ""
    beam: int = 0  # execution-guided decoding: the rank of the beam taken (0: the best)


@dataclass
class AgentResult:
    predictions: list[Dialogue]
    log: list[TurnLog]
    stats: dict[str, int]


class DialogueRun:
    """One dialogue's agent state between waves."""

    def __init__(
        self,
        dialogue: Dialogue,
        catalog: ApiCatalog,
        db: VenueDatabase | None,
        repairer,
        services: Sequence[str],
    ):
        self.dialogue = dialogue
        self.session = DialogueSession(
            catalog, dialogue, backend_for(dialogue, db), services=services, repairer=repairer
        )
        self.user_turns = [i for i, t in enumerate(dialogue.turns) if t.is_user]
        self.position = 0  # index into user_turns
        self.states: dict[int, dict[str, State]] = {}
        self.current: TurnLog | None = None
        self.written: set[tuple[str, str]] = set()

    @property
    def done(self) -> bool:
        return self.position >= len(self.user_turns)

    @property
    def turn_index(self) -> int:
        return self.user_turns[self.position]

    def begin_turn(self) -> None:
        index = self.turn_index
        start = self.user_turns[self.position - 1] + 1 if self.position else 0
        for system_index in range(start, index):  # the data's system turns before this one
            if not self.dialogue.turns[system_index].is_user:
                self.session.observe_system_turn(system_index)
        self.session.start_user_turn(index)
        self.current = TurnLog(self.dialogue.dialogue_id, index, "")
        self.written = set()

    def end_turn(self) -> None:
        self.states[self.turn_index] = self.session.states()
        self.position += 1


class Agent:
    """Runs the PyTOD loop over dialogues with one generator (the trained AP / PS model)."""

    def __init__(
        self,
        catalog: ApiCatalog,
        generator: Generator,
        *,
        settings: AgentSettings = DEFAULT_AGENT,
        prompts: PromptSettings = DEFAULT_PROMPTS,
        db: VenueDatabase | None = None,
        supervisor_generator: Generator | None = None,
        services_of: Callable[[Dialogue], Sequence[str]] | None = None,
    ):
        self.catalog = catalog
        self.generator = generator
        self.settings = settings
        self.prompts = PromptSettings(
            **{
                **prompts.__dict__,
                "execution_feedback": settings.execution_feedback,
                "show_say": settings.predict_say,
            }
        )
        self.db = db
        if settings.execution_guided and not hasattr(generator, "generate_candidates"):
            raise ConfigError(
                "system.agent.execution_guided",
                f"{type(generator).__name__} gives one output per prompt, not its beams",
                "set system.agent.execution_guided=false",
            )
        self.stats = SupervisorStats()
        self.services_of = services_of or (lambda d: d.services)
        if settings.schema_supervisor == "off":
            self.repairer = None
        elif settings.schema_supervisor == "fuzzy":
            self.repairer = SchemaSupervisor(None, FuzzyRepairer(), use_model=False, stats=self.stats)
        elif settings.schema_supervisor == "model":
            self.repairer = SchemaSupervisor(
                supervisor_generator or generator, FuzzyRepairer(), use_model=True, stats=self.stats
            )
        else:
            raise ConfigError(
                "system.agent.schema_supervisor",
                f"{settings.schema_supervisor!r} is not one of model | fuzzy | off",
            )

    # ----------------------------------------------------------------- public

    def run(self, dialogues: Sequence[Dialogue]) -> AgentResult:
        size = self.settings.wave_size or len(dialogues) or 1
        logs: list[TurnLog] = []
        predictions: list[Dialogue] = []
        for start in range(0, len(dialogues), size):
            runs = [
                DialogueRun(d, self.catalog, self.db, self.repairer, self.services_of(d))
                for d in dialogues[start : start + size]
            ]
            while True:
                active = [r for r in runs if not r.done]
                if not active:
                    break
                logs += self.wave(active)
            predictions += [predicted_dialogue(r.dialogue, r.states) for r in runs]
        stats = dict(self.stats.__dict__)
        stats["turns"] = len(logs)
        stats["rejected_statements"] = sum(len(x.rejected) for x in logs)
        if self.settings.execution_guided:
            stats["execution_guided_reranked"] = sum(x.beam > 0 for x in logs)
        return AgentResult(predictions, logs, stats)

    # ----------------------------------------------------------------- one wave

    def wave(self, runs: list[DialogueRun]) -> list[TurnLog]:
        for run in runs:
            run.begin_turn()
        prompts = [self._ap_prompt(r) for r in runs]
        constraints = None
        if self.settings.constrained_decoding:
            constraints = [
                ProgramConstraint.for_prompt(p, self.catalog, r.session.services)
                for p, r in zip(prompts, runs, strict=True)
            ]
        if self.settings.execution_guided:
            outputs = self._guided(runs, prompts, constraints)
        else:
            outputs = self.generator.generate(
                prompts, max_new_tokens=self.settings.max_new_tokens, constraints=constraints
            )
        for run, output in zip(runs, outputs, strict=True):
            self._execute(run, output, origin="model")
        if self.settings.parser_supervisor:
            self._parser_supervisor(runs)
        for run in runs:
            run.session.run_policy()
        if self.settings.predict_say:
            outputs = self.generator.generate(
                [self._ap_prompt(r, "say") for r in runs],
                max_new_tokens=self.settings.max_new_tokens,
            )
            for run, output in zip(runs, outputs, strict=True):
                self._execute_say(run, output)
        else:
            # no policy model: an empty say() keeps the variable numbering of the training
            # transcripts (whose say lines are hidden from the prompts, not removed)
            for run in runs:
                run.session.execute([Call(None, "say", ())], origin="runtime")
        out = []
        for run in runs:
            out.append(run.current)  # type: ignore[arg-type]
            run.end_turn()
        return out

    def _guided(self, runs: list[DialogueRun], prompts: list[str], constraints) -> list[str]:
        """Execution-guided decoding (see ``AgentSettings.execution_guided``)."""
        candidates = self.generator.generate_candidates(
            prompts, max_new_tokens=self.settings.max_new_tokens, constraints=constraints
        )
        counted = dict(self.stats.__dict__)  # trial runs of the repairer are not its work
        chosen = []
        for run, beams in zip(runs, candidates, strict=True):
            rank = next((i for i, text in enumerate(beams) if self._clean(run, text)), 0)
            assert run.current is not None
            run.current.beam = rank
            chosen.append(beams[rank])
        self.stats.__dict__.update(counted)
        return chosen

    def _clean(self, run: DialogueRun, program: str) -> bool:
        report = run.session.trial(program)
        if report.rejected or report.feedback or report.unchanged:
            return False
        return not (self.settings.grounded_values and unsaid_values(run.session, report.literals))

    def _ap_prompt(self, run: DialogueRun, task: str = "user") -> str:
        return ap_prompt(
            self.catalog,
            context_of(run.session),
            self.prompts,
            PromptRandomness(),
            _identity(),
            task=task,
        )

    def _execute(self, run: DialogueRun, output: str, *, origin: str) -> None:
        report = run.session.execute(output, origin=origin)
        log_entry = run.current
        assert log_entry is not None
        log_entry.program = output
        log_entry.accepted += [render_statement(s) for s in report.accepted]
        log_entry.rejected += [f"{r.source}: {r.feedback}" for r in report.rejected]
        log_entry.rejected += report.feedback
        log_entry.repairs += report.repairs
        for stmt in report.accepted:
            run.written |= _written_slots(run.session, stmt)
        if self.settings.execution_feedback:
            for r in report.rejected:
                run.session.add_signal(f"error in `{r.source}`: {r.feedback}")
            for problem in report.feedback:
                run.session.add_signal(f"error: {problem}")

    def _execute_say(self, run: DialogueRun, output: str) -> None:
        # only the say statement is taken from the policy output
        statements, rejected = _only_say(output)
        report = run.session.execute(statements, origin="model")
        assert run.current is not None
        run.current.say = output
        run.current.rejected += [f"{r.source}: {r.feedback}" for r in rejected]
        run.current.rejected += [f"{r.source}: {r.feedback}" for r in report.rejected]

    def _parser_supervisor(self, runs: list[DialogueRun]) -> None:
        requests: list[tuple[DialogueRun, PSRequest]] = []
        for run in runs:
            request = ps_request(run.session, first_turn=run.position == 0, written=run.written)
            if request is not None:
                requests.append((run, request))
        if not requests:
            return
        self.stats.parser_supervisor_questions += sum(len(r.slots) for _, r in requests)
        answers = self.generator.generate(
            [r.prompt for _, r in requests], max_new_tokens=self.settings.ps_max_new_tokens
        )
        for (run, request), answer in zip(requests, answers, strict=True):
            assert run.current is not None
            run.current.parser_supervisor = answer
            stmt = ps_statement(request, answer)
            if stmt is None:
                continue
            report = run.session.execute([stmt], origin="parser_supervisor")
            self.stats.parser_supervisor_answers += sum(
                len(s.items) for s in report.accepted if isinstance(s, Assignments)
            )


def _identity():
    from tod_lab.pytod.program import Renumbering

    return Renumbering(0)


def _only_say(output: str) -> tuple[list, list]:
    """The first say statement of the policy output, and what could not be parsed."""
    from tod_lab.pytod.program import parse_program

    parsed = parse_program(output)
    says = [s for s in parsed.statements if isinstance(s, Call) and s.func == "say"]
    return says[:1], list(parsed.rejected)


def _written_slots(session: DialogueSession, stmt) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    if isinstance(stmt, Assignments):
        for item in stmt.items:
            obj = session.bindings.get(item.var)
            service = getattr(obj, "service", None)
            if service:
                name = session.catalog.services[service].by_ident.get(item.attr)
                if name:
                    out.add((service, name))
    elif isinstance(stmt, Call) and stmt.target:
        obj = session.bindings.get(stmt.target)
        service = getattr(obj, "service", None)
        if service:
            for key, _ in stmt.kwargs:
                name = session.catalog.services[service].by_ident.get(key)
                if name:
                    out.add((service, name))
    return out


# --------------------------------------------------------------------------- predictions


def predicted_dialogue(dialogue: Dialogue, states: dict[int, dict[str, State]]) -> Dialogue:
    """The reference dialogue with every user turn's frames replaced by predicted states.

    Each user turn gets a frame for every service of the dialogue and of the turn's
    reference frames (the evaluator needs one per reference frame; extras are ignored).
    """
    turns: list[Turn] = []
    for index, turn in enumerate(dialogue.turns):
        if not turn.is_user:
            turns.append(turn)
            continue
        predicted = states.get(index, {})
        services = list(dict.fromkeys([*dialogue.services, *(f.service for f in turn.frames)]))
        frames = tuple(
            Frame(service=s, state=predicted.get(s, State())) for s in services
        )
        turns.append(Turn(turn.speaker, turn.utterance, frames, turn.turn_id))
    return Dialogue(dialogue.dialogue_id, dialogue.services, tuple(turns))


def run_agent(
    split: DialogueSplit,
    generator: Generator,
    *,
    settings: AgentSettings = DEFAULT_AGENT,
    prompts: PromptSettings = DEFAULT_PROMPTS,
    supervisor_generator: Generator | None = None,
) -> AgentResult:
    catalog = ApiCatalog.from_schema(split.schema)
    db = VenueDatabase.from_dir(split.extras["db_dir"]) if split.extras.get("db_dir") else None
    agent = Agent(
        catalog,
        generator,
        settings=settings,
        prompts=prompts,
        db=db,
        supervisor_generator=supervisor_generator,
    )
    return agent.run(split.dialogues)
