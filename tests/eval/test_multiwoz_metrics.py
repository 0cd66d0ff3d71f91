"""MultiWOZ Inform / Success / BLEU / Combined and both DST flavours on hand-built fixtures."""

from __future__ import annotations

import copy
import json
import math

import eval_mwz_fixtures as F
import pytest

from tod_lab.errors import DataError
from tod_lab.eval import multiwoz as M
from tod_lab.eval.fnctod_cleaning import clean_triples, fix_mismatch
from tod_lab.eval.multiwoz_cli import main
from tod_lab.eval.mwz_db import MultiWOZDatabase
from tod_lab.eval.mwz_normalize import canonical_time, normalize_response, normalize_state


@pytest.fixture
def data_root(tmp_path):
    return F.write_data_root(tmp_path / "mwz")


@pytest.fixture
def refs(data_root):
    return M.load_references(data_root)


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("[restaurant_name] is in the [value_area] .", "NAME is in the AREA."),
        ("I found [value_choice] [hotel_name]s for you", "i found COUNT NAME for you"),
        ("call [taxi_phone] , ref [value_reference]", "call PHONE, ref REFERENCE"),
        ("the [unknown_slot] is here", "the is here"),  # unknown placeholders vanish
        ("[train_id] leaves at [value_leave]", "TRAINID leaves at TIME"),
    ],
)
def test_normalize_response(response, expected):
    assert normalize_response(response) == expected


@pytest.mark.parametrize(
    ("time", "expected"),
    [("8:00 pm", "20:00"), ("after 9:15", "09:15"), ("1545", "15:45"), ("7", "07:00"),
     ("morning", "08:00"), ("by 5 pm", "17:00"), ("", "00:00"), ("9:30am", "09:30")],
)
def test_canonical_time(time, expected):
    assert canonical_time(time) == expected


def test_normalize_state_renames_slots_and_values():
    state = {"hotel": {"Arrive By": "8 pm", "type": "guest house", "parking": "free",
                       "name": "Lime House"}}
    assert normalize_state(state) == {
        "hotel": {"arrive": "20:00", "type": "guesthouse", "parking": "yes", "name": "limehouse"}
    }


# ------------------------------------------------------------------ database


def test_tiny_database_queries(data_root):
    db = MultiWOZDatabase(data_root / "db")
    assert db.query("restaurant", F.CHEAP_CHINESE) == ["r1", "r2"]
    assert db.query("restaurant", F.CHINESE) == ["r1", "r2", "r3"]  # several offered venues
    assert db.query("restaurant", {"name": "pizza hut", "food": "dontcare"}) == ["r4"]  # fuzzy
    assert db.query("hotel", {"type": "guest house", "parking": "free"}) == ["h1"]
    assert db.query("train", {"destination": "london kings cross", "arrive": "08:00"}) == [
        "TR1", "TR2"]  # arrive no later than 08:00
    assert db.query("train", {"leave": "08:30"}) == ["TR3", "TR4"]  # leave no earlier
    assert db.query("taxi", {"destination": "x"}) == []
    assert db.query("attraction", {"name": "christ college"}) == ["a1"]  # name spelling fix


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="restaurant database not found"):
        MultiWOZDatabase(tmp_path)


# ------------------------------------------------------------------ Inform / Success


def test_inform_success_match_hand_computed_values(refs):
    report = M.evaluate_multiwoz(F.PREDICTIONS, refs, bleu=False, dst=False)
    assert report.inform == F.EXPECTED_INFORM
    assert report.success == F.EXPECTED_SUCCESS
    out = report.outcomes
    # D2: train never offered, no train id requested -> matched automatically
    assert out["sng0002"].match == {"train": True, "total": True}
    # D3: train id requested but never offered -> no inform, no success evaluated
    assert out["sng0003"].match == {"train": False, "total": False} and out["sng0003"].success == {}
    # D4: goal names the hotel (matched); REFERENCE given only before the booking -> no success
    assert out["sng0004"].match["hotel"] and out["sng0004"].success == {"hotel": False, "total": False}
    # D5 / D6 / D7: the last consistent set of offered venues decides
    assert out["sng0005"].match["restaurant"] and out["sng0006"].match["restaurant"]
    assert out["sng0007"].match == {"restaurant": False, "total": False}


def test_reference_counts_once_the_domain_is_booked(data_root):
    booked = dict(F.BOOKED_DOMAINS, sng0004=[["hotel"], ["hotel"]])
    (data_root / "booked_domains.json").write_text(json.dumps(booked))
    report = M.evaluate_multiwoz(F.PREDICTIONS, M.load_references(data_root), bleu=False, dst=False)
    assert report.outcomes["sng0004"].success == {"hotel": True, "total": True}
    assert report.success["total"] == round(100 * 5 / 7, 1)


