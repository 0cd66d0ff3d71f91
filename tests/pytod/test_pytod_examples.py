"""AP / PS training examples: formats, seeded train-time shuffles, fixed dev/test prompts,
PS negatives, schema-generic confusable partners, the datasets cache."""

from __future__ import annotations

import re

import pytest
from pytod_schema_fixture import dialogue, request_dialogue, schema

from tod_lab.data.schema_io import read_schema
from tod_lab.data.types import DialogueSplit
from tod_lab.pytod import examples as examples_module
from tod_lab.pytod.examples import (
    ExampleSettings,
    build_example_datasets,
    confusable_partner,
    example_rows,
)
from tod_lab.pytod.prompts import PromptSettings, parse_ps_answer
from tod_lab.pytod.simulator import ApiCatalog


def split() -> DialogueSplit:
    return DialogueSplit("sgd", "train", schema(), (dialogue(),))


def rows(seed=0, train=True, **settings):
    return example_rows(split(), seed=seed, train=train, prompts=PromptSettings(),
                        settings=ExampleSettings(**settings))


def test_ap_examples_one_user_and_one_say_per_user_turn():
    ap, _, counts = rows(train=False)
    assert counts.user_turns == 4 and counts.ap_user == 4 and counts.ap_say == 4
    assert [r["kind"] for r in ap] == ["user", "say"] * 4
    first = ap[0]
    assert first["source"].endswith("conversation:\nuser: i want thai food in san jose.")
    assert first["target"] == 'x1 = restaurants_9_find_restaurants(city="san jose", cuisine="thai")'
    assert ap[1]["source"].endswith("agent policy:") and ap[1]["target"] == "x3 = say(x2)"
    assert ap[2]["target"] == (
        'x4 = select(restaurant_name="bangkok bay", from_results=x1) <new> '
        'x5 = restaurants_9_reserve_restaurant(time="7 pm", party_size=2)'
    )
    assert "- restaurants_9_find_restaurants( # find a restaurant" in first["source"]
    assert "    party_size: optional[enum] = 2, choices: 1 | 2 | 3 | 4, # number of people" in (
        first["source"])
    assert ") # returns: restaurant_name (name of the restaurant)" in first["source"]


def test_train_prompts_are_shuffled_with_the_seed_and_dev_prompts_are_fixed():
    ap_a, _, _ = rows(seed=1)
    ap_b, _, _ = rows(seed=1)
    ap_c, _, _ = rows(seed=2)
    assert ap_a == ap_b
    assert [r["source"] for r in ap_a] != [r["source"] for r in ap_c]
    dev_a, _, _ = rows(seed=1, train=False)
    dev_b, _, _ = rows(seed=2, train=False)
    assert dev_a == dev_b
    # the variable numbering starts at a random index in training, at x1 otherwise
    assert dev_a[0]["target"].startswith("x1 = ")
    starts = {r["target"].split(" ")[0] for r in (rows(seed=s)[0][0] for s in range(8))}
    assert len(starts) > 1
    # every variable is shifted consistently (the target refers to the prompt's names)
    shifted = ap_c[2]
    number = int(shifted["target"].split("from_results=x")[1].split(")")[0])
    assert f"x{number} = restaurants_9_find_restaurants(" in shifted["source"]


def test_ps_examples_first_turn_asks_every_unfilled_argument():
    _, ps, counts = rows(train=False)
    first = ps[0]
    assert first["turn"] == 0
    # FindRestaurants' arguments: city, cuisine (given), price_range, outdoor (not given)
    assert "1) city of the restaurant?" in first["source"]
    assert 'answer should be one of the following: "cheap", "moderate", "pricey" or "unanswerable"' in first["source"]
    assert first["target"] == "1) san jose 2) thai 3) unanswerable 4) unanswerable"
    assert parse_ps_answer(first["target"], 4) == ["san jose", "thai", None, None]
    assert counts.ps == len(ps)


