"""Benchmark ``eval_sgd``: the SGD evaluator end to end on the real SGD test split.

tod_lab (``tod_lab.eval.sgd``: orjson + shared readers, garbage collector paused while
building objects, cached exact fuzzy matching) against :func:`baseline_evaluate`, a
straightforward implementation of the same official DSTC8 semantics on plain dicts: the
standard ``json`` module, ``fuzzywuzzy.fuzz.token_sort_ratio`` for every non-categorical
pair, ``np.mean`` / ``np.prod`` for every frame. Both read the reference split and a
full-split prediction set from disk (loading included) in the same process; the metrics
must be identical (every collection, every key, every digit) or the benchmark fails.

The prediction set is the reference with seeded noisy states
(:func:`tod_lab.eval.perturb.perturbed_predictions`), written as plain ``*.json`` files
like a system's output. ``ratio = baseline seconds / tod_lab seconds`` (> 1: tod_lab faster).
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from tod_lab.bench import BenchResult, ratio_lower_is_better
from tod_lab.errors import DataError

SPLIT = "test"
SEED = 0
PERTURBATION_RATE = 0.1
REPEATS = 3
DIALOGUES_PER_FILE = 128


def shared_sgd_root() -> Path:
    """``$TOD_LAB_SHARED_DATA/sgd`` (default ``../shared/data/sgd`` next to the checkout)."""
    repo = Path(__file__).resolve().parents[2]
    root = Path(os.environ.get("TOD_LAB_SHARED_DATA", repo.parent / "shared" / "data")) / "sgd"
    if not (root / SPLIT / "schema.json").is_file():
        raise DataError(
            "the real SGD data is needed for this benchmark",
            file=root,
            hint="set TOD_LAB_SHARED_DATA to the directory holding sgd/",
        )
    return root


# ------------------------------------------------------------------ the baseline


def _load_json(path: Path) -> Any:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _dialogues_by_id(paths: list[Path]) -> dict[str, dict]:
    by_id: dict[str, dict] = {}
    for path in paths:
        data = _load_json(path)
        if isinstance(data, dict):
            by_id.update(data)
        else:
            for dialogue in data:
                by_id[dialogue["dialogue_id"]] = dialogue
    return by_id


def _f1(ref_items: list, hyp_items: list) -> tuple[float, float, float]:
    ref, hyp = Counter(ref_items), Counter(hyp_items)
    true, positive = sum(ref.values()), sum(hyp.values())
    hits = sum((ref & hyp).values())
    precision = float(hits) / positive if positive else 1.0
    recall = float(hits) / true if true else 1.0
    f1 = 2.0 * precision * recall / (precision + recall) if precision + recall > 0.0 else 0.0
    return f1, precision, recall


def _fuzz():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "slow pure-python SequenceMatcher": that is the point
        from fuzzywuzzy import fuzz
    return fuzz


def _baseline_frame(frame_ref: dict, frame_hyp: dict, utterance: str, service: dict,
                    use_fuzzy_match: bool, fuzz: Any) -> dict[str, Any]:
    ref_state, hyp_state = frame_ref["state"], frame_hyp["state"]
    out: dict[str, Any] = {
        "active_intent_accuracy": float(ref_state["active_intent"] == hyp_state["active_intent"])
    }
    f1, p, r = _f1(ref_state["requested_slots"], hyp_state["requested_slots"])
    out.update(requested_slots_f1=f1, requested_slots_precision=p, requested_slots_recall=r)
    noncat = [s["name"] for s in service["slots"] if not s["is_categorical"]]
    if "slots" in frame_hyp:
        spans = [[(s["slot"], utterance[s["start"]:s["exclusive_end"]])
                  for s in frame["slots"] if s["slot"] in noncat]
                 for frame in (frame_ref, frame_hyp)]
        f1, p, r = _f1(spans[0], spans[1])
        out.update(slot_tagging_f1=f1, slot_tagging_precision=p, slot_tagging_recall=r)
    scores, active, categorical = [], [], []
    for slot in service["slots"]:
        name, is_cat = slot["name"], slot["is_categorical"]
        in_ref, in_hyp = name in ref_state["slot_values"], name in hyp_state["slot_values"]
        if in_ref and in_hyp:
            ref_values = ref_state["slot_values"][name]
            hyp_value = hyp_state["slot_values"][name][0]
            if is_cat:
                score = float(ref_values[0] == hyp_value)
            else:
                score = 0.0
                for ref_value in ref_values:
                    match = (fuzz.token_sort_ratio(ref_value, hyp_value) / 100.0
                             if use_fuzzy_match else float(ref_value == hyp_value))
                    score = max(score, match)
        else:
            score = 1.0 if not in_ref and not in_hyp else 0.0
        scores.append(score)
        active.append(in_ref)
        categorical.append(is_cat)

    def pick(need_active: bool, cat: bool | None) -> list[float]:
        return [s for s, a, c in zip(scores, active, categorical, strict=True)
                if (a or not need_active) and (cat is None or c == cat)]

    for prefix, need_active, reduce in (("average", True, np.mean), ("joint", False, np.prod)):
        for suffix, cat in (("goal", None), ("cat", True), ("noncat", False)):
            chosen = pick(need_active, cat)
            out[f"{prefix}_{suffix}_accuracy"] = reduce(chosen) if chosen else "NA"
    return out


def baseline_evaluate(
    data_dir: str | Path,
    eval_set: str,
    prediction_dir: str | Path,
    *,
    joint_acc_across_turn: bool = False,
    use_fuzzy_match: bool = True,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The official semantics written out plainly: ``(collections, per-frame metrics)``."""
    data_dir, prediction_dir = Path(data_dir), Path(prediction_dir)
    eval_services = {s["service_name"]: s for s in _load_json(data_dir / eval_set / "schema.json")}
    train_names = {s["service_name"] for s in _load_json(data_dir / "train" / "schema.json")}
    seen = set(eval_services) & train_names
    reference = _dialogues_by_id(sorted((data_dir / eval_set).glob("dialogues_*.json*")))
    predictions = _dialogues_by_id(
        sorted(p for p in prediction_dir.glob("*.json") if p.name != "dialogues_and_metrics.json")
    )
    if not set(predictions) <= set(reference):
        raise ValueError("predicted dialogues not in the reference")
    fuzz = _fuzz()
    joint_keys = ("joint_goal_accuracy", "joint_cat_accuracy", "joint_noncat_accuracy",
                  "consistent_joint_goal_accuracy")
    collections: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    per_frame: dict[str, dict[str, Any]] = {}
    for dialogue_id, hyp in predictions.items():
        ref = reference[dialogue_id]
        if set(ref["services"]) != set(hyp["services"]):
            raise ValueError(f"services differ in {dialogue_id}")
        chains: dict[str, float] = {}
        for turn_index, (turn_ref, turn_hyp) in enumerate(zip(ref["turns"], hyp["turns"], strict=False)):
            if turn_ref["speaker"] != turn_hyp["speaker"]:
                raise ValueError(f"speakers differ in {dialogue_id}")
            if turn_ref["speaker"] != "USER":
                continue
            if turn_ref["utterance"] != turn_hyp["utterance"]:
                raise ValueError(f"utterances differ in {dialogue_id}")
            per_turn: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(lambda: 1.0))
            hyp_frames = {frame["service"]: frame for frame in turn_hyp["frames"]}
            for frame_ref in turn_ref["frames"]:
                name = frame_ref["service"]
                metrics = _baseline_frame(frame_ref, hyp_frames[name], turn_ref["utterance"],
                                          eval_services[name], use_fuzzy_match, fuzz)
                jga = metrics["joint_goal_accuracy"]
                if jga == "NA":
                    metrics["consistent_joint_goal_accuracy"] = "NA"
                else:
                    chains[name] = chains.get(name, 1.0) * jga
                    metrics["consistent_joint_goal_accuracy"] = chains[name]
                per_frame[f"{dialogue_id}-{turn_index:03d}-{name}"] = metrics
                keys = ["#ALL_SERVICES", name, name.split("_")[0],
                        "#SEEN_SERVICES" if name in seen else "#UNSEEN_SERVICES"]
                for key in keys:
                    for metric, value in metrics.items():
                        if value == "NA":
                            continue
                        if joint_acc_across_turn and metric in joint_keys:
                            per_turn[key][metric] *= value
                        else:
                            collections[key][metric].append(value)
            for key, products in per_turn.items():
                for metric, value in products.items():
                    collections[key][metric].append(value)
    aggregated = {key: {metric: float(np.mean(values)) for metric, values in by_metric.items()}
                  for key, by_metric in collections.items()}
    return aggregated, per_frame