def test_gold_states_replace_missing_predicted_states(data_root):
    predictions = copy.deepcopy(F.PREDICTIONS)
    for turns in predictions.values():
        for turn in turns:
            del turn["state"]
    gold = F.gold_states()
    gold["sng0007"] = [normalize_state({"restaurant": F.CHEAP_CHINESE})]  # now fully specified
    (data_root / "gold_states.json").write_text(json.dumps(gold))
    report = M.evaluate_multiwoz(predictions, M.load_references(data_root), bleu=False, dst=False)
    assert report.outcomes["sng0007"].match["restaurant"]
    assert report.inform["total"] == round(100 * 6 / 7, 1)
    assert report.success["total"] == round(100 * 5 / 7, 1)  # D7 gave the phone


def test_active_domains_estimated_from_state_changes():
    states = [
        {},
        {"restaurant": {"food": "chinese"}},
        {"restaurant": {"food": "chinese"}, "hotel": {"area": "north", "stars": "4"}},
        {"restaurant": {"food": "chinese"}, "hotel": {"area": "north", "stars": "4"}},
        {"restaurant": {"food": "chinese", "pricerange": "cheap"},
         "hotel": {"area": "north", "stars": "4"}, "taxi": {"destination": "x"}},
        {"restaurant": {"food": "chinese", "pricerange": "cheap"},
         "hotel": {"area": "north", "stars": "4"}, "taxi": {"destination": "x"}},
    ]
    assert M.estimate_active_domains(states) == [
        [], ["restaurant"], ["hotel"], ["hotel"], ["restaurant"], ["taxi"]
    ]


def test_estimated_domains_are_used_when_predictions_have_none(refs):
    predictions = copy.deepcopy(F.PREDICTIONS)
    for turns in predictions.values():
        for turn in turns:
            del turn["active_domains"]
    report = M.evaluate_multiwoz(predictions, refs, bleu=False, dst=False)
    # pmul0001's taxi turn: taxi changed -> taxi active, as given before
    assert report.inform == F.EXPECTED_INFORM and report.success == F.EXPECTED_SUCCESS


# ------------------------------------------------------------------ BLEU and Combined


def test_bleu_and_combined(refs):
    report = M.evaluate_multiwoz(F.PREDICTIONS, refs, dst=False)
    assert report.bleu == pytest.approx(100.0)
    assert report.combined == pytest.approx(0.5 * (71.4 + 57.1) + 100.0)
    assert report.flat_metrics()["combined"] == report.combined
    assert set(report.protocols().values()) == {"mwzeval"}


def test_bleu_hand_computed():
    predictions = {"sng0001": [{"response": "a b c e"}]}
    references = {"sng0001": ["a b c d"]}
    # 1-4 gram precisions 3/4, 2/3, 1/2 and 0/1 -> exp smoothing 1/2; brevity penalty 1
    expected = 100 * math.exp((math.log(3 / 4) + math.log(2 / 3) + 2 * math.log(1 / 2)) / 4)
    got = M.bleu_score(M.normalize_predictions(predictions), references)
    assert got == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(59.46, abs=0.01)


# ------------------------------------------------------------------ DST


GOLD = {"dst0001": [
    {"restaurant": {"food": "chinese"}},
    {"restaurant": {"food": "chinese", "name": "golden house"}},
    {"train": {"arrive": "20:00", "departure": "cambridge"}},
    {"hotel": {"area": "north"}},
]}
PREDICTED = {"dst0001": [
    {"response": "x", "state": {"restaurant": {"food": "Chinese"}}},
    {"response": "x", "state": {"restaurant": {"food": "chinese", "name": "the golden house"}}},
    {"response": "x", "state": {"train": {"arriveBy": "8:00 pm", "departure": "cambridge",
                                          "day": "dontcare"}}},
    {"response": "x", "state": {"hotel": {"area": "centre"}}},
]}


def test_dst_mwzeval_flavour():
    scores = M.dst_mwzeval(M.normalize_predictions(PREDICTED), GOLD)
    # turns 0 and 1 right (case normalised; partial ratio 100 for "the golden house");
    # turn 2 has an extra (dontcare) slot; turn 3 a wrong area
    assert scores["joint_accuracy"] == pytest.approx(50.0)
    # tp 5 (1 + 2 + 2), fp 2 (day, area), fn 1 (area): P 5/7, R 5/6, F1 10/13
    assert scores["slot_precision"] == pytest.approx(5 / 7)
    assert scores["slot_recall"] == pytest.approx(5 / 6)
    assert scores["slot_f1"] == pytest.approx(100 * 10 / 13)


def test_dst_spectod_fnctod_flavour():
    scores = M.dst_spectod_fnctod(M.normalize_predictions(PREDICTED), GOLD)
    # predicted dontcare ignored -> turn 2 right too; "the golden house" cleaned like the gold
    assert scores["joint_accuracy"] == 75.0
    kept = M.dst_spectod_fnctod(M.normalize_predictions(PREDICTED), GOLD,
                                ignore_dontcare_in_pred=False)
    assert kept["joint_accuracy"] == 50.0


def test_reference_states_score_full_marks_in_both_flavours():
    copied = {"dst0001": [{"response": "x", "state": s} for s in GOLD["dst0001"]]}
    normalized = M.normalize_predictions(copied)
    assert M.dst_mwzeval(normalized, GOLD)["joint_accuracy"] == pytest.approx(100.0)
    assert M.dst_spectod_fnctod(normalized, GOLD)["joint_accuracy"] == 100.0


