"""The SGD evaluator on the real SGD dev / test splits."""

from __future__ import annotations

import json
import shutil

import pytest

from tod_lab.bench.eval_sgd import baseline_evaluate
from tod_lab.data.io import write_json
from tod_lab.data.sgd import read_split
from tod_lab.eval import sgd
from tod_lab.eval.perturb import perturbed_predictions
from tod_lab.eval.sgd_cli import main

pytestmark = pytest.mark.real_data


@pytest.mark.parametrize("split_name", ["dev", "test"])
def test_reference_copied_as_predictions_scores_exactly_one(
    split_name, sgd_dev, sgd_test, sgd_train_schema
):
    reference = sgd_dev if split_name == "dev" else sgd_test
    report = sgd.evaluate_sgd(reference, reference.dialogues, sgd_train_schema)
    assert report.dialogues == len(reference) > 2000
    assert len(report.frames) > 20000
    assert {sgd.ALL_SERVICES, sgd.SEEN_SERVICES, sgd.UNSEEN_SERVICES} <= set(report.metrics)
    not_one = {
        (collection, metric): value
        for collection, values in report.metrics.items()
        for metric, value in values.items()
        if value != 1.0
    }
    assert not not_one
    for metric in ("joint_goal_accuracy", "average_goal_accuracy", "active_intent_accuracy",
                   "requested_slots_f1", "consistent_joint_goal_accuracy", "slot_tagging_f1"):
        assert report.all_services[metric] == 1.0


def _small_corpus(sgd_root, tmp_path, split_name, files):
    """A data dir in tmp_path linking the real schemas and a few real dialogue files."""
    root = tmp_path / "sgd"
    for name in ("train", split_name):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "schema.json").symlink_to(sgd_root / name / "schema.json")
    for name in files:
        (root / split_name / name).symlink_to(sgd_root / split_name / name)
    return root


@pytest.mark.parametrize(
    "options",
    [{}, {"joint_acc_across_turn": True}, {"use_fuzzy_match": False}],
    ids=["official", "across_turn", "exact_match"],
)
def test_identical_to_a_plain_implementation_on_noisy_predictions(sgd_root, tmp_path, options):
    root = _small_corpus(sgd_root, tmp_path, "dev", ["dialogues_010.json.gz"])
    reference = read_split(root, "dev")
    predictions = perturbed_predictions(reference.dialogues, reference.schema, seed=3, rate=0.3)
    prediction_dir = tmp_path / "pred"
    write_json(prediction_dir / "p.json", [d.to_json() for d in predictions])
    report, _ = sgd.evaluate_prediction_dir(root, "dev", prediction_dir, **options)
    expected, expected_frames = baseline_evaluate(root, "dev", prediction_dir, **options)
    validated, _ = sgd.evaluate_prediction_dir(
        root, "dev", prediction_dir, validate_reference=True, **options
    )
    assert validated.metrics == report.metrics  # lean and validating readers agree
    assert report.metrics == expected  # every collection, every metric, every digit
    assert report.frame_metrics_by_id() == expected_frames
    jga = report.all_services["joint_goal_accuracy"]
    assert 0.2 < jga < 0.95  # the noise is real: many failed frames...
    fractional = any(0 < f.metrics["joint_goal_accuracy"] < 1 for f in report.frames)
    assert fractional == options.get("use_fuzzy_match", True)  # ...and fuzzy partial scores


def test_cli_on_real_test_split(sgd_root, sgd_test, tmp_path, capsys):
    prediction_dir = tmp_path / "pred"
    subset = [d for d in sgd_test.dialogues[:300]]
    noisy = perturbed_predictions(subset[:150], sgd_test.schema, seed=5, rate=0.2)
    write_json(prediction_dir / "noisy.json", [d.to_json() for d in noisy])
    # reference dialogues copied as predictions, compressed: they must score 1.0
    write_json(prediction_dir / "copied.json.gz", [d.to_json() for d in subset[150:]])
    output = tmp_path / "test_metrics.json"
    code = main(["--dstc8_data_dir", str(sgd_root), "--eval_set", "test",
                 "--prediction_dir", str(prediction_dir), "--output_metric_file", str(output),
                 "--run_dir", str(tmp_path / "run")])
    assert code == 0
    text = output.read_text()
    metrics = json.loads(text)
    assert list(metrics) == sorted(metrics) and {"#ALL_SERVICES", "#UNSEEN_SERVICES"} <= set(metrics)
    for values in metrics.values():
        assert list(values) == sorted(values)
        assert all(0.0 <= v <= 1.0 for v in values.values())
    assert 0.5 < metrics["#ALL_SERVICES"]["joint_goal_accuracy"] < 1.0
    per_frame = json.loads((prediction_dir / sgd.PER_FRAME_OUTPUT_FILENAME).read_text())
    assert len(per_frame) == 300
    copied = [
        f["metrics"]["joint_goal_accuracy"]
        for d in subset[150:]
        for t in per_frame[d.dialogue_id]["turns"]
        for f in t["frames"]
        if "metrics" in f
    ]
    assert copied and set(copied) == {1.0}
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["metrics"]["joint_goal_accuracy"] == metrics["#ALL_SERVICES"]["joint_goal_accuracy"]
    assert "C-JGA" in capsys.readouterr().out


def test_cli_rejects_a_prediction_of_another_split(sgd_root, sgd_dev, tmp_path, capsys):
    prediction_dir = tmp_path / "pred"
    prediction_dir.mkdir()
    shutil.copy(sgd_dev.files[0], prediction_dir / "from_dev.json.gz")
    code = main(["--dstc8_data_dir", str(sgd_root), "--eval_set", "test",
                 "--prediction_dir", str(prediction_dir), "--output_metric_file",
                 str(tmp_path / "m.json"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    # dev and test reuse dialogue ids: the first dev dialogue differs from its test namesake
    assert "from_dev.json.gz, dialogue 1_00000" in err and "predicted turns" in err
    assert "check --eval_set" in err


def test_cli_scores_the_reference_split_itself_as_one(sgd_root, tmp_path):
    """The test split directory as the prediction dir (read-only: no per-frame file)."""
    output = tmp_path / "reference_metrics.json"
    code = main(["--dstc8_data_dir", str(sgd_root), "--eval_set", "test",
                 "--prediction_dir", str(sgd_root / "test"), "--output_metric_file",
                 str(output), "--noper_frame_file", "--quiet"])
    assert code == 0
    metrics = json.loads(output.read_text())
    assert {v for values in metrics.values() for v in values.values()} == {1.0}
    assert len(metrics) > 20  # every service and domain of the test split
