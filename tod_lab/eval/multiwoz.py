"""MultiWOZ metrics: Inform, Success, BLEU, Combined (mwzeval) and DST joint accuracy.

Protocols (every number says which one produced it):

- ``mwzeval`` — Tomiinek/MultiWOZ_Evaluation, the community standard for MultiWOZ 2.2
  end-to-end results: its prediction format, normalisation
  (:mod:`tod_lab.eval.mwz_normalize`), database semantics (:mod:`tod_lab.eval.mwz_db`),
  user goals and booked domains, sacrebleu BLEU against the delexicalised MultiWOZ 2.2
  references, DST joint accuracy with fuzzy ``partial_ratio > 95`` per slot. Inform and
  Success are percentages over dialogues rounded to 0.1 as mwzeval reports them; Combined
  = 0.5 * (Inform + Success) + BLEU (computed by tod_lab, not by mwzeval).
- ``spectod_fnctod`` — DST joint accuracy as Spec-TOD / FnCTOD compute it: belief states
  as ``(domain, slot, value)`` sets after TRADE-style cleaning
  (:mod:`tod_lab.eval.fnctod_cleaning`), predicted ``dontcare`` ignored, exact set match
  (values first normalised as mwzeval stores its gold states, on both sides).

Predictions (mwzeval's format, ``.json`` or ``.json.gz``)::

    {"sng0073": [{"response": "delexicalised system turn, [value_name] style",
                  "state": {"restaurant": {"food": "chinese"}},     # optional
                  "active_domains": ["restaurant"]}, ...], ...}   # optional

one entry per *system* turn; ids are lower-case without ``.json`` (``SNG0073.json`` is
accepted and normalised). Without states mwzeval uses the gold states for Inform/Success;
without ``active_domains`` it estimates them from state changes — both reproduced here.

Data root (what :func:`load_references` reads; ``make data`` fetches it when online)::

    goals.json            mwzeval's user goals {id: {domain: {"informable": {...},
                          "requestable": ["PHONE", "REFERENCE", ...]}}}          (--success)
    booked_domains.json   mwzeval's {id: [[domains booked by system turn i], ...]}  (--success)
    db/                   the MultiWOZ venue databases ({domain}_db.json)       (--success)
    references/mwz22.json mwzeval's normalised delexicalised references       (--bleu)
    gold_states.json      mwzeval's gold states per system turn               (--dst)

``references/mwz22.json`` and ``gold_states.json`` may instead be derived from the MultiWOZ
2.2 corpus in the same root (``{split}/dialogues_*.json`` + ``dialog_acts.json``, read with
``tod_lab.data.multiwoz.read_split``), exactly as mwzeval builds them.

API::

    refs = load_references(data_root, split="test")
    report = evaluate_multiwoz(predictions, refs, bleu=True, success=True, dst=True)
    report.inform, report.success, report.bleu, report.combined, report.dst
    report.flat_metrics(), report.protocols()      # for metrics.json

CLI: ``python -m tod_lab.eval.multiwoz --predictions F --data_root D [--bleu] [--success]
[--dst] [--output OUT.json] [--run_dir R]``.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tod_lab.data.io import read_json
from tod_lab.errors import DataError
from tod_lab.eval.fnctod_cleaning import clean_triples
from tod_lab.eval.mwz_db import MultiWOZDatabase, partial_ratio
from tod_lab.eval.mwz_normalize import normalize_response, normalize_state

PROTOCOL_MWZEVAL = "mwzeval"
PROTOCOL_SPECTOD = "spectod_fnctod"

REQUESTABLE_TOKENS = ("PHONE", "ADDRESS", "POST", "REFERENCE", "TRAINID")
NAMED_VENUE_DOMAINS = ("restaurant", "hotel", "attraction")
NO_VENUE_DOMAINS = ("taxi", "police", "hospital")
DST_FUZZY_RATIO = 95

Predictions = dict[str, list[dict[str, Any]]]
State = dict[str, dict[str, Any]]


def dialogue_key(dialogue_id: str) -> str:
    """mwzeval's dialogue key: ``PMUL0001.json`` -> ``pmul0001``."""
    return dialogue_id.split(".")[0].lower()


