"""SGD DST metrics on hand-built frames, every branch with a hand-computed expected value."""

from __future__ import annotations

import pytest
from eval_sgd_builders import (
    SCHEMA,
    TRAIN_SERVICES,
    dialogue,
    frame,
    frame_metrics,
    split,
)

from tod_lab.data.types import USER, Dialogue, Frame, SlotSpan, Turn
from tod_lab.errors import DataError
from tod_lab.eval import sgd
from tod_lab.eval.sgd import (
    ALL_SERVICES,
    NA,
    SEEN_SERVICES,
    UNSEEN_SERVICES,
    compute_f1,
    evaluate_sgd,
)

# ------------------------------------------------------------------ slot scores


def test_slots_absent_on_both_sides_score_one():
    m = frame_metrics(frame(), frame())
    assert m["joint_goal_accuracy"] == 1.0
    assert m["joint_cat_accuracy"] == 1.0 and m["joint_noncat_accuracy"] == 1.0
    # nothing active in the reference: the averages have nothing to average
    assert m["average_goal_accuracy"] == NA
    assert m["average_cat_accuracy"] == NA and m["average_noncat_accuracy"] == NA


def test_reference_only_slot_scores_zero():
    m = frame_metrics(frame(values={"city": ["SF"]}), frame())
    assert m["joint_goal_accuracy"] == 0.0
    assert m["joint_noncat_accuracy"] == 0.0 and m["joint_cat_accuracy"] == 1.0
    assert m["average_goal_accuracy"] == 0.0 and m["average_noncat_accuracy"] == 0.0
    assert m["average_cat_accuracy"] == NA


def test_predicted_only_slot_scores_zero_but_is_not_active():
    m = frame_metrics(frame(), frame(values={"cuisine": ["Italian"]}))
    assert m["joint_goal_accuracy"] == 0.0 and m["joint_cat_accuracy"] == 0.0
    assert m["joint_noncat_accuracy"] == 1.0
    assert m["average_goal_accuracy"] == NA  # averages only look at reference-active slots


@pytest.mark.parametrize(
    ("hyp_values", "expected"),
    [
        (["Italian"], 1.0),
        (["Italian", "anything"], 1.0),  # only the first predicted value counts
        (["italian"], 0.0),  # categorical: exact, case-sensitive
        (["Mexican"], 0.0),  # second reference value is not accepted for categorical slots
    ],
)
def test_categorical_slot_is_exact_on_first_values(hyp_values, expected):
    m = frame_metrics(
        frame(values={"cuisine": ["Italian", "Mexican"]}), frame(values={"cuisine": hyp_values})
    )
    assert m["joint_goal_accuracy"] == expected
    assert m["average_cat_accuracy"] == expected and m["average_noncat_accuracy"] == NA


@pytest.mark.parametrize(
    ("hyp_values", "expected"),
    [
        (["nyc"], 1.0),  # fuzzy: case-insensitive match of the second reference value
        (["ny"], 0.8),  # max(40 vs "new york", 80 vs "nyc") / 100
        (["york new"], 1.0),  # token order does not matter
        (["zzz", "NYC"], 0.0),  # only the first predicted value counts
    ],
)
def test_noncategorical_slot_takes_best_fuzzy_score(hyp_values, expected):
    m = frame_metrics(
        frame(values={"city": ["New York", "NYC"]}), frame(values={"city": hyp_values})
    )
    assert m["joint_goal_accuracy"] == expected
    assert m["average_noncat_accuracy"] == expected


def test_exact_match_option_for_noncategorical_slots():
    ref = frame(values={"city": ["New York", "NYC"]})
    assert frame_metrics(ref, frame(values={"city": ["nyc"]}), use_fuzzy_match=False)[
        "joint_goal_accuracy"
    ] == 0.0
    assert frame_metrics(ref, frame(values={"city": ["NYC"]}), use_fuzzy_match=False)[
        "joint_goal_accuracy"
    ] == 1.0


def test_joint_is_the_product_and_average_the_mean_of_active_slots():
    ref = frame(values={"city": ["sf"], "restaurant_name": ["abcd"], "cuisine": ["Italian"]})
    hyp = frame(values={"city": ["sfo"], "restaurant_name": ["abce"], "cuisine": ["Italian"]})
    m = frame_metrics(ref, hyp)
    # city 0.8 (2*2/5), restaurant_name 0.75 (2*3/8), cuisine 1.0, price_range absent: 1.0
    assert m["joint_goal_accuracy"] == pytest.approx(0.6, abs=1e-15)
    assert m["joint_noncat_accuracy"] == pytest.approx(0.6, abs=1e-15)
    assert m["joint_cat_accuracy"] == 1.0
    assert m["average_goal_accuracy"] == pytest.approx((0.8 + 0.75 + 1.0) / 3, abs=1e-15)
    assert m["average_noncat_accuracy"] == pytest.approx(0.775, abs=1e-15)
    assert m["average_cat_accuracy"] == 1.0


def test_names_outside_the_schema_are_ignored():
    m = frame_metrics(frame(values={"city": ["SF"]}),
                      frame(values={"city": ["SF"], "not_a_slot": ["x"]}))
    assert m["joint_goal_accuracy"] == 1.0