def test_ps_examples_ask_what_the_system_requested_with_seeded_negatives():
    data = DialogueSplit("sgd", "train", schema(), (request_dialogue(),))

    def later(seed, train=True, **settings):
        _, ps, _ = example_rows(data, seed=seed, train=train, prompts=PromptSettings(),
                                settings=ExampleSettings(**settings))
        return [r for r in ps if r["turn"] > 0]

    fixed = later(0, train=False)
    assert len(fixed) == 1
    assert fixed[0]["source"].endswith(
        "in the conversation:\nagent: what time would you like?\nuser: at 8 pm please.\n"
        "1) time of the reservation?\nanswer:")
    assert fixed[0]["target"] == "1) 8 pm"
    # p=1: an unfilled optional slot (party_size, price_range) is asked too, answer unanswerable
    negatives = [r for s in range(5) for r in later(s, ps_unknown_probability=1.0)]
    assert negatives and all(
        "number of people?" in r["source"] or "price range?" in r["source"] for r in negatives)
    # every question but the time's (the one the system asked) is answered unanswerable
    for r in negatives:
        questions = re.findall(r"^\d+\) ", r["source"], flags=re.MULTILINE)
        assert "8 pm" in r["target"]
        assert r["target"].count("unanswerable") == len(questions) - 1 >= 1, r
    assert all("unanswerable" not in r["target"]
               for r in later(0, ps_unknown_probability=0.0, ps_confusable_probability=0.0))


@pytest.mark.real_data
def test_confusable_partners_from_the_real_schema(sgd_root):
    catalog = ApiCatalog.from_schema(read_schema(sgd_root / "train" / "schema.json"))
    expected = {
        ("Flights_1", "origin_city"): "destination_city",
        ("Flights_1", "return_date"): "departure_date",
        ("Hotels_2", "check_in_date"): "check_out_date",
        ("RentalCars_1", "pickup_date"): "dropoff_date",
        ("Events_1", "category"): "subcategory",
        ("Buses_1", "from_location"): "to_location",
    }
    for (service, slot), partner in expected.items():
        api = catalog.services[service]
        found = confusable_partner(api.slots[slot], api)
        assert found is not None and found.name == partner, (service, slot, found)
    restaurants = catalog.services["Restaurants_1"]
    assert confusable_partner(restaurants.slots["restaurant_name"], restaurants) is None


def test_example_datasets_are_cached_on_disk(tmp_path, monkeypatch):
    kwargs = dict(seed=3, train=True, prompts=PromptSettings(), settings=ExampleSettings(),
                  cache_dir=tmp_path)
    first, counts = build_example_datasets(split(), **kwargs)
    assert set(first) == {"ap", "ps"} and len(first["ap"]) == counts.ap

    def boom(*args, **kw):
        raise AssertionError("rebuilt instead of loaded from the cache")

    monkeypatch.setattr(examples_module, "iter_examples", boom)
    second, counts2 = build_example_datasets(split(), **kwargs)
    assert second["ap"]["source"] == first["ap"]["source"] and counts2 == counts
    with pytest.raises(AssertionError):  # another seed is another cache entry
        build_example_datasets(split(), **{**kwargs, "seed": 4})


@pytest.mark.real_data
def test_examples_from_real_sgd_dialogues(sgd_root):
    from pytod_helpers import first_file_split

    data = first_file_split(sgd_root, "dev")
    data = data.subset(data.dialogue_ids[:40])
    ap, ps, counts = example_rows(data, seed=0, train=True, prompts=PromptSettings(),
                                  settings=ExampleSettings())
    assert counts.ap_user == counts.ap_say == sum(len(d.user_turns) for d in data.dialogues)
    assert counts.ps > 0
    assert all(len(r["source"]) <= PromptSettings().max_prompt_chars for r in ap)
    assert all(r["target"] for r in ap + ps)


def test_compact_prompts_for_tiny_models():
    settings = PromptSettings(compact_apis=True, show_say=False, instruction="update the tasks:",
                              max_history_lines=4)
    ap, _, _ = example_rows(split(), seed=0, train=False, prompts=settings,
                            settings=ExampleSettings(say_examples=False))
    source = ap[-1]["source"]
    assert source.startswith("update the tasks:\n- restaurants_9_find_restaurants(city, cuisine, ")
    assert "say(" not in source and "tasks so far:\nx1 = restaurants_9_find_restaurants(" in source
    assert source.split("conversation:\n")[1].count("\n") == 3  # the last 4 lines only
    assert all(r["kind"] == "user" for r in ap)