# ------------------------------------------------------------------ references


@dataclass
class MultiWOZReferences:
    """What the MultiWOZ metrics compare predictions with (each part optional)."""

    goals: dict[str, dict[str, Any]] | None = None
    booked_domains: dict[str, list[list[str]]] | None = None
    responses: dict[str, list[str]] | None = None  # normalised delexicalised references
    gold_states: dict[str, list[State]] | None = None  # normalised, per system turn
    database: MultiWOZDatabase | None = None
    sources: dict[str, str] = field(default_factory=dict)  # part -> file it came from


def delexicalize(utterance: str, spans: Iterable[Sequence[Any]]) -> str:
    """mwzeval's delexicalisation: each span ``[act, slot, value, start, end]`` -> ``[slot]``.

    Spans are taken in start order; a span starting inside the previous one, or whose
    value is ``dontcare``, is skipped.
    """
    out, previous_end = [], 0
    for _, slot, value, start, end in sorted(spans, key=lambda span: span[-2]):
        if start < previous_end or value == "dontcare":
            continue
        out.append(utterance[previous_end:start])
        out.append(f"[{slot}]")
        previous_end = end
    out.append(utterance[previous_end:])
    return "".join(out)


def _user_state(turn) -> State:
    """mwzeval's gold state of a user turn: first value of each slot, dontcare left out."""
    state: State = {}
    for frame in turn.frames:
        if frame.state is None:
            continue
        values = {
            name.split("-", 1)[1] if "-" in name else name: vals[0]
            for name, vals in frame.state.slot_values.items()
            if vals and "dontcare" not in vals
        }
        if values:
            state[frame.service] = values
    return state


def references_from_corpus(root: str | Path, split: str) -> tuple[dict, dict]:
    """Normalised delexicalised responses and gold states from a MultiWOZ 2.2 split."""
    from tod_lab.data.multiwoz import read_split

    data = read_split(root, split)
    acts = data.extras.get("dialog_acts", {})
    responses: dict[str, list[str]] = {}
    states: dict[str, list[State]] = {}
    for dialogue in data.dialogues:
        key = dialogue_key(dialogue.dialogue_id)
        dialogue_acts = acts.get(dialogue.dialogue_id, {})
        state: State = {}
        responses[key], states[key] = [], []
        for index, turn in enumerate(dialogue.turns):
            if index % 2 == 0:
                state = _user_state(turn)
                continue
            turn_acts = dialogue_acts.get(turn.turn_id or str(index), {})
            text = delexicalize(turn.utterance, turn_acts.get("span_info", []))
            responses[key].append(normalize_response(text))
            states[key].append(normalize_state(state))
    return responses, states


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"expected a JSON object {{dialogue_id: ...}} of {what}", file=path)
    return {dialogue_key(k): v for k, v in data.items()}


