"""UBAR-semantics DB queries on the real MultiWOZ 2.2 venue DBs (hand-made queries)."""

from __future__ import annotations

import pytest

from tod_lab.data.types import Dialogue, DialogueSplit, Frame, Schema, ServiceCall, Turn
from tod_lab.errors import DataError
from tod_lab.spectod.db import MultiWOZDB, ServiceResultsDB


@pytest.fixture(scope="module")
def db(shared_data):
    return MultiWOZDB(shared_data / "multiwoz22" / "db")


def names(records):
    return sorted(r["name"] for r in records)


def test_plain_constraints_filter_exactly(db):
    found = db.query(
        "restaurant",
        {"restaurant-pricerange": "cheap", "restaurant-food": "chinese", "restaurant-area": "centre"},
    )
    assert names(found) == ["charlie chan", "golden house", "rice house"]
    assert db.count("restaurant", {"restaurant-area": "centre"}) == 69


def test_first_name_is_the_first_match_in_db_order(db):
    query = {"restaurant-pricerange": "cheap", "restaurant-food": "chinese",
             "restaurant-area": "centre"}
    first = db.query("restaurant", query)[0]["name"].lower()
    assert first in ("charlie chan", "golden house", "rice house")
    assert db.first_name("restaurant", query) == first
    assert db.first_name("restaurant", dict(query, **{"restaurant-food": "martian"})) is None
    assert db.first_name("spaceport", query) is None  # no such DB
    assert db.first_name("taxi", {"taxi-departure": "x"}) is None  # taxis have no name


def test_booking_slots_and_dontcare_are_ignored(db):
    base = {"restaurant-pricerange": "cheap", "restaurant-food": "chinese", "restaurant-area": "centre"}
    with_booking = dict(base, **{"restaurant-bookday": "monday", "restaurant-bookpeople": "4",
                                 "restaurant-booktime": "18:00"})
    assert names(db.query("restaurant", with_booking)) == names(db.query("restaurant", base))
    assert db.count("restaurant", {"restaurant-area": "dontcare"}) == 110  # valid but skipped
    assert db.count("restaurant", {"restaurant-area": ""}) == 0  # no valid constraint


def test_exact_name_returns_at_once_else_name_ignored(db):
    # the name wins even if the other constraints contradict it
    found = db.query("restaurant", {"restaurant-name": "golden house", "restaurant-area": "north"})
    assert names(found) == ["golden house"]
    # a name that is not in the DB is ignored, the rest still filters
    assert db.count("restaurant", {"name": "golden palace", "area": "centre"}) == 69


def test_free_means_yes_and_bare_or_prefixed_slots(db):
    found = db.query("hotel", {"hotel-parking": "free", "hotel-area": "north", "type": "guesthouse"})
    assert len(found) == 9 and "acorn guest house" in names(found)
    assert names(db.query("hotel", {"parking": "yes", "area": "north", "type": "guesthouse"})) == names(found)


def test_train_times_compare_in_minutes(db):
    cons = {"train-departure": "cambridge", "train-destination": "ely", "train-day": "monday"}
    leave = db.query("train", dict(cons, **{"train-leaveat": "10:00"}))
    assert sorted(r["trainID"] for r in leave) == sorted(
        ["TR8089", "TR5167", "TR7177", "TR4294", "TR6975", "TR4882", "TR6737"]
    )
    arrive = db.query("train", dict(cons, **{"train-arriveby": "10:00"}))
    assert sorted(r["trainID"] for r in arrive) == ["TR2013", "TR7313"]
    # a non-HH:MM time matches nothing; booking people is ignored
    assert db.count("train", dict(cons, **{"train-leaveat": "after lunch"})) == 0
    assert db.count("train", dict(cons, **{"train-bookpeople": "3"})) == db.count("train", cons)


def test_field_names_with_spaces_and_missing_fields(db):
    # attraction 'entrance fee' is reachable as entrancefee; a slot the records lack -> nothing
    assert db.count("attraction", {"attraction-type": "museum", "attraction-area": "centre"}) == 11
    assert db.count("attraction", {"attraction-type": "museum", "attraction-food": "thai"}) == 0


def test_special_domains(db):
    assert len(db.query("taxi", {"taxi-departure": "x", "taxi-destination": "y"})) == 1
    assert db.query("taxi", {})[0]["taxi_colors"] == "black"
    assert len(db.query("police", {})) == 1
    assert len(db.query("hospital", {})) == 66
    found = db.query("hospital", {"hospital-department": "Trauma High Dependency Unit"})
    assert [r["phone"] for r in found] == ["01223216305"]
    assert db.query("hospital", {"hospital-department": "cardiology x"}) == []
    assert db.count("spaceport", {"x": "y"}) is None


def test_missing_db_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="DB directory"):
        MultiWOZDB(tmp_path / "nope")


def test_service_results_db_counts_distinct_matching_rows():
    rows = (
        {"city": "San Jose", "cuisine": "Thai", "restaurant_name": "A"},
        {"city": "San Jose", "cuisine": "Thai", "restaurant_name": "B"},
        {"city": "Oakland", "cuisine": "Thai", "restaurant_name": "C"},
    )
    system = Turn(
        speaker="SYSTEM",
        utterance="x",
        frames=(
            Frame(
                service="Restaurants_1",
                service_call=ServiceCall("FindRestaurants", {"city": "San Jose"}),
                service_results=rows,
            ),
        ),
    )
    dialogue = Dialogue("d1", ("Restaurants_1",), (Turn("USER", "hi"), system, Turn("USER", "ok"), system))
    split = DialogueSplit("sgd", "dev", Schema(()), (dialogue,))
    db = ServiceResultsDB.from_split(split)
    assert db.count("Restaurants_1", {"city": "san jose"}) == 2  # duplicates counted once
    assert db.count("Restaurants_1", {"city": "San Jose", "restaurant_name": "B"}) == 1
    assert db.count("Restaurants_1", {"city": "Oakland", "restaurant_name": "A"}) == 0
    # values the rows do not know (surface forms) and dontcare do not filter
    assert db.count("Restaurants_1", {"city": "SJ", "cuisine": "thai"}) == 3
    assert db.count("Restaurants_1", {"city": "dontcare", "party_size": "2"}) == 3
    assert db.count("Restaurants_1", {"intent": "ReserveRestaurant"}) == 0
    assert db.count("Hotels_1", {}) is None
