"""Parsing generated calls, validating arguments, merging cumulative state; gold replay."""

from __future__ import annotations

import pytest

from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import State
from tod_lab.spectod.db import ServiceResultsDB
from tod_lab.spectod.examples import gold_turns
from tod_lab.spectod.functions import build_catalog
from tod_lab.spectod.prompts import call_prefix, render_call
from tod_lab.spectod.state import (
    CallCounters,
    DialogueState,
    delta_arguments,
    gold_arguments,
    parse_call,
    read_call,
    sgd_prediction_dialogue,
    to_arguments,
)


@pytest.fixture(scope="module")
def mwz(shared_data):
    return build_catalog(read_schema(shared_data / "multiwoz22" / "schema.json"))


def test_parse_call_accepts_rendered_prefixed_and_truncated_calls():
    text = render_call("find_book_hotel", {"area": "north", "stars": "4"})
    assert parse_call(text) == {"function": "find_book_hotel", "arguments": {"area": "north", "stars": "4"}}
    # what the agent reassembles: forced prefix + generated continuation
    continuation = '{"area": "north"}}</function_call> trailing'
    assert parse_call(call_prefix("find_book_hotel") + continuation)["arguments"] == {"area": "north"}
    # cut off by the token budget: closing braces missing
    assert parse_call(call_prefix("find_book_hotel") + '{"area": "north"')["arguments"] == {"area": "north"}
    assert parse_call("no call here") is None
    assert parse_call('<function_call>{"function": "x", "arguments": [1]}</function_call>') is None


def test_unknown_arguments_and_invalid_enum_values_are_dropped_and_counted(mwz):
    counters = CallCounters()
    call = read_call(
        render_call("find_book_hotel", {"area": "North", "stars": 4, "colour": "red",
                                        "accommodation_type": "castle", "parking": True}),
        mwz,
        counters,
    )
    assert call.slots == {"hotel-area": "north", "hotel-stars": "4", "hotel-parking": "yes"}
    assert counters.unknown_arguments == 1 and counters.invalid_values == 1
    assert counters.dropped == {"find_book_hotel.colour": 1, "find_book_hotel.accommodation_type=castle": 1}
    assert read_call("garbage", mwz, counters) is None and counters.parse_failures == 1
    assert read_call(render_call("find_spaceship", {}), mwz, counters) is None
    assert counters.unknown_functions == 1 and counters.calls == 3


def test_cumulative_calls_change_remove_and_keep_dontcare(mwz):
    state = DialogueState()
    counters = CallCounters()
    hotel = mwz.get("find_book_hotel")
    assert state.apply(read_call(render_call(hotel.name, {"area": "north", "stars": "4"}), mwz, counters))
    assert state.apply(read_call(render_call(hotel.name, {"area": "south", "pricerange": "dontcare"}), mwz, counters))
    assert state.of("hotel") == {"hotel-area": "south", "hotel-pricerange": "dontcare"}  # stars removed
    # an unreadable value keeps the previous one instead of deleting the slot
    state.apply(read_call(render_call(hotel.name, {"area": "underground", "pricerange": "dontcare"}), mwz, counters))
    assert state.of("hotel") == {"hotel-area": "south", "hotel-pricerange": "dontcare"}
    assert not state.apply(read_call(render_call(hotel.name, {"area": "south", "pricerange": "dontcare"}), mwz, counters))
    train = mwz.get("find_book_train")
    state.apply(read_call(render_call(train.name, {"leave_at_or_after": "10:15", "day": "monday"}), mwz, counters))
    assert state.multiwoz_state() == {
        "hotel": {"area": "south", "pricerange": "dontcare"},
        "train": {"leaveat": "10:15", "day": "monday"},
    }
    assert state.arguments(train) == {"day": "monday", "leave_at_or_after": "10:15"}


