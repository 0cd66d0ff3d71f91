"""The embedded SGD-layout toy corpus (``data=toy``): determinism, caching, validity with the
real readers, the variety it claims, exact spans, SGD state conventions, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hydra.utils import instantiate
from lab_testing import REPO, compose_config

from tod_lab.data import sgd
from tod_lab.data.toy import CorpusParams, ToySource, ensure_corpus
from tod_lab.data.toy.cache import MANIFEST, corpus_dir
from tod_lab.data.toy.sgd_corpus import build_sgd_corpus
from tod_lab.data.toy.world import ToyWorld
from tod_lab.data.types import DONTCARE, Dialogue, DialogueSplit, Schema
from tod_lab.errors import ConfigError

SPLITS = ("train", "dev", "test")
SEEN = {"Restaurants_1", "Hotels_1", "Trains_1", "Movies_1", "Weather_1"}
UNSEEN = {"Restaurants_2", "Flights_1"}
SPANNED_ACTS = {"USER": {"INFORM"}, "SYSTEM": {"OFFER", "CONFIRM", "INFORM"}}


def small_params(seed: int = 0) -> CorpusParams:
    return CorpusParams("sgd", seed, 40, 16, 16)


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def toy_source(tmp_path_factory) -> ToySource:
    """The default corpus (1000 / 200 / 200 dialogues), generated once per session."""
    return ToySource(name="toy", root=str(tmp_path_factory.mktemp("toy_default")))


@pytest.fixture(scope="session")
def toy_splits(toy_source) -> dict[str, DialogueSplit]:
    return {split: toy_source.read(split) for split in SPLITS}


def frames(data: DialogueSplit, speaker: str | None = None):
    for dialogue in data:
        for index, turn in enumerate(dialogue.turns):
            if speaker is None or turn.speaker == speaker:
                for frame in turn.frames:
                    yield dialogue, index, turn, frame


# ----------------------------------------------------------------------------- generation


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    first = ensure_corpus(tmp_path / "a", small_params(0), build_sgd_corpus)
    again = ensure_corpus(tmp_path / "b", small_params(0), build_sgd_corpus)
    other = ensure_corpus(tmp_path / "c", small_params(1), build_sgd_corpus)
    assert first.name == again.name != other.name
    files = file_bytes(first)
    assert {"train/schema.json", "dev/dialogues_001.json", MANIFEST} <= set(files)
    assert files == file_bytes(again)
    other_files = file_bytes(other)
    assert files["train/dialogues_001.json"] != other_files["train/dialogues_001.json"]
    # the world itself depends on the seed: venue tables differ
    assert ToyWorld(0).tables["Restaurants_1"] != ToyWorld(1).tables["Restaurants_1"]


def test_output_does_not_depend_on_the_process_hash_seed(tmp_path):
    """Byte-identical across processes too (no set / dict-order dependence)."""
    code = (
        "import sys; from tod_lab.data.toy import CorpusParams, ensure_corpus;"
        "from tod_lab.data.toy.sgd_corpus import build_sgd_corpus;"
        "print(ensure_corpus(sys.argv[1], CorpusParams('sgd', 0, 40, 16, 16), build_sgd_corpus))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "other")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    here = ensure_corpus(tmp_path / "here", small_params(0), build_sgd_corpus)
    assert file_bytes(Path(proc.stdout.strip())) == file_bytes(here)


def test_cache_key_changes_with_every_parameter(tmp_path):
    base = small_params(0)
    keys = {
        corpus_dir(tmp_path, p).name
        for p in (
            base,
            CorpusParams("sgd", 1, 40, 16, 16),
            CorpusParams("sgd", 0, 41, 16, 16),
            CorpusParams("sgd", 0, 40, 17, 16),
            CorpusParams("sgd", 0, 40, 16, 17),
            CorpusParams("multiwoz", 0, 40, 16, 16),
        )
    }
    assert len(keys) == 6


def test_existing_corpus_is_reused_not_regenerated(tmp_path):
    calls = []

    def counting_builder(directory, params):
        calls.append(directory)
        build_sgd_corpus(directory, params)

    path = ensure_corpus(tmp_path, small_params(), counting_builder)
    assert ensure_corpus(tmp_path, small_params(), counting_builder) == path
    assert len(calls) == 1


def test_a_crash_during_generation_leaves_no_partial_corpus(tmp_path):
    def crashing_builder(directory, params):
        build_sgd_corpus(directory, params)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ensure_corpus(tmp_path, small_params(), crashing_builder)
    assert list(tmp_path.iterdir()) == []  # neither the corpus nor its temp dir
    # a directory left without manifest (an interrupted copy) is replaced, not trusted
    stale = corpus_dir(tmp_path, small_params())
    (stale / "train").mkdir(parents=True)
    path = ensure_corpus(tmp_path, small_params(), build_sgd_corpus)
    assert (path / MANIFEST).is_file()
    assert len(sgd.read_split(path, "train")) == 40


def test_default_corpus_generates_within_the_time_budget(tmp_path):
    params = CorpusParams("sgd", 0, 1000, 200, 200)
    started = time.perf_counter()
    ensure_corpus(tmp_path, params, build_sgd_corpus)
    seconds = time.perf_counter() - started
    # target < 5 s on one core; the margin absorbs other jobs on a shared CI machine
    assert seconds < 10, f"generation took {seconds:.1f}s"


@pytest.mark.parametrize(
    "override, key",
    [({"train_dialogues": 0}, "data.train_dialogues"), ({"corpus_seed": "x"}, "data.corpus_seed")],
)
def test_bad_sizes_are_config_errors_naming_the_key(tmp_path, override, key):
    source = ToySource(name="toy", root=str(tmp_path), **override)
    with pytest.raises(ConfigError, match=key):
        source.read("train")


# ----------------------------------------------------------------------------- loading


def test_loads_through_hydra_config(tmp_path):
    cfg = compose_config(["data=toy", "data.train_dialogues=30", "data.dev_dialogues=12",
                          "data.test_dialogues=12", "data.split=test"], run_dir=tmp_path)
    source = instantiate(cfg.data, _convert_="all")
    assert isinstance(source, ToySource)
    assert Path(source.root).parent == Path(os.environ["TOD_LAB_CACHE"])
    data = source.read()
    assert (data.corpus, data.split, len(data)) == ("toy", "test", 12)
    assert set(source.train_schema().service_names) == SEEN
    assert len(source.read("train")) == 30


def test_default_splits_validate_with_the_sgd_reader(toy_splits, toy_source):
    assert {s: len(d) for s, d in toy_splits.items()} == {"train": 1000, "dev": 200, "test": 200}
    train_schema = toy_source.train_schema()
    assert set(train_schema.service_names) == SEEN
    for split in ("dev", "test"):
        services = set(toy_splits[split].schema.service_names)
        assert services == SEEN | UNSEEN, split  # seen and unseen services, like SGD
    for data in toy_splits.values():
        assert not data.skipped
        assert all(d.dialogue_id.split("_")[0].isdigit() for d in data)


def test_schema_has_search_and_transactional_intents_and_both_slot_kinds(toy_splits):
    schema: Schema = toy_splits["dev"].schema
    for service in schema:
        assert service.description
        kinds = {intent.is_transactional for intent in service.intents}
        if service.name != "Weather_1":  # a lookup-only service, as SGD's Weather_1
            assert kinds == {True, False}, service.name
            assert any(s.is_categorical and s.possible_values for s in service.slots), service.name
        assert any(not s.is_categorical for s in service.slots), service.name
        for intent in service.intents:
            assert intent.description and intent.result_slots
            assert set(intent.argument_slots) <= set(service.slot_names)
        for slot in service.slots:
            assert slot.description


# ----------------------------------------------------------------------------- variety


def _count_features(data: DialogueSplit) -> Counter:
    counts: Counter = Counter()
    for dialogue in data:
        counts["dialogues"] += 1
        counts["multi_service"] += len(dialogue.services) > 1
        previous: dict[str, dict] = {}
        for turn in dialogue.turns:
            if turn.speaker == "USER" and len(turn.frames) > 1:
                counts["multi_frame_user_turns"] += 1
            for frame in turn.frames:
                for action in frame.actions:
                    counts[f"{turn.speaker}:{action.act}"] += 1
                    counts["dontcare"] += DONTCARE in action.values
                if frame.service_call is not None:
                    counts["service_calls"] += 1
                if frame.state is None:
                    continue
                old = previous.get(frame.service)
                informed = {a.slot for a in frame.actions if a.act == "INFORM"}
                for slot, values in frame.state.slot_values.items():
                    if old is None and slot not in informed:
                        counts["carried_over"] += 1  # in state at the service's first frame
                    if old and slot in old and set(values).isdisjoint(old[slot]) and (
                        DONTCARE not in old[slot]
                    ):
                        counts["corrections"] += 1  # the value changed
                previous[frame.service] = dict(frame.state.slot_values)
    return counts


def test_corpus_has_the_claimed_variety(toy_splits):
    counts = _count_features(toy_splits["train"])
    assert counts["dialogues"] == 1000
    assert 0.3 <= counts["multi_service"] / counts["dialogues"] <= 0.6
    assert counts["multi_frame_user_turns"] >= 30
    assert counts["corrections"] >= 150
    assert counts["dontcare"] >= 100
    assert counts["carried_over"] >= 150
    assert counts["service_calls"] >= 1500
    user_acts = {"INFORM", "INFORM_INTENT", "REQUEST", "AFFIRM", "NEGATE", "SELECT",
                 "THANK_YOU", "REQUEST_ALTS", "AFFIRM_INTENT", "NEGATE_INTENT", "GOODBYE"}
    system_acts = {"REQUEST", "OFFER", "CONFIRM", "INFORM", "INFORM_COUNT", "NOTIFY_SUCCESS",
                   "NOTIFY_FAILURE", "REQ_MORE", "GOODBYE", "OFFER_INTENT"}
    for act in user_acts:
        assert counts[f"USER:{act}"] >= 20, act
    for act in system_acts:
        assert counts[f"SYSTEM:{act}"] >= 20, act


def test_dev_and_test_mix_seen_and_unseen_services(toy_splits):
    for split in ("dev", "test"):
        data = toy_splits[split]
        with_unseen = sum(bool(UNSEEN & set(d.services)) for d in data)
        seen_only = sum(set(d.services) <= SEEN for d in data)
        assert with_unseen >= 0.3 * len(data) and seen_only >= 0.3 * len(data), split
    assert all(set(d.services) <= SEEN for d in toy_splits["train"])


def test_language_is_paraphrased_but_finite(toy_splits):
    by_act: dict[str, set[str]] = {}
    for _d, _i, turn, frame in frames(toy_splits["train"]):
        acts = [a.act for a in frame.actions]
        if acts in (["REQ_MORE"], ["GOODBYE"], ["REQUEST_ALTS"], ["AFFIRM"]):
            by_act.setdefault(f"{turn.speaker}:{acts[0]}", set()).add(turn.utterance)
    for key, utterances in by_act.items():
        assert 3 <= len(utterances) <= 12, (key, utterances)


# ----------------------------------------------------------------------------- annotation


def test_spans_are_exact_and_cover_every_non_categorical_value(toy_splits, toy_source):
    schema_of = {s.name: s for s in toy_splits["test"].schema}
    checked = 0
    for split in SPLITS:
        for dialogue, index, turn, frame in frames(toy_splits[split]):
            service = schema_of[frame.service]
            spanned = Counter()
            for span in frame.slots:
                text = turn.utterance[span.start : span.exclusive_end]
                assert not service.slot(span.slot).is_categorical
                spanned[(span.slot, text)] += 1
                checked += 1
            mentioned = Counter()
            for action in frame.actions:
                slot = service.slot(action.slot) if service.has_slot(action.slot) else None
                if slot is None or action.act not in SPANNED_ACTS[turn.speaker]:
                    continue
                if slot.is_categorical:
                    allowed = {*slot.possible_values, DONTCARE}
                    assert set(action.values) <= allowed, (dialogue.dialogue_id, index)
                    assert action.canonical_values == action.values
                    continue
                for value in action.values:
                    if value != DONTCARE:
                        mentioned[(action.slot, value)] += 1
            assert spanned == mentioned, (dialogue.dialogue_id, index, turn.utterance)
    assert checked > 10000


def test_states_follow_sgd_conventions(toy_splits):
    schema_of = {s.name: s for s in toy_splits["test"].schema}
    for dialogue in toy_splits["dev"]:
        last: dict[str, dict] = {}
        for turn in dialogue.turns:
            for frame in turn.frames:
                assert frame.service in dialogue.services
                if turn.speaker == "SYSTEM":
                    assert frame.state is None
                    continue
                state = frame.state
                requested = sorted(a.slot for a in frame.actions if a.act == "REQUEST")
                assert sorted(state.requested_slots) == requested
                for slot, values in state.slot_values.items():
                    assert list(values) == sorted(set(values)) and values
                    spec = schema_of[frame.service].slot(slot)
                    if spec.is_categorical:
                        assert len(values) == 1 and values[0] in (*spec.possible_values, DONTCARE)
                # cumulative: a slot never leaves the state of its service
                assert set(last.get(frame.service, {})) <= set(state.slot_values)
                last[frame.service] = dict(state.slot_values)
        closing = dialogue.turns[-2]
        assert closing.speaker == "USER" and dialogue.turns[-1].speaker == "SYSTEM"
        assert any(a.act == "GOODBYE" for f in dialogue.turns[-1].frames for a in f.actions)


def test_every_free_text_state_value_was_said_in_the_dialogue_so_far(toy_splits):
    """What makes the corpus learnable by a copying tracker: no value comes from nowhere
    (carried-over values, offered names, confirmed defaults were all said before)."""
    schema_of = {s.name: s for s in toy_splits["test"].schema}
    checked = 0
    for split in SPLITS:
        for dialogue in toy_splits[split]:
            said = ""
            for turn in dialogue.turns:
                said += turn.utterance + "\n"
                for frame in turn.frames:
                    if frame.state is None:
                        continue
                    for slot, values in frame.state.slot_values.items():
                        if schema_of[frame.service].slot(slot).is_categorical or DONTCARE in values:
                            continue
                        for value in values:
                            assert value in said, (dialogue.dialogue_id, slot, value)
                            checked += 1
    assert checked > 20000


def test_service_calls_use_canonical_values_and_results_match_them(toy_splits):
    schema_of = {s.name: s for s in toy_splits["test"].schema}
    searches = transactions = 0
    for _d, _i, _turn, frame in frames(toy_splits["test"], "SYSTEM"):
        call = frame.service_call
        if call is None:
            continue
        intent = schema_of[frame.service].intent(call.method)
        assert set(call.parameters) <= set(intent.argument_slots)
        assert DONTCARE not in call.parameters.values()
        assert set(intent.required_slots) <= set(call.parameters)
        for row in frame.service_results:
            assert set(row) <= set(schema_of[frame.service].slot_names)
            for slot, value in call.parameters.items():
                if slot in row:
                    assert row[slot] == value, (call, row)
        if intent.is_transactional:
            transactions += 1
            acts = {a.act for a in frame.actions}
            assert acts & {"NOTIFY_SUCCESS", "NOTIFY_FAILURE"}
            assert len(frame.service_results) == ("NOTIFY_SUCCESS" in acts)
        else:
            searches += 1
            assert 1 <= len(frame.service_results) <= 10
    assert searches > 200 and transactions > 100


def _state_from_this_turn_only(dialogue: Dialogue) -> Dialogue:
    """A tracker without memory: the state holds only what this very turn INFORMs."""
    from dataclasses import replace

    turns = []
    for turn in dialogue.turns:
        new_frames = []
        for frame in turn.frames:
            if frame.state is not None:
                values = {a.slot: a.values for a in frame.actions if a.act == "INFORM"}
                frame = replace(frame, state=replace(frame.state, slot_values=values))
            new_frames.append(frame)
        turns.append(replace(turn, frames=tuple(new_frames)))
    return replace(dialogue, turns=tuple(turns))


def test_gold_state_scores_perfect_and_memoryless_tracking_does_not(toy_splits, toy_source):
    from tod_lab.eval.sgd import evaluate_sgd

    dev = toy_splits["dev"]
    train_schema = toy_source.train_schema()
    gold = evaluate_sgd(dev, list(dev), train_schema)
    assert gold.all_services["joint_goal_accuracy"] == pytest.approx(1.0)
    assert gold.unseen["joint_goal_accuracy"] == pytest.approx(1.0)
    naive = evaluate_sgd(dev, [_state_from_this_turn_only(d) for d in dev], train_schema)
    # the corpus needs real state tracking: history, carry-over, defaults
    assert naive.all_services["joint_goal_accuracy"] < 0.5


# ----------------------------------------------------------------------------- CLI


def test_stats_cli_prints_json_statistics_for_the_toy_train_split(tmp_path):
    env = {**os.environ, "TOD_LAB_ROOT": str(tmp_path), "TOD_LAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "tod_lab.data", "data=toy", "data.split=train",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["corpus"] == "toy" and stats["split"] == "train"
    assert stats["dialogues"] == 1000 and stats["services"] == 5
    assert stats["seen_services"] == 5 and stats["unseen_services"] == 0
    assert (tmp_path / "run" / "statistics.json").is_file()
    assert len((tmp_path / "run" / "train_ids.txt").read_text().split()) == 1000