def load_references(
    data_root: str | Path,
    *,
    split: str = "test",
    bleu: bool = True,
    success: bool = True,
    dst: bool = True,
    db_dir: str | Path | None = None,
) -> MultiWOZReferences:
    """Read what the requested metrics need from the data root (see the module docstring)."""
    root = Path(data_root)
    refs = MultiWOZReferences()
    corpus: tuple[dict, dict] | None = None

    def from_corpus() -> tuple[dict, dict]:
        nonlocal corpus
        if corpus is None:
            if not (root / split).is_dir():
                raise DataError(
                    f"neither mwzeval's file nor the MultiWOZ 2.2 {split} split is in the data root",
                    file=root,
                    hint="add references/mwz22.json and gold_states.json (mwzeval) or "
                    f"{split}/dialogues_*.json + dialog_acts.json (MultiWOZ 2.2); `make data`",
                )
            corpus = references_from_corpus(root, split)
        return corpus

    if success:
        for name in ("goals", "booked_domains"):
            path = root / f"{name}.json"
            if not path.is_file():
                raise DataError(
                    f"mwzeval's {name}.json is needed for Inform / Success",
                    file=path,
                    hint="copy it from mwzeval's data/ directory (`make data` when online)",
                )
            setattr(refs, name, _read_mapping(path, name))
            refs.sources[name] = str(path)
        refs.database = MultiWOZDatabase(db_dir or root / "db")
        refs.sources["database"] = str(refs.database.db_dir)
    if bleu:
        path = root / "references" / "mwz22.json"
        if path.is_file():
            refs.responses = _read_mapping(path, "references")
            refs.sources["responses"] = str(path)
        else:
            refs.responses = from_corpus()[0]
            refs.sources["responses"] = str(root / split)
    if dst or success:
        path = root / "gold_states.json"
        if path.is_file():
            refs.gold_states = _read_mapping(path, "gold states")
            refs.sources["gold_states"] = str(path)
        elif dst or (root / split).is_dir():
            refs.gold_states = from_corpus()[1]
            refs.sources["gold_states"] = str(root / split)
    return refs


# ------------------------------------------------------------------ predictions


def read_predictions(path: str | Path) -> Predictions:
    """mwzeval-format predictions from a ``.json`` / ``.json.gz`` file, validated."""
    return validate_predictions(read_json(path), file=path)


def validate_predictions(data: Any, *, file: str | Path | None = None) -> Predictions:
    """Check the mwzeval format; returns the predictions keyed by normalised dialogue ids."""
    if not isinstance(data, dict):
        raise DataError(
            "expected a JSON object {dialogue_id: [system turn, ...]}",
            file=file,
            hint='each turn is {"response": ..., "state"?: ..., "active_domains"?: ...}',
        )
    out: Predictions = {}
    for dialogue_id, turns in data.items():
        key = dialogue_key(dialogue_id)
        if key in out:
            raise DataError("dialogue predicted twice", file=file, dialogue_id=dialogue_id)
        if not isinstance(turns, list):
            raise DataError("expected a list of system turns", file=file, dialogue_id=dialogue_id)
        for index, turn in enumerate(turns):
            problem = _turn_problem(turn)
            if problem:
                raise DataError(problem, file=file, dialogue_id=dialogue_id, turn=index)
        out[key] = turns
    if not out:
        raise DataError("no predicted dialogues", file=file)
    return out


def _turn_problem(turn: Any) -> str | None:
    if not isinstance(turn, dict):
        return "a turn must be an object with a 'response'"
    if not isinstance(turn.get("response"), str):
        return "a turn needs a string 'response'"
    state = turn.get("state")
    if state is not None and not (
        isinstance(state, dict)
        and all(
            isinstance(slots, dict) and all(isinstance(v, str) for v in slots.values())
            for slots in state.values()
        )
    ):
        return "'state' must be {domain: {slot: value}} with string values"
    domains = turn.get("active_domains")
    if domains is not None and not isinstance(domains, list):
        return "'active_domains' must be a list of domains"
    return None


def normalize_predictions(predictions: Mapping[str, list[dict[str, Any]]]) -> Predictions:
    """A normalised deep copy (mwzeval's ``normalize_data``): responses and states."""
    out: Predictions = {}
    for key, turns in predictions.items():
        normalized = []
        for turn in turns:
            turn = copy.deepcopy(turn)
            turn["response"] = _normalized_response(turn["response"])
            if "state" in turn:
                turn["state"] = normalize_state(turn["state"])
            normalized.append(turn)
        out[key] = normalized
    return out


@lru_cache(maxsize=1 << 16)
def _normalized_response(response: str) -> str:
    return normalize_response(response)


