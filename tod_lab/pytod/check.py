"""``python -m tod_lab.pytod.check``: run PyTOD programs against a dialogue, one per line.

    python -m tod_lab.pytod.check --schema dev/schema.json \\
        --dialogue dev/dialogues_001.json.gz --dialogue_id 1_00000 < programs.txt

Each stdin line is one program (statements separated by ``<new>`` or ``; ``). It runs
against a *fresh* session of the dialogue, at its first user turn (``--turn N``: at the N-th
turn of the dialogue, 0-based, after observing the system turns before it), and one JSON
line is printed per program::

    {"accepted": true, "feedback": "", "statements": ["x1 = ..."], "state": {service: {...}}}

``accepted`` is false when any statement or argument was rejected; ``feedback`` is what the
agent would show the model. ``state`` is the runtime's read-out in SGD frame format.
Nothing in a program is ever evaluated as Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tod_lab.data.io import read_json
from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import Dialogue
from tod_lab.errors import DataError, TodLabError
from tod_lab.pytod.interpreter import DialogueSession
from tod_lab.pytod.program import render_statement
from tod_lab.pytod.simulator import ApiCatalog, backend_for
from tod_lab.pytod.supervisors import FuzzyRepairer


def load_dialogue(path: str | Path, dialogue_id: str) -> Dialogue:
    raw = read_json(path)
    entries = raw.values() if isinstance(raw, dict) else raw
    if not isinstance(entries, Iterable):
        raise DataError("expected a list of dialogues", file=path)
    for obj in entries:
        if isinstance(obj, dict) and obj.get("dialogue_id") == dialogue_id:
            try:
                return Dialogue.from_json(obj)
            except (KeyError, TypeError, AttributeError) as exc:
                raise DataError(f"malformed dialogue ({exc})", file=path,
                                dialogue_id=dialogue_id) from exc
    raise DataError("no dialogue with this id in the file", file=path, dialogue_id=dialogue_id)


def check_programs(
    catalog: ApiCatalog,
    dialogue: Dialogue,
    programs: Iterable[str],
    *,
    turn: int | None = None,
    repair: bool = False,
) -> Iterator[dict]:
    if turn is None:
        turn = next((i for i, t in enumerate(dialogue.turns) if t.is_user), 0)
    if not (0 <= turn < len(dialogue.turns)) or not dialogue.turns[turn].is_user:
        raise DataError(f"turn {turn} is not a user turn", dialogue_id=dialogue.dialogue_id)
    for program in programs:
        session = DialogueSession(
            catalog,
            dialogue,
            backend_for(dialogue, None),
            repairer=FuzzyRepairer() if repair else None,
        )
        for index in range(turn):
            if not dialogue.turns[index].is_user:
                session.observe_system_turn(index)
        session.start_user_turn(turn)
        report = session.execute(program, origin="model")
        feedback = [f"{r.source}: {r.feedback}" for r in report.rejected] + report.feedback
        yield {
            "accepted": not feedback,
            "feedback": "; ".join(feedback),
            "repairs": report.repairs,
            "statements": [render_statement(s) for s in report.accepted],
            "state": {s: st.to_json() for s, st in session.states().items()},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tod_lab.pytod.check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--schema", required=True, help="schema.json of the dialogue's split")
    parser.add_argument("--dialogue", required=True, help="dialogues file (.json or .json.gz)")
    parser.add_argument("--dialogue_id", required=True)
    parser.add_argument("--turn", type=int, default=None, help="user turn index (0-based)")
    parser.add_argument("--repair", action="store_true", help="apply fuzzy name repair")
    args = parser.parse_args(argv)
    try:
        catalog = ApiCatalog.from_schema(read_schema(args.schema))
        dialogue = load_dialogue(args.dialogue, args.dialogue_id)
        programs = (line.rstrip("\n") for line in sys.stdin if line.strip())
        for result in check_programs(
            catalog, dialogue, programs, turn=args.turn, repair=args.repair
        ):
            print(json.dumps(result, ensure_ascii=False), flush=True)
    except TodLabError as err:
        print(f"tod_lab error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