def test_fnctod_cleaning_rules():
    assert fix_mismatch("area", "cent") == "centre"
    assert fix_mismatch("type", "gallery") == "none"
    assert fix_mismatch("internet", "free") == "yes"
    assert fix_mismatch("name", "the copper kettle") == "copper kettle"
    assert clean_triples([("[hotel]", "type", "guesthouse"), ("[hotel]", "area", "none")]) == {
        ("[hotel]", "type", "guest house")}
    assert clean_triples([("[train]", "day", "dontcare")], ignore_dontcare=True) == set()
    assert clean_triples([("[restaurant]", "name", "golden house")]) == {
        ("[restaurant]", "name", "the golden house")}


def test_fnctod_slot_names():
    assert [M.fnctod_slot(s) for s in ("restaurant-bookday", "arriveBy", "leave at", "book")] == [
        "day", "arrive", "leave", "book"]


# ------------------------------------------------------------------ references from the corpus


def test_references_from_multiwoz22_corpus(multiwoz_root):
    responses, states = M.references_from_corpus(multiwoz_root, "test")
    assert responses["pmul0001"][0] == (
        "the NAME is a cheap chinese place in the centre. shall i book it?")
    assert responses["pmul0001"][1] == "booked, reference is abc123. your taxi is booked too."
    assert states["pmul0001"][0] == {
        "restaurant": {"pricerange": "cheap", "food": "chinese", "area": "centre"}}
    assert states["pmul0001"][1]["taxi"] == {"departure": "golden house",
                                             "destination": "the station"}
    assert states["pmul0001"][1]["restaurant"]["booktime"] == "18:30"
    assert len(responses["sng0002"]) == len(states["sng0002"]) == 1


def test_delexicalize_skips_overlaps_and_dontcare():
    spans = [["Inform", "food", "chinese", 10, 17], ["Inform", "area", "dontcare", 0, 3],
             ["Inform", "name", "chin", 12, 16]]
    assert M.delexicalize("any area, chinese food", spans) == "any area, [food] food"


# ------------------------------------------------------------------ errors and CLI


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        ([], "expected a JSON object"),
        ({"sng0002": "text"}, "expected a list of system turns"),
        ({"sng0002": [{"state": {}}]}, "turn 0: a turn needs a string 'response'"),
        ({"sng0002": [{"response": "x", "state": {"train": {"day": ["monday"]}}}]},
         "string values"),
        ({"sng0002": [{"response": "x", "active_domains": "train"}]}, "must be a list"),
    ],
)
def test_malformed_predictions(predictions, message):
    with pytest.raises(DataError, match=message):
        M.validate_predictions(predictions)


def test_prediction_of_unknown_dialogue_or_wrong_turn_count(refs):
    with pytest.raises(DataError, match="dialogue xyz0001: predicted dialogue has no"):
        M.evaluate_multiwoz({"xyz0001": [{"response": "x"}]}, refs)
    short = {"sng0002": F.PREDICTIONS["sng0002"][:1]}
    with pytest.raises(DataError, match="dialogue sng0002: 1 predicted system turns"):
        M.evaluate_multiwoz(short, refs)


def test_ids_are_normalised_like_mwzeval(refs):
    predictions = {"SNG0002.json": F.PREDICTIONS["sng0002"]}
    report = M.evaluate_multiwoz(predictions, refs, bleu=False, dst=False)
    assert report.dialogues == 1 and report.inform["total"] == 100.0


def test_cli(data_root, tmp_path, capsys):
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps(F.PREDICTIONS))
    output, run_dir = tmp_path / "report.json", tmp_path / "run"
    code = main(["--predictions", str(predictions), "--data_root", str(data_root),
                 "--output", str(output), "--run_dir", str(run_dir)])
    assert code == 0
    report = json.loads(output.read_text())
    assert report["inform"]["total"] == 71.4 and report["success"]["total"] == 57.1
    assert report["combined"] == pytest.approx(164.25)
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["protocols"]["jga_spectod_fnctod"] == "spectod_fnctod"
    assert record["protocols"]["inform"] == "mwzeval" and record["main_metric"] == "combined"
    table = capsys.readouterr().out
    assert "combined" in table and "164.25" in table and "spectod_fnctod" in table
    assert main(["--predictions", str(predictions), "--data_root", str(data_root), "--bleu",
                 "--quiet", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["inform"] is None


def test_cli_errors_name_the_problem(data_root, tmp_path, capsys):
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({"sng0002": [{"state": {}}]}))
    assert main(["--predictions", str(predictions), "--data_root", str(data_root)]) == 2
    err = capsys.readouterr().err
    assert "predictions.json" in err and "dialogue sng0002, turn 0" in err
    predictions.write_text(json.dumps(F.PREDICTIONS))
    (data_root / "goals.json").unlink()
    assert main(["--predictions", str(predictions), "--data_root", str(data_root),
                 "--success"]) == 2
    assert "goals.json is needed" in capsys.readouterr().err
