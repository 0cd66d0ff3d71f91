"""C-JGA / JGA by turn position and SGD-X robustness (average JGA, schema sensitivity)."""

from __future__ import annotations

import math

import pytest
from eval_sgd_builders import TRAIN_SERVICES, dialogue, frame, split

from tod_lab.errors import DataError
from tod_lab.eval.consistency import consistent_chain, jga_by_turn_position
from tod_lab.eval.perturb import perturbed_predictions
from tod_lab.eval.sgd import evaluate_sgd
from tod_lab.eval.sgdx import (
    coefficient_of_variation,
    evaluate_sgdx,
    load_variant_references,
    schema_sensitivity,
    turn_jgas,
)


def test_consistent_chain():
    assert consistent_chain([1.0, 0.8, 0.0, 1.0]) == [1.0, 0.8, 0.0, 0.0]
    assert consistent_chain([0.5, 0.5]) == [0.5, 0.25]
    assert consistent_chain([]) == []


def _report_with_two_dialogues():
    # d1: JGA 1, 0, 1 at user turns 0, 1, 2;  d2: JGA 1 at user turn 0
    ref1 = dialogue("d1", [[frame(values={"city": ["a"]})]] * 3)
    hyp1 = dialogue("d1", [[frame(values={"city": ["a"]})], [frame()], [frame(values={"city": ["a"]})]])
    ref2 = dialogue("d2", [[frame()]])
    return evaluate_sgd(split(ref1, ref2), [hyp1, ref2], TRAIN_SERVICES)


def test_jga_by_turn_position():
    rows = jga_by_turn_position(_report_with_two_dialogues())
    assert [(r.position, r.joint_goal_accuracy, r.consistent_joint_goal_accuracy, r.frames)
            for r in rows] == [(0, 1.0, 1.0, 2), (1, 0.0, 0.0, 1), (2, 1.0, 0.0, 1)]
    pooled = jga_by_turn_position(_report_with_two_dialogues(), max_position=1)
    assert [(r.position, r.joint_goal_accuracy, r.frames) for r in pooled] == [
        (0, 1.0, 2), (1, 0.5, 2)
    ]
    assert jga_by_turn_position(_report_with_two_dialogues(), services=["Hotels_2"]) == []
    assert rows[0].to_json()["frames"] == 2


def test_coefficient_of_variation_and_schema_sensitivity_by_hand():
    assert coefficient_of_variation([1, 1, 1, 1, 1]) == 0.0
    assert coefficient_of_variation([0, 0, 0]) == 0.0  # no variation: defined as 0
    # mean 0.6, sample variance (3 * 0.16 + 2 * 0.36) / 4 = 0.3
    assert coefficient_of_variation([1, 0, 1, 0, 1]) == pytest.approx(math.sqrt(0.3) / 0.6)
    assert coefficient_of_variation([1, 0, 1, 0, 1], ddof=0) == pytest.approx(
        math.sqrt(0.24) / 0.6)
    scores = {
        f"v{i}": {("a", 0): 1.0, ("b", 0): [1, 0, 1, 0, 1][i - 1], ("c", 0): 0.0}
        for i in range(1, 6)
    }
    assert schema_sensitivity(scores) == pytest.approx(math.sqrt(0.3) / 0.6 / 3)
    scores["v5"] = {("a", 0): 1.0}
    with pytest.raises(DataError, match="variant v5 scored other turns"):
        schema_sensitivity(scores)


def test_evaluate_sgdx_on_hand_built_variants():
    ref = dialogue("d1", [[frame(values={"city": ["a"]})], [frame(values={"city": ["b"]})]])
    wrong_second = dialogue("d1", [[frame(values={"city": ["a"]})], [frame()]])
    references = {"v1": split(ref), "v2": split(ref)}
    seen = {"v1": TRAIN_SERVICES, "v2": TRAIN_SERVICES}
    report = evaluate_sgdx(references, {"v1": [ref], "v2": [wrong_second]}, seen)
    assert report.jga_by_variant == {"v1": 1.0, "v2": 0.5}
    assert report.average_jga == 0.75
    # turn 0: [1, 1] -> 0; turn 2: [1, 0] -> sample std sqrt(0.5) / mean 0.5
    assert report.schema_sensitivity == pytest.approx(math.sqrt(0.5) / 0.5 / 2)
    assert report.turns == 2
    flat = report.flat_metrics()
    assert flat["sgdx_average_jga"] == 0.75 and flat["sgdx_average_jga_seen"] == 0.75
    assert set(report.protocols().values()) == {"sgdx"}
    with pytest.raises(DataError, match="no predictions for SGD-X variant"):
        evaluate_sgdx(references, {"v1": [ref]}, seen)


def test_turn_jga_multiplies_the_frames_of_a_turn():
    services = ("Restaurants_1", "Hotels_2")
    ref = dialogue("d1", [[frame(values={"city": ["sf"]}),
                           frame("Hotels_2", {"where_to": ["abcd"]}, "SearchHouse")]],
                   services=services)
    hyp = dialogue("d1", [[frame(values={"city": ["sfo"]}),
                           frame("Hotels_2", {"where_to": ["abce"]}, "SearchHouse")]],
                   services=services)
    assert turn_jgas(evaluate_sgd(split(ref), [hyp], TRAIN_SERVICES)) == {
        ("d1", 0): pytest.approx(0.8 * 0.75)
    }


@pytest.mark.real_data
def test_sgdx_on_real_variants(shared_data, tmp_path):
    root = tmp_path / "sgd"
    for name in ("train", "dev"):
        (root / name).mkdir(parents=True)
        (root / name / "schema.json").symlink_to(shared_data / "sgd" / name / "schema.json")
    (root / "dev" / "dialogues_001.json.gz").symlink_to(
        shared_data / "sgd" / "dev" / "dialogues_001.json.gz")
    references, seen = load_variant_references(root, shared_data / "sgd_x", "dev")
    assert list(references) == ["v1", "v2", "v3", "v4", "v5"]
    names = {v: set(r.schema.service_names) for v, r in references.items()}
    assert names["v1"] != names["v5"]  # the variants really rename the services
    assert len({len(s) for s in seen.values()}) == 1 and all(
        s <= names[v] for v, s in seen.items())
    copied = evaluate_sgdx(references, {v: r.dialogues for v, r in references.items()}, seen)
    assert copied.average_jga == 1.0 and copied.schema_sensitivity == 0.0
    noisy = evaluate_sgdx(
        references,
        {v: perturbed_predictions(r.dialogues, r.schema, seed=i, rate=0.2)
         for i, (v, r) in enumerate(references.items())},
        seen,
    )
    jgas = list(noisy.jga_by_variant.values())
    assert noisy.average_jga == pytest.approx(sum(jgas) / 5)
    assert 0.0 < noisy.schema_sensitivity < 1.0
    assert noisy.reports["v2"].seen.keys() >= {"joint_goal_accuracy"}
