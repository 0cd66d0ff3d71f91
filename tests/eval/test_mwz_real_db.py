"""mwzeval's database semantics on the real MultiWOZ 2.2 venue databases."""

from __future__ import annotations

import json

import pytest

from tod_lab.eval.mwz_db import MultiWOZDatabase, partial_ratio

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def db_dir(shared_data):
    return shared_data / "multiwoz22" / "db"


@pytest.fixture(scope="module")
def db(db_dir):
    return MultiWOZDatabase(db_dir)


def _records(db_dir, domain):
    return json.loads((db_dir / f"{domain}_db.json").read_text())


def test_exact_columns_match_a_plain_filter(db, db_dir):
    expected = [r["id"] for r in _records(db_dir, "restaurant")
                if r["food"] == "chinese" and r["area"] == "centre" and r["pricerange"] == "cheap"]
    got = db.query("restaurant", {"food": "chinese", "area": "centre", "pricerange": "cheap"})
    assert got == expected and len(got) == 3
    names = {r["id"]: r["name"] for r in _records(db_dir, "restaurant")}
    assert sorted(names[i] for i in got) == ["charlie chan", "golden house", "rice house"]


def test_fuzzy_name_matches_with_partial_ratio_of_90(db, db_dir):
    names = {r["id"]: r["name"] for r in _records(db_dir, "restaurant")}
    got = [names[i] for i in db.query("restaurant", {"name": "pizza hut"})]
    assert got == ["pizza hut city centre", "pizza hut cherry hinton", "pizza hut fen ditton"]
    assert partial_ratio("pizza express", "pizza hut") < 90  # not offered
    expected = [r["id"] for r in _records(db_dir, "restaurant")
                if partial_ratio(r["name"], "pizza hut") >= 90]
    assert db.query("restaurant", {"name": "pizza hut"}) == expected


def test_train_times_and_fuzzy_places(db, db_dir):
    trains = _records(db_dir, "train")
    query = {"departure": "cambridge", "destination": "london kings cross", "day": "monday",
             "arrive": "08:00"}
    expected = [t["trainID"] for t in trains
                if t["departure"] == "cambridge" and t["destination"] == "london kings cross"
                and t["day"] == "monday" and t["arriveBy"] <= "08:00"]
    assert db.query("train", query) == expected == ["TR7075", "TR2289"]
    leave = {"departure": "cambridge", "destination": "ely", "day": "friday", "leave": "20:00"}
    expected = [t["trainID"] for t in trains
                if t["departure"] == "cambridge" and t["destination"] == "ely"
                and t["day"] == "friday" and t["leaveAt"] >= "20:00"]
    assert db.query("train", leave) == expected and expected
    # "london kings cross" written shorter still matches by partial ratio
    assert db.query("train", {**query, "destination": "kings cross"}) == ["TR7075", "TR2289"]


def test_normalised_values_and_ignored_constraints(db, db_dir):
    hotels = {r["id"]: r["name"] for r in _records(db_dir, "hotel")}
    got = db.query("hotel", {"area": "north", "stars": "4", "parking": "free",
                             "type": "guest house", "stay": "3", "day": "monday"})
    assert "acorn guest house" in [hotels[i] for i in got]
    assert all(r["parking"] == "yes" and r["type"] == "guesthouse" for r in
               _records(db_dir, "hotel") if r["id"] in got)
    assert db.query("hotel", {"area": "dontcare"}) == [r["id"] for r in _records(db_dir, "hotel")]
    attractions = {r["id"]: r["name"] for r in _records(db_dir, "attraction")}
    assert [attractions[i] for i in db.query("attraction", {"name": "christs"})] == [
        "christ's college"]