def test_state_argument_order_extends_the_previous_call(mwz):
    """``argument_order: state``: the previous call's arguments keep their places (a changed
    value too), the turn's new ones follow in the order the user said them; the agent's
    own state renders in the order its calls wrote."""
    hotel = mwz.get("find_book_hotel")
    previous = {"hotel-stars": "4", "hotel-area": "north"}
    reference = State("find_hotel", (), {"hotel-area": ("south",), "hotel-stars": ("4",),
                                         "hotel-pricerange": ("cheap",), "hotel-internet": ("yes",)})
    said = "Make it the south. Something cheap with free wifi."
    slots, _ = gold_arguments(hotel, reference, previous, utterance=said, order="state")
    assert list(slots) == ["hotel-stars", "hotel-area", "hotel-pricerange", "hotel-internet"]
    assert slots["hotel-area"] == "south"
    assert list(to_arguments(hotel, slots, None, "state")) == ["stars", "area", "pricerange", "internet"]
    in_spec_order = [a.name for a in hotel.arguments if a.name in ("stars", "area", "pricerange", "internet")]
    spec_order, _ = gold_arguments(hotel, reference, previous, utterance=said)
    assert list(to_arguments(hotel, spec_order, None)) == in_spec_order
    assert in_spec_order != ["stars", "area", "pricerange", "internet"]  # so the test tells them apart
    # a new value the user said first comes first
    slots, _ = gold_arguments(hotel, reference, {}, utterance="cheap, 4 stars, the south", order="state")
    assert list(slots)[:3] == ["hotel-pricerange", "hotel-stars", "hotel-area"]

    state = DialogueState()
    written = [name for name in in_spec_order[::-1] if name in ("stars", "area")]  # not spec order
    state.apply(read_call(render_call(hotel.name, {name: {"stars": "4", "area": "north"}[name]
                                                   for name in written}), mwz, CallCounters()))
    assert list(state.arguments(hotel, "state")) == written
    assert list(state.arguments(hotel)) == written[::-1]
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="system.argument_order"):
        state.arguments(hotel, "alphabetical")


def test_delta_calls_add_change_and_clear(mwz):
    """``call_style: delta``: a call holds what the turn changed ("none" drops a slot); the
    state keeps everything else, and an unreadable value changes nothing."""
    hotel = mwz.get("find_book_hotel")
    before = {"hotel-area": "north", "hotel-stars": "4", "hotel-parking": "yes"}
    after = {"hotel-area": "south", "hotel-stars": "4", "hotel-internet": "yes"}
    changed, intent = delta_arguments(after, None, before, None)
    assert changed == {"hotel-area": "south", "hotel-internet": "yes", "hotel-parking": "none"}
    assert intent is None
    assert delta_arguments(before, "find_hotel", before, "find_hotel") == ({}, None)
    assert delta_arguments(before, None, before, "find_hotel") == ({}, "none")

    state = DialogueState()
    counters = CallCounters()
    call = lambda arguments: read_call(render_call(hotel.name, arguments), mwz, counters)  # noqa: E731
    assert state.apply(call({"area": "north", "stars": "4", "parking": "yes"}), "delta")
    assert state.apply(call(to_arguments(hotel, changed, intent)), "delta")
    assert state.of("hotel") == after
    assert not state.apply(call({}), "delta")  # a turn that changes nothing
    assert not state.apply(call({"area": "underground"}), "delta")
    assert state.of("hotel") == after
    # the same empty call read as a cumulative one empties the service's state
    cumulative = DialogueState()
    cumulative.apply(call({"area": "north", "stars": "4"}), "cumulative")
    assert cumulative.apply(call({}), "cumulative") and cumulative.of("hotel") == {}
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="system.call_style"):
        state.apply(call({}), "incremental")


def _replay_sgd(split, dialogues, spaced_values=False, argument_order="spec", call_style="cumulative"):
    """Gold calls -> text -> parser -> state merge -> SGD frames, for ``dialogues``."""
    catalog = build_catalog(split.schema)
    db = ServiceResultsDB.from_split(split)
    counters = CallCounters()
    predictions = []
    for dialogue in dialogues:
        state = DialogueState()
        user_states = []
        for turn in gold_turns(dialogue, catalog, db, argument_order=argument_order,
                               call_style=call_style):
            for call in turn.record.calls:
                text = render_call(call.function, call.arguments, spaced_values=spaced_values)
                state.apply(read_call(text, catalog, counters), call_style)
            user_states.append({s: state.sgd_state(s) for s in dialogue.services})
        predictions.append(sgd_prediction_dialogue(dialogue, user_states))
    return predictions, counters