# ------------------------------------------------------------------ tod_lab's path


def tod_lab_evaluate(data_dir: str | Path, eval_set: str, prediction_dir: str | Path, **options):
    from tod_lab.eval.sgd import evaluate_prediction_dir

    report, _ = evaluate_prediction_dir(data_dir, eval_set, prediction_dir, **options)
    return report


def write_prediction_set(data_dir: Path, out_dir: Path, *, seed: int = SEED,
                         rate: float = PERTURBATION_RATE) -> int:
    """Noisy predictions for the whole split as plain ``*.json`` files; returns #dialogues."""
    from tod_lab.data.io import write_json
    from tod_lab.data.sgd import read_split
    from tod_lab.eval.perturb import perturbed_predictions

    reference = read_split(data_dir, SPLIT)
    predictions = perturbed_predictions(reference.dialogues, reference.schema, seed=seed, rate=rate)
    for start in range(0, len(predictions), DIALOGUES_PER_FILE):
        chunk = predictions[start : start + DIALOGUES_PER_FILE]
        write_json(out_dir / f"predictions_{start // DIALOGUES_PER_FILE:03d}.json",
                   [d.to_json() for d in chunk], indent=False)
    return len(predictions)


def _timed(fn) -> tuple[float, Any]:
    gc.collect()
    begin = time.perf_counter()
    result = fn()
    return time.perf_counter() - begin, result