def _check_turn_counts(predictions: Predictions, expected: Mapping[str, list], what: str) -> None:
    for key, turns in predictions.items():
        if key not in expected:
            raise DataError(
                f"predicted dialogue has no {what}",
                dialogue_id=key,
                hint="predict dialogues of the evaluated split (ids like sng0073)",
            )
        if len(turns) != len(expected[key]):
            raise DataError(
                f"{len(turns)} predicted system turns, the {what} have {len(expected[key])}",
                dialogue_id=key,
            )


# ------------------------------------------------------------------ BLEU


def bleu_score(normalized: Predictions, references: Mapping[str, list[str]]) -> float:
    """sacrebleu corpus BLEU of the normalised responses against the MultiWOZ 2.2 ones."""
    from sacrebleu import corpus_bleu

    _check_turn_counts(normalized, references, "references")
    hypotheses, reference = [], []
    for key, turns in normalized.items():
        for index, turn in enumerate(turns):
            hypotheses.append(turn["response"])
            reference.append(references[key][index])
    return corpus_bleu(hypotheses, [reference]).score


# ------------------------------------------------------------------ Inform / Success


def estimate_active_domains(states: Sequence[State]) -> list[list[str]]:
    """mwzeval's guess of each turn's domain from how the state changed.

    The current domain becomes the changed domain with most slots, unless the current one
    changed too; when nothing changed after a turn that changed several domains, the next
    of those takes over. Before any state, no domain is active.
    """
    current: str | None = None
    old_state: State = {}
    old_changed: list[str] = []
    estimates: list[list[str]] = []
    for state in states:
        changed = [
            domain
            for domain in state
            if set(state.get(domain, {}).items()) - set(old_state.get(domain, {}).items())
        ]
        if not changed:
            if current is None:
                estimates.append([])
                continue
            if len(old_changed) > 1:
                old_changed = [d for d in old_changed if d in state and d != current]
                if old_changed:
                    current = old_changed[0]
        elif current not in changed:
            current = max(changed, key=lambda domain: len(state[domain]))
        old_state = state
        old_changed = changed
        estimates.append([current])
    return estimates


@dataclass(frozen=True)
class DialogueOutcome:
    """Inform (``match``) and Success per goal domain of one dialogue, plus ``total``."""

    match: dict[str, bool]
    success: dict[str, bool]


def dialogue_success(
    goal: Mapping[str, Any],
    booked_domains: Sequence[Sequence[str]],
    responses: Sequence[str],
    states: Sequence[State],
    active_domains: Sequence[Sequence[str]],
    database: MultiWOZDatabase,
) -> DialogueOutcome:
    """mwzeval's Inform and Success of one dialogue (normalised responses and states).

    Offered venues: when a response mentions ``NAME`` (restaurant, hotel, attraction) or
    ``TRAINID`` (train) for an active goal domain, the DB results for the current state;
    they are replaced when the new results do not contain all of them. Inform holds for a
    domain when the offered venues are a subset of the DB results for the goal (automatic
    when the goal names the venue, for taxi / police / hospital, and for a train that was
    neither offered nor asked for by id). Success (only when Inform holds everywhere): every
    requested PHONE / ADDRESS / POST / TRAINID / REFERENCE was mentioned while the domain
    was active — REFERENCE counts only in turns where the domain is booked.
    """
    requested = {domain: set(goal[domain]["requestable"]) for domain in goal}
    offered: dict[str, Any] = {domain: [] for domain in goal}
    provided: dict[str, set[str]] = {domain: set() for domain in goal}
    for response, state, booked, active in zip(
        responses, states, booked_domains, active_domains, strict=False
    ):
        for domain in goal:
            if domain not in active:
                continue
            names_venue = ("NAME" in response and domain in NAMED_VENUE_DOMAINS) or (
                "TRAINID" in response and domain == "train"
            )
            if names_venue:
                venues = database.query(domain, state[domain]) if domain in state else []
                if not offered[domain] or any(v not in venues for v in offered[domain]):
                    offered[domain] = venues
            for token in REQUESTABLE_TOKENS:
                if token in response and (token != "REFERENCE" or domain in booked):
                    provided[domain].add(token)
    for domain in goal:
        if "name" in goal[domain]["informable"] or domain in NO_VENUE_DOMAINS:
            offered[domain] = "MATCHED"
        if domain == "train" and not offered[domain] and "TRAINID" not in requested["train"]:
            offered[domain] = "MATCHED"
    match: dict[str, bool] = {}
    for domain in goal:
        if offered[domain] == "MATCHED":
            match[domain] = True
        elif domain in (*NAMED_VENUE_DOMAINS, "train") and offered[domain]:
            goal_venues = set(database.query(domain, goal[domain]["informable"]))
            match[domain] = set(offered[domain]) <= goal_venues
        else:
            match[domain] = False
    match["total"] = all(match.values())
    success: dict[str, bool] = {}
    if match["total"]:
        for domain in goal:
            success[domain] = requested[domain] <= provided[domain]
        success["total"] = all(success.values())
    return DialogueOutcome(match=match, success=success)


