"""Schema -> function specs on the real MultiWOZ 2.2 and SGD schemas."""

from __future__ import annotations

import json

import pytest

from tod_lab.data.schema_io import read_schema
from tod_lab.spectod.functions import (
    FunctionCatalog,
    build_catalog,
    detect_style,
    render_functions,
)


@pytest.fixture(scope="module")
def mwz_catalog(shared_data):
    return build_catalog(read_schema(shared_data / "multiwoz22" / "schema.json"))


def test_multiwoz_functions_have_the_reference_names(mwz_catalog):
    assert mwz_catalog.style == "multiwoz"
    by_service = {f.service: f.name for f in mwz_catalog}
    assert by_service == {
        "hotel": "find_book_hotel",
        "restaurant": "find_book_restaurant",
        "train": "find_book_train",
        "attraction": "find_attraction",
        "taxi": "book_taxi",
        "hospital": "find_hospital",
        "police": "police",
        "bus": "find_bus",
    }


def test_multiwoz_friendly_argument_names_map_back(mwz_catalog):
    train = mwz_catalog.get("find_book_train")
    assert train.argument("arrive_by").slot == "train-arriveby"
    assert train.argument("leave_at_or_after").slot == "train-leaveat"
    hotel = mwz_catalog.get("find_book_hotel")
    assert hotel.argument("accommodation_type").slot == "hotel-type"
    assert hotel.argument("book_stay").slot == "hotel-bookstay"
    # informable slots only: no address / phone / ref arguments
    assert "hotel-address" not in hotel.slots and "hotel-ref" not in hotel.slots
    assert len(hotel.arguments) == 10 and hotel.intents == ()  # no intent arg for MultiWOZ


def test_multiwoz_types_enums_and_cautions(mwz_catalog):
    hotel = mwz_catalog.get("find_book_hotel").to_spec()
    props = hotel["parameters"]["properties"]
    assert props["parking"]["type"] == "boolean" and props["parking"]["enum"] == ["free", "no", "yes"]
    assert props["stars"]["type"] == "integer"
    assert props["area"]["enum"] == ["centre", "east", "north", "south", "west"]
    assert "dontcare" in hotel["description"] and "explicitly" in hotel["description"]
    assert "exact name" in props["name"]["description"]
    rendered = render_functions(mwz_catalog)
    assert rendered.startswith("<FUNCTIONS>\n<FUNCTION>{") and rendered.endswith("</FUNCTIONS>")
    first = rendered.split("<FUNCTION>")[1].split("</FUNCTION>")[0]
    assert json.loads(first)["name"] == "find_book_hotel"


def test_catalog_round_trips_through_json(mwz_catalog):
    again = FunctionCatalog.from_json(json.loads(json.dumps(mwz_catalog.to_json())))
    assert again.to_json() == mwz_catalog.to_json()


def test_sgd_one_function_per_service_with_intent_argument(sgd_dev):
    train = sgd_dev  # dev reads in ~2 s; train in ~15 s
    catalog = build_catalog(train.schema, train=train)
    assert catalog.style == "sgd" and detect_style(train.schema) == "sgd"
    assert len(catalog) == len(train.schema)
    restaurants = catalog.for_service("Restaurants_2")
    assert restaurants.name == "restaurants_2"
    assert restaurants.intents == ("ReserveRestaurant", "FindRestaurants")
    spec = restaurants.to_spec()["parameters"]["properties"]
    assert spec["intent"]["enum"] == ["ReserveRestaurant", "FindRestaurants"]
    assert spec["has_seating_outdoors"]["type"] == "boolean" and spec["number_of_seats"]["type"] == "integer"
    # example values come from the training states, most frequent first
    assert "e.g. '" in spec["location"]["description"]
    # SGD times are surface forms ("half past 11"), so they stay strings
    assert spec["time"]["type"] == "string"
    # every slot any training state uses is an argument of its service's function
    for dialogue in train.dialogues[:300]:
        for turn in dialogue.user_turns:
            for frame in turn.frames:
                fn = catalog.for_service(frame.service)
                assert set(frame.state.slot_values) <= set(fn.slots)