def test_prompts_without_the_api_list_name_the_services_only():
    settings = PromptSettings(compact_apis=True, list_apis=False, instruction="update the tasks:")
    ap, _, _ = example_rows(split(), seed=0, train=False, prompts=settings,
                            settings=ExampleSettings(say_examples=False))
    first = ap[0]["source"]
    assert first.startswith("update the tasks:\nservices: restaurants_9\nconversation:\nuser: ")
    assert all(r["source"].split("\n")[1] == "services: restaurants_9" for r in ap)
    assert not any("- restaurants_9_" in r["source"] for r in ap)  # no API lines
    # the shorter header leaves the character budget to the conversation
    with_list = example_rows(split(), seed=0, train=False, settings=ExampleSettings(
        say_examples=False), prompts=PromptSettings(compact_apis=True,
                                                    instruction="update the tasks:"))[0]
    assert sum(map(len, (r["source"] for r in ap))) < sum(len(r["source"]) for r in with_list)


def test_statement_separator_must_be_the_new_token():
    from tod_lab.errors import ConfigError

    ap, _, _ = example_rows(split(), seed=0, train=False,
                            prompts=PromptSettings(statement_separator="<new>"),
                            settings=ExampleSettings())
    joined = [r["target"] for r in ap if "<new>" in r["target"]]
    assert joined and all(" <new>" not in t and "<new> " not in t for t in joined)
    with pytest.raises(ConfigError, match="system.prompts.statement_separator"):
        PromptSettings(statement_separator=" ; ")


def test_keep_last_offer_pins_the_latest_result_and_its_agent_line():
    def conversations(keep: bool) -> list[str]:
        prompts = PromptSettings(compact_apis=True, list_apis=False, instruction="update:",
                                 max_history_lines=1, keep_last_offer=keep)
        ap, _, _ = example_rows(split(), seed=0, train=False, prompts=prompts,
                                settings=ExampleSettings(say_examples=False))
        return [r["source"].split("conversation:\n")[1] for r in ap]

    offer = ("signal: call to restaurants_9_find_restaurants (x1) returned 2 results\n"
             "agent: how about bangkok bay? it is cheap.\n")
    plain, pinned = conversations(False), conversations(True)
    # the window of one line loses "bangkok bay", which the second turn's select() needs
    assert plain[1] == "user: sounds good, book it for 7 pm for two."
    assert pinned[1] == offer + "user: sounds good, book it for 7 pm for two."
    # later turns keep the latest offer too; before any search there is nothing to pin
    assert pinned[3] == offer + "user: thanks, that's all."
    assert pinned[0] == plain[0] == "user: i want thai food in san jose."


def test_numbers_as_said_turn_said_integers_into_the_users_words():
    from tod_lab.pytod.examples import numbers_as_said
    from tod_lab.pytod.program import parse_program, render_statement

    program = parse_program('x1 = book(people=5, rooms=2, stars=4, nights=3, wifi=True)\n'
                            'x1.people = 5; x1.rooms = 1').statements
    said = numbers_as_said(program, "Make it five people, 2 rooms. A 4-star place.")
    assert [render_statement(s) for s in said] == [
        'x1 = book(people="five", rooms="2", stars="4", nights=3, wifi=True)',
        'x1.people = "five"; x1.rooms = 1',  # 1 was not said ("a" is not taken for one)
    ]
    # the gold targets of the fixture dialogue: "book it for 7 pm for two" -> party_size="two"
    ap, _, _ = example_rows(split(), seed=0, train=False, prompts=PromptSettings(),
                            settings=ExampleSettings(numbers_as_said=True))
    assert ap[2]["target"].endswith('restaurants_9_reserve_restaurant(time="7 pm", party_size="two")')