def inform_success(
    normalized: Predictions,
    goals: Mapping[str, Any],
    booked_domains: Mapping[str, list[list[str]]],
    database: MultiWOZDatabase,
    gold_states: Mapping[str, list[State]] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, DialogueOutcome]]:
    """mwzeval's ``get_success``: ``{"inform": {domain|total: %}, "success": {...}}``."""
    for key in normalized:
        if key not in goals or key not in booked_domains:
            raise DataError("predicted dialogue has no goal / booked domains", dialogue_id=key)
    _check_turn_counts(normalized, booked_domains, "booked domains")
    all_states = all("state" in t for turns in normalized.values() for t in turns)
    if not all_states:
        if gold_states is None:
            raise DataError(
                "some turns have no predicted state and no gold states are available",
                hint="add gold_states.json (or the MultiWOZ 2.2 split) to the data root",
            )
        _check_turn_counts(normalized, gold_states, "gold states")
    all_domains = all("active_domains" in t for turns in normalized.values() for t in turns)
    totals: Counter[str] = Counter()
    informed: Counter[str] = Counter()
    succeeded: Counter[str] = Counter()
    outcomes: dict[str, DialogueOutcome] = {}
    for key, turns in normalized.items():
        states = [t["state"] for t in turns] if all_states else gold_states[key]  # type: ignore[index]
        active = (
            [t["active_domains"] for t in turns] if all_domains else estimate_active_domains(states)
        )
        outcome = dialogue_success(
            goals[key], booked_domains[key], [t["response"] for t in turns], states, active,
            database,
        )
        outcomes[key] = outcome
        for domain in set(outcome.match) | set(outcome.success):
            totals[domain] += 1
            informed[domain] += outcome.match.get(domain, False)
            succeeded[domain] += outcome.success.get(domain, False)
    rates = {
        "inform": {d: round(100 * informed[d] / totals[d], 1) for d in totals},
        "success": {d: round(100 * succeeded[d] / totals[d], 1) for d in totals},
    }
    return rates, outcomes


# ------------------------------------------------------------------ DST


def _flatten(state: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(domain, slot): value for domain, slots in state.items() for slot, value in slots.items()}


def _ratio(a: Any, b: Any) -> int:
    if isinstance(a, str) and isinstance(b, str):
        return partial_ratio(a, b)
    from fuzzywuzzy import fuzz

    return fuzz.partial_ratio(a, b)


