"""APIs built from any schema: SGD, SGD-X variants, MultiWOZ 2.2 (+ its venue DB)."""

from __future__ import annotations

import pytest
from pytod_schema_fixture import dialogue, schema

from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import Schema
from tod_lab.pytod.simulator import (
    AnnotatedResults,
    ApiCatalog,
    VenueDatabase,
    python_identifier,
    slot_identifier,
    snake_case,
)


def test_names():
    assert snake_case("ReserveRestaurant") == "reserve_restaurant"
    assert snake_case("GetCarsAvailable") == "get_cars_available"
    assert snake_case("find_restaurant") == "find_restaurant"
    assert snake_case("Restaurants_2") == "restaurants_2"
    assert python_identifier("class") == "class_"
    assert python_identifier("entrance fee") == "entrance_fee"
    assert python_identifier("2nd") == "s_2nd"
    assert python_identifier("__dunder__") == "dunder"
    assert slot_identifier("restaurant", "restaurant-food") == "food"
    assert slot_identifier("Flights_1", "origin_city") == "origin_city"


def test_value_normalisation():
    catalog = ApiCatalog.from_schema(schema())
    slots = catalog.services["Restaurants_9"].slots
    assert slots["party_size"].normalize("three") == ("3", None)
    assert slots["party_size"].normalize(2) == ("2", None)
    assert slots["party_size"].normalize(2.0) == ("2", None)
    assert slots["outdoor"].normalize(True) == ("True", None)
    assert slots["outdoor"].normalize("no") == ("False", None)
    assert slots["price_range"].normalize("MODERATE") == ("Moderate", None)
    assert slots["price_range"].normalize("don't care") == ("dontcare", None)
    value, problem = slots["price_range"].normalize("free")
    assert value is None and "choices: Cheap | Moderate | Pricey" in problem
    assert slots["city"].normalize("  San Jose ") == ("San Jose", None)
    assert slots["city"].normalize(None)[0] is None


@pytest.mark.real_data
def test_catalog_of_every_real_sgd_schema(sgd_root):
    for split in ("train", "dev", "test"):
        schema_ = read_schema(sgd_root / split / "schema.json")
        catalog = ApiCatalog.from_schema(schema_)
        n_intents = sum(len(s.intents) for s in schema_)
        assert len(catalog.tools) == n_intents
        for tool, api in catalog.tools.items():
            assert tool.isidentifier() and tool == tool.lower()
            service = catalog.services[api.service]
            assert set(service.by_ident.values()) == set(service.slots)
            for ident in service.by_ident:
                assert ident.isidentifier()
    catalog = ApiCatalog.from_schema(read_schema(sgd_root / "dev" / "schema.json"))
    assert "restaurants_2_reserve_restaurant" in catalog.tools


@pytest.mark.real_data
@pytest.mark.parametrize("variant", ["v1", "v5"])
def test_sgdx_variant_schemas_give_renamed_apis_without_code(shared_data, variant):
    original = ApiCatalog.from_schema(read_schema(shared_data / "sgd" / "dev" / "schema.json"))
    renamed_schema = read_schema(shared_data / "sgd_x" / variant / "dev" / "schema.json")
    renamed = ApiCatalog.from_schema(renamed_schema)
    assert len(renamed.tools) == len(original.tools)
    assert set(renamed.tools) != set(original.tools)  # the names did change
    for service in renamed_schema:
        api = renamed.services[service.name]
        assert set(api.slots) == set(service.slot_names)


@pytest.mark.real_data
def test_multiwoz_schema_and_venue_db(shared_data):
    schema_ = read_schema(shared_data / "multiwoz22" / "schema.json")
    catalog = ApiCatalog.from_schema(schema_)
    find = catalog.tools["restaurant_find_restaurant"]
    assert catalog.services["restaurant"].slot("food").name == "restaurant-food"
    db = VenueDatabase.from_dir(shared_data / "multiwoz22" / "db")
    rows = db.search(find, {"restaurant-food": "italian", "restaurant-area": "centre",
                            "restaurant-pricerange": "dontcare"}, 0)
    assert rows and all(r["food"] == "italian" and r["area"] == "centre" for r in rows)
    assert db.search(find, {"restaurant-food": "martian"}, 0) == []
    train = catalog.tools["train_find_train"]
    rows = db.search(train, {"train-departure": "cambridge", "train-destination": "london kings cross",
                             "train-day": "monday", "train-leaveat": "09:00"}, 0)
    assert rows and all(r["leaveAt"] >= "09:00" and r["day"] == "monday" for r in rows)
    attraction = catalog.tools["attraction_find_attraction"]
    rows = db.search(attraction, {"attraction-type": "museum", "attraction-area": "centre"}, 0)
    assert rows and all(r["type"] == "museum" for r in rows)
    book = catalog.tools["restaurant_book_restaurant"]
    assert db.transact(book, {"restaurant-name": "x"}, 0).success


def test_annotated_results_replay_next_call_then_filter_by_canonical_values():
    results = AnnotatedResults.from_dialogue(dialogue())
    catalog = ApiCatalog.from_schema(schema())
    find = catalog.tools["restaurants_9_find_restaurants"]
    # the call the system made right after user turn 0
    assert len(results.search(find, {"city": "anything"}, 0)) == 2
    # elsewhere: rows agreeing with the arguments
    rows = results.search(find, {"city": "san jose", "price_range": "moderate"}, 4)
    assert [r["restaurant_name"] for r in rows] == ["Lotus"]
    assert results.search(find, {"city": "fresno"}, 4) == []
    reserve = catalog.tools["restaurants_9_reserve_restaurant"]
    assert results.canonical_value("Restaurants_9", "time", "7 PM") == "19:00"
    assert results.transact(reserve, {}, 4).success
    assert results.transact(reserve, {}, 99).success  # after the last call: its outcome


def test_colliding_names_stay_unique():
    raw = [{
        "service_name": "Svc_1",
        "slots": [
            {"name": "a-b", "description": "", "is_categorical": False, "possible_values": []},
            {"name": "a_b", "description": "", "is_categorical": False, "possible_values": []},
        ],
        "intents": [{"name": "Do", "description": "", "is_transactional": False,
                     "required_slots": ["a-b", "a_b"], "optional_slots": {}}],
    }]
    catalog = ApiCatalog.from_schema(Schema.from_json(raw))
    idents = list(catalog.services["Svc_1"].by_ident)
    assert len(set(idents)) == 2