def test_value_swap_copies_retell_a_user_turn_with_other_values():
    data = DialogueSplit("sgd", "train", schema(), (dialogue(), request_dialogue()))

    def ap_rows(copies: int, seed: int = 0):
        ap, _, counts = example_rows(
            data, seed=seed, train=True, prompts=PromptSettings(),
            settings=ExampleSettings(say_examples=False, value_swap_copies=copies))
        return ap, counts

    plain, _ = ap_rows(0)
    ap, counts = ap_rows(2)
    # the original examples are untouched (the swaps draw from their own seeded rng)
    assert [r for r in ap if r["kind"] == "user"] == plain
    swapped, original = [], None  # (original, copy): copies follow their original
    for row in ap:
        if row["kind"] == "user":
            original = row
        else:
            swapped.append((original, row))
    assert swapped and counts.ap_swapped == len(swapped) and counts.ap == len(ap)
    for original, copy in swapped:
        assert copy["dialogue_id"] == original["dialogue_id"] and copy["turn"] == original["turn"]
        assert copy["target"] != original["target"]
        # the copy's new values are said in its own prompt and not in the original one
        new = set(re.findall(r'"([^"]*)"', copy["target"])) - set(
            re.findall(r'"([^"]*)"', original["target"]))
        assert new and all(v in copy["source"] and v not in original["source"] for v in new)
    # "Book a table at Lotus": the restaurant name swaps with the other one said in the split
    booked = [c for o, c in swapped if "lotus" in o["target"]]
    assert booked and all('restaurant_name="bangkok bay"' in c["target"] for c in booked)
    # categorical values (price range, party size) and values said nowhere never swap
    assert all(c["target"].count("party_size=2") == o["target"].count("party_size=2")
               for o, c in swapped)
    assert ap_rows(2) == (ap, counts) and ap_rows(2, seed=1)[0] != ap
    # dev / test examples never get copies
    dev, _, dev_counts = example_rows(data, seed=0, train=False, prompts=PromptSettings(),
                                      settings=ExampleSettings(value_swap_copies=2))
    assert dev_counts.ap_swapped == 0 and all(r["kind"] != "user_swap" for r in dev)


def test_value_swap_copies_must_not_be_negative():
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="system.examples.value_swap_copies"):
        ExampleSettings(value_swap_copies=-1)


def test_argument_key_tokens_make_each_slot_key_one_token(tmp_path, compose):
    """``argument_key_tokens``: in a tokenizer trained from scratch, the value of a call
    argument or an assignment follows ONE token naming its slot (with its delimiters, so
    ``city="`` cannot match inside another slot's key); texts decode back unchanged."""
    from tod_lab.errors import ConfigError
    from tod_lab.models.factory import ModelSpec, build_tiny_tokenizer
    from tod_lab.pipeline import system_tokenizer_tokens
    from tod_lab.pytod.system import PyTODSystem, argument_key_tokens

    system = PyTODSystem(argument_key_tokens=True, cache_dir=str(tmp_path / "examples"))
    with pytest.raises(ConfigError, match="argument_key_tokens"):
        system.tokenizer_tokens()  # the slots are known once the examples are built
    datasets = system.build_examples(split(), seed=0)
    tokens = system_tokenizer_tokens(system)
    slots = {slot.name for service in schema().services for slot in service.slots}
    assert set(tokens) == {t for slot in slots for t in argument_key_tokens(slot)}
    assert argument_key_tokens("city") == ('(city="', ', city="', '.city = "')
    assert PyTODSystem().tokenizer_tokens() == ()  # off by default
    assert compose(["+experiment=pytod_tiny"]).system.argument_key_tokens  # on in the tiny recipe

    spec = ModelSpec.from_config(compose(["model=t5_tiny"]).model)
    texts = [r["source"] for r in datasets["ap"]] + [r["target"] for r in datasets["ap"]]
    tokenizer = build_tiny_tokenizer(spec, texts * 5, tmp_path / "cache", tokens)
    for program in ('x1 = restaurants_9_find_restaurants(city="san jose", cuisine="thai")',
                    'x5.party_size = " two "; x5.time = " 7 pm "'):
        ids = tokenizer(program, add_special_tokens=False)["input_ids"]
        pieces = tokenizer.convert_ids_to_tokens(ids)
        assert tokenizer.decode(ids) == program
        keys = [p for p in pieces if p in tokens]
        assert len(keys) == 2, pieces