def test_service_without_categorical_slots_gives_na():
    m = frame_metrics(
        frame("Hotels_2", {"where_to": ["Paris"]}, "SearchHouse"),
        frame("Hotels_2", {"where_to": ["paris"]}, "SearchHouse"),
    )
    assert m["joint_cat_accuracy"] == NA and m["average_cat_accuracy"] == NA
    assert m["joint_goal_accuracy"] == 1.0


# ------------------------------------------------------------------ other frame metrics


def test_active_intent_accuracy():
    assert frame_metrics(frame(), frame())["active_intent_accuracy"] == 1.0
    assert frame_metrics(frame(), frame(intent="NONE"))["active_intent_accuracy"] == 0.0


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ((), (), (1.0, 1.0, 1.0)),  # nothing requested, nothing predicted
        (("city",), (), (0.0, 1.0, 0.0)),  # empty prediction: precision 1 by definition
        ((), ("city",), (0.0, 0.0, 1.0)),
        (("city", "cuisine"), ("cuisine", "price_range"), (0.5, 0.5, 0.5)),
        (("city", "city"), ("city",), (2 / 3, 1.0, 0.5)),  # Counter semantics
    ],
)
def test_requested_slots_f1(ref, hyp, expected):
    assert compute_f1(ref, hyp) == pytest.approx(expected, abs=1e-15)
    m = frame_metrics(frame(requested=ref), frame(requested=hyp))
    got = (m["requested_slots_f1"], m["requested_slots_precision"], m["requested_slots_recall"])
    assert got == pytest.approx(expected, abs=1e-15)


def test_slot_tagging_on_noncategorical_spans():
    utterance = "user says 0"  # "says" = [5, 9), "0" = [10, 11)
    city = SlotSpan(slot="city", start=5, exclusive_end=9)
    name = SlotSpan(slot="restaurant_name", start=10, exclusive_end=11)
    cuisine = SlotSpan(slot="cuisine", start=0, exclusive_end=4)  # categorical: not tagged
    assert utterance[5:9] == "says"
    m = frame_metrics(frame(spans=[city, name, cuisine]), frame(spans=[city]))
    assert (m["slot_tagging_f1"], m["slot_tagging_precision"], m["slot_tagging_recall"]) == (
        pytest.approx(2 / 3, abs=1e-15), 1.0, 0.5
    )
    # a Frame always has ``slots`` (to_json writes it): no predicted spans -> recall 0
    m = frame_metrics(frame(spans=[city]), frame())
    assert (m["slot_tagging_f1"], m["slot_tagging_recall"]) == (0.0, 0.0)
    m = frame_metrics(frame(spans=[city]), frame(), score_slot_tagging=False)
    assert "slot_tagging_f1" not in m


# ------------------------------------------------------------------ aggregation


def _two_service_dialogues():
    services = ("Restaurants_1", "Hotels_2")
    r_ok = frame(values={"cuisine": ["Italian"]})
    h_ref = frame("Hotels_2", {"where_to": ["Paris"]}, "SearchHouse")
    h_bad = frame("Hotels_2", {"where_to": ["zzz"]}, "SearchHouse")
    ref = dialogue("d1", [[r_ok, h_ref], [r_ok, h_ref]], services=services)
    hyp = dialogue("d1", [[r_ok, h_bad], [r_ok, h_ref]], services=services)
    return ref, hyp


def test_collections_all_service_domain_seen_unseen():
    ref, hyp = _two_service_dialogues()
    report = evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)
    assert set(report.metrics) == {
        ALL_SERVICES, SEEN_SERVICES, UNSEEN_SERVICES,
        "Restaurants_1", "Restaurants", "Hotels_2", "Hotels",
    }
    # frames: R 1.0, H 0.0 (turn 0); R 1.0, H 1.0 (turn 1)
    assert report.metrics[ALL_SERVICES]["joint_goal_accuracy"] == 0.75
    assert report.metrics[SEEN_SERVICES]["joint_goal_accuracy"] == 1.0  # Restaurants_1
    assert report.metrics[UNSEEN_SERVICES]["joint_goal_accuracy"] == 0.5  # Hotels_2
    assert report.metrics["Hotels"] == report.metrics["Hotels_2"]
    # Hotels_2 has no categorical slot: the metric is absent there, present elsewhere
    assert "joint_cat_accuracy" not in report.metrics["Hotels_2"]
    assert report.metrics[ALL_SERVICES]["joint_cat_accuracy"] == 1.0
    assert report.seen == report.metrics[SEEN_SERVICES]
    assert report.flat_metrics()["joint_goal_accuracy_unseen"] == 0.5
    assert set(report.protocols().values()) == {"sgd_official"}


def test_na_frames_are_left_out_of_the_averages():
    ref = dialogue("d1", [[frame()], [frame(values={"city": ["a"], "cuisine": ["Italian"]})]])
    hyp = dialogue("d1", [[frame()], [frame(values={"city": ["a"]})]])
    report = evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)
    # frame 0 has no active slot (NA), frame 1 averages (1.0 + 0.0) / 2
    assert report.all_services["average_goal_accuracy"] == 0.5
    assert report.all_services["joint_goal_accuracy"] == 0.5  # 1.0 and 0.0