def dst_mwzeval(
    normalized: Predictions, gold_states: Mapping[str, list[State]], fuzzy_ratio: int = DST_FUZZY_RATIO
) -> dict[str, float]:
    """mwzeval's ``get_dst``: joint accuracy (%), slot F1 (%), precision, recall.

    A turn is jointly right when the predicted and gold (domain, slot) sets are equal and
    every value's ``partial_ratio`` with the gold one is above ``fuzzy_ratio``.
    """
    _require_states(normalized)
    _check_turn_counts(normalized, gold_states, "gold states")
    joint = turns = tp = fp = fn = 0
    for key, predicted in normalized.items():
        for index, turn in enumerate(predicted):
            ref = _flatten(gold_states[key][index])
            hyp = _flatten(turn["state"])
            if hyp.keys() == ref.keys() and all(
                _ratio(hyp[k], ref[k]) > fuzzy_ratio for k in ref
            ):
                joint += 1
            for slot, value in hyp.items():
                if slot in ref and _ratio(value, ref[slot]) > fuzzy_ratio:
                    tp += 1
                else:
                    fp += 1
            for slot, value in ref.items():
                if slot not in hyp or _ratio(hyp[slot], value) <= fuzzy_ratio:
                    fn += 1
            turns += 1
    precision = tp / (tp + fp + 1e-10)
    recall = tp / (tp + fn + 1e-10)
    return {
        "joint_accuracy": joint / (turns + 1e-10) * 100,
        "slot_f1": 2 * precision * recall / (precision + recall + 1e-10) * 100,
        "slot_precision": precision,
        "slot_recall": recall,
    }


def _require_states(predictions: Predictions) -> None:
    for key, turns in predictions.items():
        for index, turn in enumerate(turns):
            if "state" not in turn:
                raise DataError(
                    "DST needs a predicted 'state' in every turn", dialogue_id=key, turn=index
                )


def fnctod_slot(slot: str) -> str:
    """Slot names as FnCTOD / UBAR write them: ``restaurant-bookday`` -> ``day``."""
    slot = slot.split("-", 1)[-1].lower().replace(" ", "")
    slot = slot.removeprefix("book") if slot.startswith("book") and len(slot) > 4 else slot
    return {"arriveby": "arrive", "leaveat": "leave"}.get(slot, slot)


