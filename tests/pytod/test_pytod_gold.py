"""Gold programs replayed through the runtime reproduce the reference states (official
JGA via tod_lab.eval) on real SGD, SGD-X variants and MultiWOZ 2.2 fixtures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lab_testing import compose_config
from pytod_helpers import first_file_split
from pytod_schema_fixture import dialogue, schema

from tod_lab.data.io import read_json
from tod_lab.data.types import DialogueSplit, Schema
from tod_lab.pipeline import build_source
from tod_lab.pytod.gold import build_gold, replay
from tod_lab.pytod.simulator import ApiCatalog, backend_for
from tod_lab.pytod.system import PyTODSystem, empty_state, previous_state

REPO = Path(__file__).resolve().parents[2]


def test_gold_program_of_the_fixture_dialogue_reads_like_pytod():
    d = dialogue()
    catalog = ApiCatalog.from_schema(schema())
    gold = build_gold(d, catalog, backend_for(d, None))
    assert not gold.mismatches
    assert gold.turns[0].user == [
        'x1 = restaurants_9_find_restaurants(city="San Jose", cuisine="Thai")'
    ]
    assert gold.turns[1].user[0] == 'x4 = select(restaurant_name="Bangkok Bay", from_results=x1)'
    assert gold.turns[1].user[1].startswith('x5 = restaurants_9_reserve_restaurant(time="7 pm"')
    assert gold.turns[1].say == "x11 = say(x6, x8, x9)"  # the confirmations the system asked
    assert gold.turns[2].user == ["x12 = confirm(x5)"]
    assert gold.turns[2].say == "x15 = say(x5.phone_number, x13)"  # requested + outcome
    assert gold.turns[3].user == ["x16 = suspend()"]
    # the replay from text gives the same states as the builder's session
    programs = [(t.turn, "\n".join(t.user), t.say) for t in gold.turns]
    replayed = replay(d, programs, catalog, backend_for(d, None))
    assert [r.states for r in replayed] == [t.states for t in gold.turns]
    assert all(not r.rejected for r in replayed)


def _gold_metrics(split: DialogueSplit, tmp_path: Path, **kwargs):
    system = PyTODSystem(mode="gold_replay", **kwargs)
    return system.run(split, None, tmp_path)


@pytest.mark.real_data
@pytest.mark.parametrize("split", ["dev", "test"])
def test_gold_replay_on_a_real_sgd_file_scores_jga_1(sgd_root, split, tmp_path):
    data = first_file_split(sgd_root, split)
    result = _gold_metrics(data, tmp_path)
    assert result.metrics["joint_goal_accuracy"] == 1.0
    assert result.metrics["active_intent_accuracy"] == 1.0
    assert result.metrics["requested_slots_f1"] == 1.0
    assert result.details["replay_rejected_statements"] == 0
    assert result.protocols["joint_goal_accuracy"] == "sgd_official"
    # the trivial baselines are far below
    assert result.metrics["baseline_empty_joint_goal_accuracy"] < 0.2
    assert 0.3 < result.metrics["baseline_noop_joint_goal_accuracy"] < 0.7
    assert (tmp_path / "predictions" / "dialogues_001.json").is_file()
    programs = (tmp_path / "gold_programs.jsonl").read_text().splitlines()
    assert len(programs) == sum(len(d.user_turns) for d in data.dialogues)
    residuals = read_json(tmp_path / "gold_residuals.json")
    assert all(c.startswith("not in JGA") for c in residuals["categories"])


def _small_toy(tmp_path):
    """The toy corpus with 120 training / 40 dev dialogues, its train split and catalog."""
    cfg = compose_config(["data=toy", "data.train_dialogues=120", "data.dev_dialogues=40",
                          f"paths.cache_dir={tmp_path / 'cache'}"])
    source = build_source(cfg)
    train = source.read("train")
    return source, train, ApiCatalog.from_schema(train.schema)


def test_values_in_new_call_moves_assignments_into_the_call_and_keeps_jga_1(tmp_path):
    """The tiny models' gold style: no `xN.slot = ...` right after the call that made xN.

    On the toy corpus a user often gives a value of the next intent while switching (a
    hotel search with a check-in date, which only the reservation takes)."""
    source, train, catalog = _small_toy(tmp_path)
    moved = 0
    for d in train.dialogues:
        reference = build_gold(d, catalog, backend_for(d, None))
        folded = build_gold(d, catalog, backend_for(d, None), values_in_new_call=True)
        assert [t.states for t in folded.turns] == [t.states for t in reference.turns]
        for ref_turn, new_turn in zip(reference.turns, folded.turns, strict=True):
            made = {s.split(" = ")[0] for s in new_turn.user if "_" in s.split("(")[0]}
            assigned = {s.split(".")[0] for s in new_turn.user if "." in s.split("=")[0]}
            assert not made & assigned, new_turn.user
            moved += len(new_turn.user) < len(ref_turn.user)
    assert moved > 0  # the option does change programs here
    result = _gold_metrics(source.read("dev"), tmp_path / "run",
                           examples={"values_in_new_call": True})
    assert result.metrics["joint_goal_accuracy"] == 1.0


def test_mention_order_writes_values_in_the_order_said_and_keeps_the_states(tmp_path):
    source, train, catalog = _small_toy(tmp_path)
    reordered = 0
    for d in train.dialogues:
        canonical = build_gold(d, catalog, backend_for(d, None), values_in_new_call=True)
        said = build_gold(d, catalog, backend_for(d, None), values_in_new_call=True,
                          mention_order=True)
        assert [t.states for t in said.turns] == [t.states for t in canonical.turns]
        for turn_c, turn_s in zip(canonical.turns, said.turns, strict=True):
            reordered += turn_s.user != turn_c.user
            utterance = d.turns[turn_s.turn].utterance.lower()
            for stmt in turn_s.user:  # the values a statement copies appear in that order
                quoted = [v.lower() for v in re.findall(r'"([^"]*)"', stmt)]
                places = [utterance.find(v) for v in quoted if v in utterance]
                assert places == sorted(places), (utterance, stmt)
    assert reordered > 0
    result = _gold_metrics(source.read("dev"), tmp_path / "run",
                           examples={"values_in_new_call": True, "mention_order": True})
    assert result.metrics["joint_goal_accuracy"] == 1.0


def test_mention_position_reads_spans_then_words_then_number_words():
    from tod_lab.data.types import Frame, SlotSpan, Turn
    from tod_lab.pytod.gold import mention_position

    turn = Turn("USER", "Two tickets for Hidden Storm at 2:15 pm, for 2 adults")
    frame = Frame("Movies_1", slots=(SlotSpan("movie_name", 16, 28),))
    assert mention_position(turn, frame, "movie_name", "whatever") == 16  # the span decides
    assert mention_position(turn, frame, "number_of_tickets", "2") == 0  # "two"
    assert mention_position(turn, frame, "show_time", "2:15 pm") == 32
    assert mention_position(turn, frame, "genre", "horror") is None
    assert mention_position(turn, frame, "price", "for") == 12  # a whole word, not "before"


@pytest.mark.real_data
def test_gold_replay_on_an_sgdx_variant(shared_data, tmp_path):
    data = first_file_split(shared_data / "sgd", "dev", "v3", shared_data / "sgd_x")
    assert data.dialogues[0].services != first_file_split(shared_data / "sgd", "dev").dialogues[0].services
    result = _gold_metrics(data, tmp_path, sgdx_root=str(shared_data / "sgd_x"))
    assert result.metrics["joint_goal_accuracy"] == 1.0
    programs = (tmp_path / "gold_programs.jsonl").read_text()
    assert "restaurants_2_reserve_restaurant" not in programs  # variant names only


def test_baselines_on_the_fixture():
    d = dialogue()
    empty = empty_state(d)
    assert all(f.state.slot_values == {} for t in empty.user_turns for f in t.frames)
    noop = previous_state(d)
    firsts = [t.frames[0].state for t in noop.user_turns]
    assert firsts[0].slot_values == {}
    assert firsts[1] == d.user_turns[0].frames[0].state


def _multiwoz_with_db(multiwoz_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "mwz"
    subprocess.run(["cp", "-r", str(multiwoz_root), str(root)], check=True)
    (root / "db").mkdir()
    (root / "db" / "restaurant_db.json").write_text(json.dumps([
        {"name": "golden house", "food": "chinese", "pricerange": "cheap", "area": "centre",
         "phone": "01223"},
        {"name": "dojo noodle bar", "food": "asian oriental", "pricerange": "cheap",
         "area": "centre", "phone": "01224"},
    ]))
    (root / "db" / "hotel_db.json").write_text(json.dumps([
        {"name": "acorn guest house", "stars": "4", "area": "north", "parking": "yes",
         "address": "154 chesterton road"},
    ]))
    return root


def test_gold_replay_pipeline_on_multiwoz_fixture(multiwoz_root, tmp_path):
    root = _multiwoz_with_db(multiwoz_root, tmp_path)
    run_dir = tmp_path / "run"
    env = {**os.environ, "TOD_LAB_ROOT": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "tod_lab", "+experiment=pytod_gold_replay", "data=multiwoz22",
         f"data.root={root}", "data.split=dev", f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = read_json(run_dir / "metrics.json")
    assert record["metrics"]["joint_goal_accuracy"] == 1.0
    assert record["protocols"]["joint_goal_accuracy"] == "sgd_official+across_turn"
    programs = [json.loads(x) for x in (run_dir / "gold_programs.jsonl").read_text().splitlines()]
    first = programs[0]["user"][0]
    assert first.startswith("x1 = restaurant_find_restaurant(")
    assert 'pricerange="cheap"' in first and 'food="chinese"' in first
    # the search went to the venue DB: the runtime offered golden house
    lines = (run_dir / "gold_programs.jsonl").read_text()
    assert "taxi_book_taxi(" in lines


def test_multiwoz_search_queries_the_venue_db(multiwoz_root, tmp_path):
    from tod_lab.data.multiwoz import read_split
    from tod_lab.pytod.simulator import VenueDatabase

    root = _multiwoz_with_db(multiwoz_root, tmp_path)
    data = read_split(root, "dev")
    catalog = ApiCatalog.from_schema(data.schema)
    db = VenueDatabase.from_dir(data.extras["db_dir"])
    d = data.dialogues[0]
    gold = build_gold(d, catalog, backend_for(d, db))
    session = gold.session
    texts = [line.text for line in session.lines if line.kind == "signal"]
    assert "Call to restaurant_find_restaurant (x1) returned 1 results" in texts
    assert not gold.mismatches


def test_unexpressible_states_are_reported_by_category():
    import dataclasses

    from tod_lab.data.types import State

    d = dialogue()
    turns = list(d.turns)
    frame = turns[0].frames[0]
    bad = State("FindRestaurants", (), {"cuisine": ("Thai",), "party_size": ("12",)})
    turns[0] = dataclasses.replace(turns[0], frames=(dataclasses.replace(frame, state=bad),))
    d = dataclasses.replace(d, turns=tuple(turns))
    gold = build_gold(d, ApiCatalog.from_schema(schema()), backend_for(d, None))
    categories = {(m.turn, m.slot, m.category) for m in gold.mismatches}
    assert (0, "party_size", "missing value") in categories  # "12" is not a valid value


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("split", ["dev", "test"])
def test_gold_replay_experiment_on_full_real_sgd(sgd_root, split, tmp_path):
    env = {**os.environ, "TOD_LAB_ROOT": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "tod_lab", "+experiment=pytod_gold_replay", "data=sgd",
         f"data.root={sgd_root}", f"data.split={split}", f"hydra.run.dir={tmp_path}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = read_json(tmp_path / "metrics.json")
    assert record["metrics"]["joint_goal_accuracy"] >= 0.995
    assert record["details"]["dialogues"] == {"dev": 2098, "test": 2921}[split]


def test_schema_fixture_is_valid():
    assert isinstance(schema(), Schema)