def test_joint_accuracy_across_turn():
    ref, hyp = _two_service_dialogues()
    report = evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES, joint_acc_across_turn=True)
    # turn 0: 1.0 * 0.0, turn 1: 1.0 * 1.0
    assert report.all_services["joint_goal_accuracy"] == 0.5
    assert report.metrics["Hotels_2"]["joint_goal_accuracy"] == 0.5
    assert report.metrics["Restaurants_1"]["joint_goal_accuracy"] == 1.0
    # non-joint metrics stay per frame (4 frames, all intents right)
    assert report.all_services["active_intent_accuracy"] == 1.0
    assert report.protocol == "sgd_official+across_turn"


def test_consistent_jga_chains_the_frames_of_a_service():
    values = [{"city": ["sf"]}] * 4
    hyps = [{"city": ["sf"]}, {"city": ["sfo"]}, {}, {"city": ["sf"]}]  # JGA 1, 0.8, 0, 1
    ref = dialogue("d1", [[frame(values=v)] for v in values])
    hyp = dialogue("d1", [[frame(values=v)] for v in hyps])
    report = evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)
    chain = [f.metrics["consistent_joint_goal_accuracy"] for f in report.frames]
    assert chain == [1.0, 0.8, 0.0, 0.0]
    assert [f.user_turn for f in report.frames] == [0, 1, 2, 3]
    assert [f.turn_index for f in report.frames] == [0, 2, 4, 6]
    assert report.all_services["consistent_joint_goal_accuracy"] == pytest.approx(0.45, abs=1e-15)
    assert report.all_services["joint_goal_accuracy"] == pytest.approx(0.7, abs=1e-15)
    assert report.frames[1].frame_id == "d1-002-Restaurants_1"


def test_partial_predictions_are_scored_alone():
    ref1 = dialogue("d1", [[frame(values={"city": ["a"]})]])
    ref2 = dialogue("d2", [[frame(values={"city": ["b"]})]])
    report = evaluate_sgd(split(ref1, ref2), {"d2": ref2}, TRAIN_SERVICES)
    assert report.dialogues == 1 and [f.dialogue_id for f in report.frames] == ["d2"]


def test_extra_predicted_frames_are_ignored():
    ref = dialogue("d1", [[frame()]], services=("Restaurants_1", "Hotels_2"))
    hyp = dialogue("d1", [[frame(), frame("Hotels_2", {"where_to": ["x"]})]],
                   services=("Hotels_2", "Restaurants_1"))
    report = evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)
    assert [f.service for f in report.frames] == ["Restaurants_1"]


# ------------------------------------------------------------------ mismatches


@pytest.mark.parametrize(
    ("hyp", "message"),
    [
        (dialogue("d9", [[frame()]]), "not in the reference"),
        (dialogue("d1", [[frame()]], services=("Hotels_2",)), "set of services differs"),
        (dialogue("d1", [[frame()], [frame()]]), "predicted turns"),
        (dialogue("d1", [[frame()]], utterances=["something else"]), "USER utterance differs"),
        (dialogue("d1", [[]]), "no predicted frame for service Restaurants_1"),
        (dialogue("d1", [[Frame(service="Restaurants_1")]]), "has no state"),
        (dialogue("d1", [[frame(values={"city": []})]]), "empty value list"),
    ],
)
def test_mismatched_predictions_name_the_dialogue(hyp, message):
    ref = dialogue("d1", [[frame(values={"city": ["a"]})]])
    with pytest.raises(DataError, match=message) as info:
        evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)
    assert info.value.dialogue_id == hyp.dialogue_id


def test_speaker_mismatch_names_dialogue_and_turn():
    ref = dialogue("d1", [[frame()]])
    hyp = Dialogue("d1", ("Restaurants_1",), (ref.turns[0], Turn(speaker=USER, utterance="x")))
    with pytest.raises(DataError, match=r"dialogue d1, turn 1: speaker 'USER' differs"):
        evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)


def test_duplicate_predicted_dialogues_are_an_error():
    ref = dialogue("d1", [[frame()]])
    with pytest.raises(DataError, match="duplicate predicted dialogue"):
        evaluate_sgd(split(ref), [ref, ref], TRAIN_SERVICES)


def test_mapping_reference_needs_an_eval_schema():
    ref = dialogue("d1", [[frame()]])
    with pytest.raises(TypeError, match="eval_schema"):
        evaluate_sgd({"d1": ref}, [ref], TRAIN_SERVICES)
    report = evaluate_sgd({"d1": ref}, [ref], SCHEMA, eval_schema=SCHEMA)
    assert report.all_services["joint_goal_accuracy"] == 1.0
    assert report.metrics.keys() >= {SEEN_SERVICES}  # every service of SCHEMA is "trained"


def test_protocol_names_the_options():
    assert sgd.protocol_name() == "sgd_official"
    assert sgd.protocol_name(use_fuzzy_match=False) == "sgd_official+exact_match"
