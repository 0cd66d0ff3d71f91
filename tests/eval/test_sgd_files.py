"""Prediction files, the official output files, the CLI and the metrics record."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from eval_sgd_builders import SCHEMA, dialogue, frame, split

from tod_lab.errors import DataError
from tod_lab.eval import sgd
from tod_lab.eval.records import read_metrics_record, write_metrics_record
from tod_lab.eval.sgd_cli import main


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(obj).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _dialogues():
    d1 = dialogue("d1", [[frame(values={"city": ["sf"]})], [frame(values={"city": ["sf"]})]])
    d2 = dialogue("d2", [[frame(values={"cuisine": ["Italian"]})]])
    return d1, d2


def test_load_predictions_reads_lists_and_mappings_in_file_order(tmp_path):
    d1, d2 = _dialogues()
    _write(tmp_path / "b.json.gz", {"d1": d1.to_json()})
    _write(tmp_path / "a.json", [d2.to_json()])
    _write(tmp_path / sgd.PER_FRAME_OUTPUT_FILENAME, {"d1": d1.to_json()})  # skipped
    _write(tmp_path / "schema.json", SCHEMA.to_json())  # skipped: a split dir can be scored
    (tmp_path / "notes.txt").write_text("not a prediction")
    predictions = sgd.load_predictions(tmp_path)
    assert list(predictions.dialogues) == ["d2", "d1"]  # a.json before b.json.gz
    assert predictions.files["d1"].endswith("b.json.gz")
    assert predictions.dialogues["d1"].turns[0].frames[0].state.slot_values == {"city": ("sf",)}
    assert not predictions.frames_without_spans


def test_frames_without_a_slots_key_are_not_slot_tagged(tmp_path):
    d1, _ = _dialogues()
    raw = d1.to_json()
    del raw["turns"][0]["frames"][0]["slots"]
    _write(tmp_path / "p.json", [raw])
    predictions = sgd.load_predictions(tmp_path)
    assert predictions.frames_without_spans == {("d1", 0, "Restaurants_1")}
    report = sgd.evaluate_sgd(split(d1), predictions, ["Restaurants_1"])
    assert "slot_tagging_f1" not in report.frames[0].metrics
    assert "slot_tagging_f1" in report.frames[1].metrics


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no \\*.json or \\*.json.gz prediction files"),
        (lambda d: (d / "p.json").write_text("[{"), "invalid JSON"),
        (lambda d: _write(d / "p.json", "text"), "expected a JSON list of dialogues"),
        (lambda d: _write(d / "p.json", [{"turns": []}]), "entry 0 is not a dialogue"),
        (lambda d: _write(d / "p.json", {"d1": {"dialogue_id": "d2"}}), "not the dialogue of its key"),
        (lambda d: _write(d / "p.json", [{"dialogue_id": "d1", "services": []}]), "missing key 'turns'"),
    ],
)
def test_bad_prediction_files_are_clear_errors(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        sgd.load_predictions(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_malformed_state_names_file_and_dialogue(tmp_path):
    d1, _ = _dialogues()
    raw = d1.to_json()
    raw["turns"][0]["frames"][0]["state"]["slot_values"]["city"] = "sf"  # not a list
    path = _write(tmp_path / "p.json", [raw])
    with pytest.raises(DataError, match=r"dialogue d1: malformed predicted dialogue .*must be a list"):
        sgd.load_predictions(tmp_path)
    with pytest.raises(DataError, match=str(path)):
        sgd.load_predictions(path)


def test_duplicate_dialogue_across_files(tmp_path):
    d1, _ = _dialogues()
    _write(tmp_path / "a.json", [d1.to_json()])
    _write(tmp_path / "b.json", [d1.to_json()])
    with pytest.raises(DataError, match=r"b.json, dialogue d1: duplicate .*a.json"):
        sgd.load_predictions(tmp_path)


def test_missing_prediction_dir(tmp_path):
    with pytest.raises(DataError, match="prediction directory not found"):
        sgd.load_predictions(tmp_path / "nope")


def test_per_frame_dialogues_attach_metrics_to_the_scored_frames(tmp_path):
    d1, d2 = _dialogues()
    _write(tmp_path / "p.json", [d1.to_json(), d2.to_json()])
    predictions = sgd.load_predictions(tmp_path)
    report = sgd.evaluate_sgd(split(d1, d2), predictions, ["Restaurants_1"])
    out = sgd.per_frame_dialogues(predictions, report)
    assert list(out) == ["d1", "d2"]
    metrics = out["d1"]["turns"][2]["frames"][0]["metrics"]
    assert metrics == report.frame_metrics_by_id()["d1-002-Restaurants_1"]
    assert "metrics" not in out["d1"]["turns"][1]  # system turns are not scored
    metric_file = tmp_path / "out" / "metrics.json"
    sgd.write_official_outputs(report, predictions, metric_file, tmp_path / "per_frame.json")
    text = metric_file.read_text()
    assert json.loads(text) == report.metrics
    assert text == json.dumps(report.metrics, indent=2, separators=(",", ": "), sort_keys=True)


# ------------------------------------------------------------------ CLI on a tiny corpus


@pytest.fixture
def tiny_corpus(tmp_path):
    """An SGD layout built in tmp_path: train/dev schema + one dev dialogue file."""
    root = tmp_path / "sgd"
    schema = SCHEMA.to_json()
    _write(root / "train" / "schema.json", [schema[0]])  # Hotels_2 unseen
    _write(root / "dev" / "schema.json", schema)
    d1, d2 = _dialogues()
    _write(root / "dev" / "dialogues_001.json.gz", [d1.to_json(), d2.to_json()])
    return root


def test_cli_writes_official_outputs_and_record(tiny_corpus, tmp_path, capsys):
    predictions = tmp_path / "pred"
    d1, d2 = _dialogues()
    hyp = d1.to_json()
    hyp["turns"][2]["frames"][0]["state"]["slot_values"]["city"] = ["sfo"]  # 0.8
    _write(predictions / "p.json", [hyp, d2.to_json()])
    output = tmp_path / "metrics_out.json"
    run_dir = tmp_path / "run"
    code = main([
        "--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev",
        "--prediction_dir", str(predictions), "--output_metric_file", str(output),
        "--run_dir", str(run_dir),
    ])
    assert code == 0
    metrics = json.loads(output.read_text())
    assert metrics["#ALL_SERVICES"]["joint_goal_accuracy"] == pytest.approx((1 + 0.8 + 1) / 3)
    assert metrics["#SEEN_SERVICES"] == metrics["#ALL_SERVICES"]
    assert list(metrics) == sorted(metrics)
    per_frame = json.loads((predictions / sgd.PER_FRAME_OUTPUT_FILENAME).read_text())
    assert per_frame["d1"]["turns"][2]["frames"][0]["metrics"]["joint_goal_accuracy"] == 0.8
    record = read_metrics_record(run_dir)
    assert record["metrics"]["joint_goal_accuracy"] == metrics["#ALL_SERVICES"]["joint_goal_accuracy"]
    assert record["protocols"]["joint_goal_accuracy"] == "sgd_official"
    assert record["main_metric"] == "joint_goal_accuracy"
    out = capsys.readouterr().out
    assert "JGA" in out and "C-JGA" in out
    # running again ignores its own outputs inside the prediction dir
    assert main(["--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev",
                 "--prediction_dir", str(predictions), "--output_metric_file",
                 str(predictions / "m.json"), "--quiet"]) == 0
    assert main(["--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev",
                 "--prediction_dir", str(predictions), "--output_metric_file",
                 str(predictions / "m.json"), "--quiet"]) == 0


def test_cli_flags_follow_absl(tiny_corpus, tmp_path):
    predictions = tmp_path / "pred"
    d1, d2 = _dialogues()
    hyp = d2.to_json()
    hyp["turns"][0]["frames"][0]["state"]["slot_values"] = {"city": ["SF"]}
    ref = d2.to_json()
    ref_file = tiny_corpus / "dev" / "dialogues_001.json.gz"
    d1_ref = d1.to_json()
    d1_ref["turns"][0]["frames"][0]["state"]["slot_values"] = {"city": ["sf"]}
    _write(ref_file, [d1_ref, ref])
    _write(predictions / "p.json", [d1_ref])
    d1_hyp = json.loads(json.dumps(d1_ref))
    d1_hyp["turns"][0]["frames"][0]["state"]["slot_values"] = {"city": ["SF"]}
    _write(predictions / "p.json", [d1_hyp])
    base = ["--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev",
            "--prediction_dir", str(predictions), "--quiet", "--noper_frame_file"]
    fuzzy_out, exact_out = tmp_path / "fuzzy.json", tmp_path / "exact.json"
    assert main([*base, "--output_metric_file", str(fuzzy_out)]) == 0
    assert main([*base, "--output_metric_file", str(exact_out), "--nouse_fuzzy_match"]) == 0
    assert main([*base, "--output_metric_file", str(tmp_path / "e2.json"),
                 "--use_fuzzy_match=false", "--joint_acc_across_turn"]) == 0
    fuzzy = json.loads(fuzzy_out.read_text())["#ALL_SERVICES"]["joint_goal_accuracy"]
    exact = json.loads(exact_out.read_text())["#ALL_SERVICES"]["joint_goal_accuracy"]
    assert (fuzzy, exact) == (1.0, 0.5)  # "SF" vs "sf" in the first frame only
    assert not (predictions / sgd.PER_FRAME_OUTPUT_FILENAME).exists()


def test_cli_bad_prediction_dir_exits_2_naming_the_dialogue(tiny_corpus, tmp_path, capsys):
    predictions = tmp_path / "pred"
    d1, _ = _dialogues()
    hyp = d1.to_json()
    hyp["turns"][0]["utterance"] = "changed"
    _write(predictions / "p.json", [hyp])
    code = main(["--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev", "--prediction_dir",
                 str(predictions), "--output_metric_file", str(tmp_path / "m.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "dialogue d1, turn 0: USER utterance differs" in err and "p.json" in err
    assert main(["--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev", "--prediction_dir",
                 str(tmp_path / "missing"), "--output_metric_file", str(tmp_path / "m.json")]) == 2
    assert "prediction directory not found" in capsys.readouterr().err


# ------------------------------------------------------------------ metrics record


def test_metrics_record_merges_and_refuses_mixed_protocols(tmp_path):
    write_metrics_record(tmp_path, {"jga": 0.5}, {"jga": "sgd_official"}, main_metric="jga")
    write_metrics_record(tmp_path, {"inform": 80.0}, {"inform": "mwzeval"})
    record = read_metrics_record(tmp_path)
    assert record["metrics"] == {"jga": 0.5, "inform": 80.0}
    assert record["protocols"] == {"jga": "sgd_official", "inform": "mwzeval"}
    assert record["main_metric"] == "jga"
    with pytest.raises(DataError, match="already recorded with protocol 'sgd_official'"):
        write_metrics_record(tmp_path, {"jga": 0.4}, {"jga": "spectod_fnctod"})
    with pytest.raises(ValueError, match="without a protocol"):
        write_metrics_record(tmp_path, {"x": 1.0}, {})
    with pytest.raises(ValueError, match="unknown protocol"):
        write_metrics_record(tmp_path, {"x": 1.0}, {"x": "my_eval"})
    with pytest.raises(ValueError, match="not finite"):
        write_metrics_record(tmp_path, {"x": float("nan")}, {"x": "mwzeval"})
    assert read_metrics_record(tmp_path / "nothing") is None


def test_module_entry_point_runs(tiny_corpus, tmp_path):
    """``python -m tod_lab.eval.sgd`` as a user runs it (a fresh interpreter)."""
    import subprocess
    import sys

    predictions = tmp_path / "pred"
    d1, d2 = _dialogues()
    _write(predictions / "p.json", [d1.to_json(), d2.to_json()])
    output = tmp_path / "m.json"
    done = subprocess.run(
        [sys.executable, "-m", "tod_lab.eval.sgd", "--dstc8_data_dir", str(tiny_corpus),
         "--eval_set", "dev", "--prediction_dir", str(predictions),
         "--output_metric_file", str(output)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text())["#ALL_SERVICES"]["joint_goal_accuracy"] == 1.0
    assert "JGA" in done.stdout


def test_unwritable_per_frame_file_is_a_clear_error(tiny_corpus, tmp_path, capsys):
    predictions = tmp_path / "pred"
    d1, d2 = _dialogues()
    _write(predictions / "p.json", [d1.to_json(), d2.to_json()])
    (predictions / sgd.PER_FRAME_OUTPUT_FILENAME).mkdir()  # something in the way
    code = main(["--dstc8_data_dir", str(tiny_corpus), "--eval_set", "dev", "--prediction_dir",
                 str(predictions), "--output_metric_file", str(tmp_path / "m.json")])
    assert code == 2
    assert "cannot write the per-frame file" in capsys.readouterr().err