def run() -> BenchResult:
    from tod_lab.eval.fuzzy import clear_caches

    data_dir = shared_sgd_root()
    with tempfile.TemporaryDirectory(prefix="tod_lab_bench_eval_sgd_") as tmp:
        prediction_dir = Path(tmp)
        dialogues = write_prediction_set(data_dir, prediction_dir)
        ours_times, baseline_times = [], []
        for _ in range(REPEATS):
            clear_caches()  # every run starts cold: no fuzzy scores remembered
            seconds, report = _timed(lambda: tod_lab_evaluate(data_dir, SPLIT, prediction_dir))
            ours_times.append(seconds)
            seconds, (baseline, _) = _timed(
                lambda: baseline_evaluate(data_dir, SPLIT, prediction_dir)
            )
            baseline_times.append(seconds)
            if report.metrics != baseline:
                raise AssertionError("tod_lab and the baseline disagree on the SGD metrics")
    ours, base = min(ours_times), min(baseline_times)
    return BenchResult(
        name="eval_sgd",
        ours=round(ours, 3),
        baseline=round(base, 3),
        unit="s",
        ratio=ratio_lower_is_better(ours, base),
        details={
            "split": SPLIT,
            "dialogues": dialogues,
            "frames": len(report.frames),
            "joint_goal_accuracy": report.all_services["joint_goal_accuracy"],
            "identical_metrics": True,
            "repeats": REPEATS,
            "ours_all_s": [round(t, 3) for t in ours_times],
            "baseline_all_s": [round(t, 3) for t in baseline_times],
        },
    )