def _assert_perfect(split, predictions, counters):
    from tod_lab.eval.sgd import evaluate_sgd

    report = evaluate_sgd(split, predictions, split.schema)
    all_services = report.metrics["#ALL_SERVICES"]
    assert all_services["joint_goal_accuracy"] == 1.0
    assert all_services["active_intent_accuracy"] == 1.0
    assert counters.parse_failures == counters.invalid_values == counters.unknown_arguments == 0
    return report


@pytest.mark.parametrize(("spaced_values", "argument_order", "call_style"),
                         [(False, "spec", "cumulative"), (True, "spec", "cumulative"),
                          (True, "state", "cumulative"), (True, "state", "delta")])
def test_gold_replay_reproduces_real_sgd_dev_states_sample(sgd_dev, spaced_values, argument_order,
                                                           call_style):
    """Also with the tiny models' spaced values ({"city": " San Jose "}): parsing strips them;
    with the state argument order (the intent argument first); and with delta calls (what
    each turn changed, merged by the agent's state)."""
    split = sgd_dev
    sample = split.dialogues[::20]  # ~105 dialogues, every dev service
    predictions, counters = _replay_sgd(split, sample, spaced_values=spaced_values,
                                        argument_order=argument_order, call_style=call_style)
    report = _assert_perfect(split.subset(d.dialogue_id for d in sample), predictions, counters)
    assert report.dialogues == len(sample)


@pytest.mark.slow
def test_gold_replay_reproduces_all_real_sgd_dev_states(sgd_dev):
    split = sgd_dev
    predictions, counters = _replay_sgd(split, split.dialogues)
    _assert_perfect(split, predictions, counters)
    assert counters.calls > 20000


def test_sgd_prediction_dialogue_has_a_frame_for_every_service():
    from tod_lab.data.types import Dialogue, Turn

    ref = Dialogue("d", ("A_1", "B_1"), (Turn("USER", "hi"), Turn("SYSTEM", "hello")))
    out = sgd_prediction_dialogue(ref, [{"A_1": State("X", (), {"s": ("v",)})}])
    assert [f.service for f in out.turns[0].frames] == ["A_1", "B_1"]
    assert out.turns[0].frames[0].state.slot_values == {"s": ("v",)}
    assert out.turns[0].frames[1].state == State()
    assert out.turns[1].frames == ()


def test_gold_replay_reproduces_the_toy_sgd_corpus_states(toy_source):
    dev = toy_source.read("dev")
    predictions, counters = _replay_sgd(dev, dev.dialogues)
    _assert_perfect(dev, predictions, counters)


def test_gold_replay_reproduces_the_toy_multiwoz_states(toy_multiwoz_source):
    from pathlib import Path

    from tod_lab.eval.multiwoz import dialogue_key, evaluate_multiwoz, load_references
    from tod_lab.spectod.db import MultiWOZDB

    dev = toy_multiwoz_source.read("dev")
    catalog = build_catalog(dev.schema)
    assert catalog.style == "multiwoz"
    db = MultiWOZDB.from_split(dev)
    counters = CallCounters()
    predictions = {}
    for dialogue in dev:
        state = DialogueState()
        turns = []
        for turn in gold_turns(dialogue, catalog, db, dialog_acts=dev.extras["dialog_acts"]):
            for call in turn.record.calls:
                state.apply(read_call(render_call(call.function, call.arguments), catalog, counters))
            assert {s: v for s, v in state.slots.items() if v} == {
                s: v for s, v in turn.slots.items() if v}
            if turn.record.has_response:
                turns.append({"response": turn.record.response,
                              "state": state.multiwoz_state(drop_dontcare=True)})
        predictions[dialogue_key(dialogue.dialogue_id)] = turns
    refs = load_references(Path(dev.files[0]).parent.parent, split="dev", success=False, bleu=False)
    report = evaluate_multiwoz(predictions, refs, bleu=False, success=False, dst=True)
    metrics = report.flat_metrics()
    assert metrics["jga_mwzeval"] == pytest.approx(100.0)
    assert metrics["jga_spectod_fnctod"] == pytest.approx(100.0)
    assert counters.calls > 1000 and counters.invalid_values == counters.parse_failures == 0