def fnctod_triples(state: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """``(f"[{domain}]", slot, value)`` with lower-cased, whitespace-collapsed values."""
    return [
        (f"[{domain.lower()}]", fnctod_slot(slot), " ".join(str(value).lower().split()))
        for domain, slots in state.items()
        for slot, value in slots.items()
    ]


def dst_spectod_fnctod(
    predictions: Predictions,
    gold_states: Mapping[str, list[State]],
    *,
    ignore_dontcare_in_pred: bool = True,
) -> dict[str, float]:
    """Spec-TOD / FnCTOD joint accuracy (%): cleaned triple sets equal, per system turn.

    Pass states normalised like the gold ones (:func:`normalize_predictions`; mwzeval's
    gold states are stored normalised), so both sides go through the same transformations
    and a prediction equal to the reference always scores.
    """
    _require_states(predictions)
    _check_turn_counts(predictions, gold_states, "gold states")
    joint = turns = 0
    for key, predicted in predictions.items():
        for index, turn in enumerate(predicted):
            target = clean_triples(fnctod_triples(gold_states[key][index]))
            hyp = clean_triples(fnctod_triples(turn["state"]), ignore_dontcare=ignore_dontcare_in_pred)
            joint += hyp == target
            turns += 1
    return {"joint_accuracy": 100 * joint / turns if turns else 0.0}


# ------------------------------------------------------------------ report


@dataclass
class MultiWOZReport:
    inform: dict[str, float] | None = None  # domain | "total" -> %
    success: dict[str, float] | None = None
    bleu: float | None = None
    dst: dict[str, dict[str, float]] = field(default_factory=dict)  # protocol -> metrics
    dialogues: int = 0
    outcomes: dict[str, DialogueOutcome] = field(default_factory=dict)

    @property
    def combined(self) -> float | None:
        """0.5 * (Inform + Success) + BLEU, from mwzeval's (rounded) totals."""
        if self.inform is None or self.success is None or self.bleu is None:
            return None
        return 0.5 * (self.inform.get("total", 0.0) + self.success.get("total", 0.0)) + self.bleu

    def flat_metrics(self) -> dict[str, float]:
        flat: dict[str, float] = {}
        if self.inform is not None and self.success is not None:
            flat["inform"] = self.inform.get("total", 0.0)
            flat["success"] = self.success.get("total", 0.0)
        if self.bleu is not None:
            flat["bleu"] = self.bleu
        if self.combined is not None:
            flat["combined"] = self.combined
        if PROTOCOL_MWZEVAL in self.dst:
            flat["jga_mwzeval"] = self.dst[PROTOCOL_MWZEVAL]["joint_accuracy"]
            flat["slot_f1_mwzeval"] = self.dst[PROTOCOL_MWZEVAL]["slot_f1"]
        if PROTOCOL_SPECTOD in self.dst:
            flat["jga_spectod_fnctod"] = self.dst[PROTOCOL_SPECTOD]["joint_accuracy"]
        return flat

    def protocols(self) -> dict[str, str]:
        return {
            name: PROTOCOL_SPECTOD if name.endswith(PROTOCOL_SPECTOD) else PROTOCOL_MWZEVAL
            for name in self.flat_metrics()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "inform": self.inform,
            "success": self.success,
            "bleu": self.bleu,
            "combined": self.combined,
            "dst": self.dst,
            "dialogues": self.dialogues,
            "protocols": self.protocols(),
        }


def evaluate_multiwoz(
    predictions: Mapping[str, list[dict[str, Any]]],
    references: MultiWOZReferences,
    *,
    bleu: bool = True,
    success: bool = True,
    dst: bool = True,
    dst_flavours: Iterable[str] = (PROTOCOL_MWZEVAL, PROTOCOL_SPECTOD),
) -> MultiWOZReport:
    """Every requested MultiWOZ metric of mwzeval-format predictions (see the module doc)."""
    raw = validate_predictions(dict(predictions))
    normalized = normalize_predictions(raw)
    report = MultiWOZReport(dialogues=len(raw))
    if bleu:
        if references.responses is None:
            raise DataError("BLEU needs the MultiWOZ 2.2 references (references/mwz22.json)")
        report.bleu = bleu_score(normalized, references.responses)
    if success:
        if references.goals is None or references.booked_domains is None or references.database is None:
            raise DataError("Inform / Success need goals.json, booked_domains.json and db/")
        rates, report.outcomes = inform_success(
            normalized, references.goals, references.booked_domains, references.database,
            references.gold_states,
        )
        report.inform, report.success = rates["inform"], rates["success"]
    if dst:
        if references.gold_states is None:
            raise DataError("DST needs the gold states (gold_states.json or the MultiWOZ 2.2 split)")
        for flavour in dst_flavours:
            if flavour == PROTOCOL_MWZEVAL:
                report.dst[flavour] = dst_mwzeval(normalized, references.gold_states)
            elif flavour == PROTOCOL_SPECTOD:
                report.dst[flavour] = dst_spectod_fnctod(normalized, references.gold_states)
            else:
                raise ValueError(f"unknown DST flavour {flavour!r}")
    return report


__all__ = [
    "PROTOCOL_MWZEVAL",
    "PROTOCOL_SPECTOD",
    "DialogueOutcome",
    "MultiWOZReferences",
    "MultiWOZReport",
    "bleu_score",
    "delexicalize",
    "dialogue_key",
    "dialogue_success",
    "dst_mwzeval",
    "dst_spectod_fnctod",
    "estimate_active_domains",
    "evaluate_multiwoz",
    "inform_success",
    "load_references",
    "normalize_predictions",
    "read_predictions",
    "references_from_corpus",
    "validate_predictions",
]


def main(argv: list[str] | None = None) -> int:
    """The CLI (``python -m tod_lab.eval.multiwoz``); see :mod:`tod_lab.eval.multiwoz_cli`."""
    from tod_lab.eval.multiwoz_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
