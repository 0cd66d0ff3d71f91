"""Scoring the agent's predictions with tod_lab's evaluators (never our own JGA / Inform).

* SGD: the predicted dialogues in the official format -> :func:`tod_lab.eval.sgd.
  evaluate_sgd` (protocol ``sgd_official``), plus two end-to-end numbers the official
  evaluator does not have (protocol ``spectod_sgd_e2e``): action F1 on (act, slot) pairs of
  the system turns (micro-averaged) and sacrebleu corpus BLEU of the delexicalised
  responses against the delexicalised references (:func:`tod_lab.spectod.delex.sgd_delex`).
* MultiWOZ: mwzeval-format predictions -> :mod:`tod_lab.eval.multiwoz`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tod_lab.data.io import write_json
from tod_lab.data.types import Action, DialogueSplit, Frame
from tod_lab.errors import DataError
from tod_lab.spectod import delex
from tod_lab.spectod.agent import PredictedTurn
from tod_lab.spectod.functions import FunctionCatalog
from tod_lab.systems import RunResult

SGD_E2E_PROTOCOL = "spectod_sgd_e2e"


def _system_frames(turn: PredictedTurn, catalog: FunctionCatalog) -> tuple[Frame, ...]:
    by_name = {spec.name: spec.service for spec in catalog}
    frames = []
    for domain, acts in turn.record.action.items():
        service = by_name.get(domain.strip("[]"))
        if service is None:
            continue
        actions = tuple(
            Action(act=act.strip("[]").upper(), slot=slot)
            for act, slots in acts.items()
            for slot in (slots or [""])
        )
        frames.append(Frame(service=service, actions=actions))
    return tuple(frames)


def action_f1(pairs: Sequence[tuple[set, set]]) -> dict[str, float]:
    """Micro precision / recall / F1 over (gold pairs, predicted pairs) of every turn."""
    tp = sum(len(gold & hyp) for gold, hyp in pairs)
    n_hyp = sum(len(hyp) for _, hyp in pairs)
    n_gold = sum(len(gold) for gold, _ in pairs)
    precision = tp / n_hyp if n_hyp else 1.0
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"action_precision": precision, "action_recall": recall, "action_f1": f1}


def score_sgd(
    data: DialogueSplit,
    predicted: Mapping[str, Sequence[PredictedTurn]],
    out_dir: Path,
    catalog: FunctionCatalog,
    train_services: Sequence[str],
) -> RunResult:
    import sacrebleu

    from tod_lab.eval.sgd import evaluate_sgd
    from tod_lab.spectod.state import sgd_prediction_dialogue

    function_names = {spec.service: spec.name for spec in catalog}
    dialogues = []
    pairs: list[tuple[set, set]] = []
    hypotheses: list[str] = []
    references: list[str] = []
    for reference in data:
        turns = predicted[reference.dialogue_id]
        user_states = [t.sgd_states(reference.services) for t in turns]
        system_frames = []
        for position, turn in enumerate(reference.turns):
            if turn.is_user:
                continue
            user_index = sum(1 for t in reference.turns[:position] if t.is_user) - 1
            guess = turns[user_index]
            system_frames.append(_system_frames(guess, catalog))
            pairs.append(
                (
                    delex.action_pairs(delex.sgd_action(turn, function_names)),
                    delex.action_pairs(guess.record.action),
                )
            )
            hypotheses.append(guess.record.response)
            references.append(delex.sgd_delex(turn))
        dialogues.append(sgd_prediction_dialogue(reference, user_states, system_frames))
    sgd_dir = out_dir / "sgd"
    sgd_dir.mkdir(parents=True, exist_ok=True)
    path = write_json(sgd_dir / "dialogues_001.json", [d.to_json() for d in dialogues])
    report = evaluate_sgd(data, dialogues, train_services)
    metrics = dict(report.flat_metrics())
    protocols = dict(report.protocols())
    e2e = action_f1(pairs)
    e2e["bleu_delex"] = sacrebleu.corpus_bleu(hypotheses, [references]).score if references else 0.0
    metrics.update(e2e)
    protocols.update({name: SGD_E2E_PROTOCOL for name in e2e})
    write_json(out_dir / "sgd_metrics.json", report.metrics)
    write_json(out_dir / "sgd_e2e_metrics.json", {"protocol": SGD_E2E_PROTOCOL, **e2e})
    return RunResult(
        metrics=metrics,
        protocols=protocols,
        main_metric="joint_goal_accuracy",
        files={"predictions": str(path), "sgd_metrics": str(out_dir / "sgd_metrics.json"),
               "sgd_e2e_metrics": str(out_dir / "sgd_e2e_metrics.json")},
    )


def multiwoz_predictions(
    data: DialogueSplit, predicted: Mapping[str, Sequence[PredictedTurn]],
    catalog: FunctionCatalog,
) -> dict[str, list[dict]]:
    """mwzeval's format: one entry per system turn with response, state, active domains."""
    from tod_lab.eval.multiwoz import dialogue_key

    services = {spec.name: spec.service for spec in catalog}
    out: dict[str, list[dict]] = {}
    for dialogue in data:
        out[dialogue_key(dialogue.dialogue_id)] = [
            {
                "response": turn.record.response,
                "state": turn.multiwoz_state(drop_dontcare=True),
                "active_domains": [services[name] for name in turn.functions if name in services],
            }
            for turn in predicted[dialogue.dialogue_id]
            if turn.record.has_response
        ]
    return out


def corpus_root(data: DialogueSplit, configured: str | None) -> Path:
    if configured:
        return Path(configured)
    if data.files:
        return Path(data.files[0]).parent.parent  # {root}/{split}/dialogues_001.json
    raise DataError(f"{data.corpus}/{data.split}: cannot tell the corpus root",
                    hint="set system.eval_root to the MultiWOZ data root")


def score_multiwoz(
    data: DialogueSplit,
    predicted: Mapping[str, Sequence[PredictedTurn]],
    out_dir: Path,
    catalog: FunctionCatalog,
    *,
    eval_root: str | None = None,
    db_dir: str | None = None,
) -> RunResult:
    from tod_lab.eval.multiwoz import evaluate_multiwoz, load_references

    predictions = multiwoz_predictions(data, predicted, catalog)
    path = write_json(out_dir / "mwz_predictions.json", predictions)
    root = corpus_root(data, eval_root)
    # Inform / Success need mwzeval's goals and booked domains; without them (e.g. a
    # fixture) BLEU and DST are still scored and the run says what is missing
    success = (root / "goals.json").is_file() and (root / "booked_domains.json").is_file()
    refs = load_references(root, split=data.split, bleu=True, success=success, dst=True,
                           db_dir=db_dir or data.extras.get("db_dir"))
    report = evaluate_multiwoz(predictions, refs, bleu=True, success=success, dst=True)
    write_json(out_dir / "mwz_metrics.json", report.to_json())
    metrics = report.flat_metrics()
    details = {"references": refs.sources}
    if not success:
        details["inform_success"] = (
            f"not computed: {root}/goals.json and booked_domains.json (mwzeval's) are missing"
        )
    return RunResult(
        metrics=metrics,
        protocols=report.protocols(),
        main_metric="combined" if "combined" in metrics else "jga_mwzeval",
        files={"predictions": str(path), "mwz_metrics": str(out_dir / "mwz_metrics.json")},
        details=details,
    )
