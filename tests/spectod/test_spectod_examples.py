"""Instruction data: golden files for the MultiWOZ fixture, the toy corpus and real SGD,
plus the documented formats and the defect fixes asserted directly.

Regenerate the golden files after an intended format change with
``TOD_LAB_UPDATE_GOLDEN=1 pytest tests/spectod/test_spectod_examples.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tod_lab.data.multiwoz import read_split as read_multiwoz
from tod_lab.errors import ConfigError
from tod_lab.spectod.examples import select_aux_dialogues
from tod_lab.spectod.prompts import CALL_CLOSE, CALL_OPEN, NO_CALL_OBSERVATION
from tod_lab.spectod.system import SpecTODSystem

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, rows: dict) -> None:
    path = GOLDEN / name
    rendered = json.dumps(rows, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("TOD_LAB_UPDATE_GOLDEN") or not path.is_file():
        path.write_text(rendered)
        if not os.environ.get("TOD_LAB_UPDATE_GOLDEN"):
            pytest.fail(f"golden file {path} was missing and has been written; rerun")
    assert json.loads(rendered) == json.loads(path.read_text()), f"{name} differs"


def first_rows(rows: dict, dialogues: int) -> dict:
    out = {}
    for task, items in rows.items():
        ids = list(dict.fromkeys(r["dialogue_id"].split("#")[0] for r in items))[:dialogues]
        out[task] = [r for r in items if r["dialogue_id"].split("#")[0] in ids]
    return out


@pytest.fixture(scope="module")
def mwz_rows(multiwoz_root, shared_data):
    system = SpecTODSystem(db_dir=str(shared_data / "multiwoz22" / "db"))
    return system, system.build_rows(read_multiwoz(multiwoz_root, "train"), seed=0)


def test_multiwoz_fixture_golden(mwz_rows):
    check_golden("multiwoz_fixture_rows.json", mwz_rows[1])


def test_multiwoz_documented_formats_and_fixes(mwz_rows):
    system, rows = mwz_rows
    conversation = rows["e2e"][0]["messages"]
    roles = [m["role"] for m in conversation]
    assert roles[:5] == ["system", "user", "assistant", "observation", "assistant"]
    assert "<FUNCTIONS>\n<FUNCTION>{" in conversation[0]["content"]
    # the full action inventory, including the three acts the official instruction forgot
    for act in ("[offerbook]", "[offerbooked]", "[nobook]", "[select]", "[recommend]"):
        assert act in conversation[0]["content"]
    call = conversation[2]["content"]
    assert call.startswith('<function_call>{"function": "find_book_restaurant", "arguments": {')
    assert call.endswith("}}</function_call>")
    # true DB entity count: the real DB has 3 cheap chinese restaurants in the centre
    assert conversation[3]["content"] == "There are 3 entities match"
    action, response = conversation[4]["content"].split("\n", 1)
    assert json.loads(action[len("Action: "):]) == {
        "[booking]": {"[inform]": []}, "[restaurant]": {"[recommend]": ["name"]}}
    assert "[name]" in response and "golden house" not in response  # delexicalised, mwzeval style
    # loss only on calls and assistant answers
    assert {m["role"] for m in conversation if m["loss"]} == {"assistant"}
    assert all(not m["loss"] for m in conversation if m["role"] in ("system", "user", "observation"))
    # a turn with no active function: no call, the no-call observation
    assert conversation[-2]["content"] == NO_CALL_OBSERVATION
    # the second user turn calls two functions, each followed by its observation
    taxi = [m["content"] for m in conversation if "book_taxi" in m["content"] and m["loss"]]
    assert taxi == ['<function_call>{"function": "book_taxi", "arguments": {"departure": '
                    '"golden house", "destination": "the station"}}</function_call>']
    domain_targets = [r["messages"][-1]["content"] for r in rows["domain"]]
    assert domain_targets[:3] == ["find_book_restaurant", "find_book_restaurant, book_taxi", "none"]


def test_paraphrases_are_seeded(multiwoz_root, shared_data):
    db = str(shared_data / "multiwoz22" / "db")
    split = read_multiwoz(multiwoz_root, "train")
    systems = [SpecTODSystem(db_dir=db).build_rows(split, seed=s) for s in (0, 0, 1, 2, 3)]
    assert systems[0] == systems[1]
    firsts = {r["e2e"][0]["messages"][0]["content"].split("\n")[0] for r in systems}
    assert len(firsts) > 1  # other seeds sample other paraphrases


def test_toy_corpus_golden(toy_source):
    train = toy_source.read("train")
    system = SpecTODSystem()
    rows = system.build_rows(train.subset(train.dialogue_ids[:3]), seed=0)
    assert system.catalog.style == "sgd"
    check_golden("toy_rows.json", first_rows(rows, 2))


def test_real_sgd_golden_and_intent_argument(sgd_dev):
    dev = sgd_dev
    sample = dev.subset(dev.dialogue_ids[:2])
    rows = SpecTODSystem().build_rows(sample, seed=0)
    check_golden("sgd_dev_rows.json", rows)
    first_call = rows["e2e"][0]["messages"][2]["content"]
    assert first_call == (
        '<function_call>{"function": "restaurants_2", "arguments": {"intent": '
        '"ReserveRestaurant", "time": "half past 11 in the morning", "number_of_seats": "2"}}'
        "</function_call>"
    )
    # SGD: the system message lists the dialogue's services only
    assert "restaurants_2" in rows["e2e"][0]["messages"][0]["content"]
    assert "hotels_1" not in rows["e2e"][0]["messages"][0]["content"]


def test_aux_dst_per_domain_cap_is_seeded(sgd_dev):
    dev = sgd_dev
    chosen = select_aux_dialogues(dev, 20, seed=3)
    again = select_aux_dialogues(dev, 20, seed=3)
    other = select_aux_dialogues(dev, 20, seed=4)
    assert [d.dialogue_id for d in chosen] == [d.dialogue_id for d in again]
    assert [d.dialogue_id for d in chosen] != [d.dialogue_id for d in other]
    per_domain: dict[str, int] = {}
    for d in chosen:
        for domain in {s.split("_")[0] for s in d.services}:
            per_domain[domain] = per_domain.get(domain, 0) + 1
    # a multi-domain dialogue counts for each of its domains; only single-domain fill-ups
    # can push a domain over the cap, and never by more than those multi-domain ones
    assert min(per_domain.values()) >= 1 and max(per_domain.values()) <= 40


def test_aux_dst_rows_mixed_into_multiwoz(multiwoz_root, shared_data, sgd_root, tmp_path):
    dev = tmp_path / "sgd"
    (dev / "train").mkdir(parents=True)
    # a small auxiliary corpus: one real SGD dev file as its train split
    import shutil

    src = sgd_root / "dev"
    shutil.copy(src / "schema.json", dev / "train" / "schema.json")
    shutil.copy(sorted(src.glob("dialogues_*.json*"))[0], dev / "train")
    system = SpecTODSystem(
        db_dir=str(shared_data / "multiwoz22" / "db"),
        aux_dst={"enabled": True, "root": str(dev), "max_per_domain": 5},
    )
    rows = system.build_rows(read_multiwoz(multiwoz_root, "train"), seed=0)
    aux = rows["aux_dst"]
    assert 1 <= len(aux) <= 5 * 20
    messages = aux[0]["messages"]
    assert messages[0]["content"].startswith(("Track", "For each", "Keep"))
    assert all(m["role"] != "observation" for m in messages)
    assert any(m["loss"] and m["content"].startswith("<function_call>") for m in messages)
    # the system's own words are context for DST (not loss)
    assert any(m["role"] == "assistant" and not m["loss"] for m in messages)


def _call_arguments(content: str) -> dict:
    body = content.removeprefix(CALL_OPEN).removesuffix(CALL_CLOSE)
    return json.loads(body)["arguments"]


def _says(text: str, value: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


def test_value_swapped_conversations_keep_the_state_true(toy_source):
    train = toy_source.read("train")
    sample = train.subset(train.dialogue_ids[:40])
    system = SpecTODSystem(value_swap_copies=2)
    rows = system.build_rows(sample, seed=0)
    # the other tasks are exactly what they are without swaps (their own rng)
    plain = SpecTODSystem().build_rows(sample, seed=0)
    assert {k: v for k, v in rows.items() if k != "e2e_swap"} == plain
    originals = {r["dialogue_id"]: r["messages"] for r in rows["e2e"]}
    swapped = rows["e2e_swap"]
    assert len(swapped) > len(originals)  # most dialogues say a free-text value
    changed_calls = 0
    for row in swapped:
        assert row["task"] == "e2e_swap"
        base = originals[row["dialogue_id"].split("#")[0]]
        copy = row["messages"]
        assert [m["role"] for m in copy] == [m["role"] for m in base]
        # the function list is not touched (the instruction paraphrase is sampled anew)
        assert copy[0]["content"].split("\n\n", 1)[1] == base[0]["content"].split("\n\n", 1)[1]
        said = "\n".join(m["content"] for m in copy if m["role"] == "user")
        said_before = "\n".join(m["content"] for m in base if m["role"] == "user")
        assert said != said_before
        for old, new in zip(base[1:], copy[1:], strict=True):
            is_call = new["content"].startswith(CALL_OPEN)
            # loss on the calls only: the observations' DB counts belong to the old values
            assert new["loss"] == (is_call and old["loss"])
            if not is_call:
                continue
            before, after = _call_arguments(old["content"]), _call_arguments(new["content"])
            assert before.keys() == after.keys()
            for name, value in after.items():
                if value != before[name]:
                    changed_calls += 1
                    # the new value is what the swapped conversation says, the old one is gone
                    assert _says(said, value)
                    assert not _says(said, before[name])
    assert changed_calls > 0
    # seeded: the same seed gives the same copies, another seed other ones
    assert SpecTODSystem(value_swap_copies=2).build_rows(sample, seed=0)["e2e_swap"] == swapped
    assert SpecTODSystem(value_swap_copies=2).build_rows(sample, seed=1)["e2e_swap"] != swapped
    # not at inference (seed None builds the fixed prompts)
    assert "e2e_swap" not in SpecTODSystem(value_swap_copies=2).build_rows(sample, seed=None)


def _answers(messages):
    return [m["content"] for m in messages if m["content"].startswith("Action:")]


def test_response_shuffle_gives_the_call_only_copies_other_turns_answers(toy_multiwoz_source):
    """``response_shuffle``: the value-swapped copies (loss on the calls only) show other
    turns' system answers, drawn from the split's answers with the seed; the conversations
    the policy learns from keep the reference's."""
    train = toy_multiwoz_source.read("train")
    sample = train.subset(train.dialogue_ids[:30])
    plain = SpecTODSystem(value_swap_copies=2).build_rows(sample, seed=0)
    rows = SpecTODSystem(value_swap_copies=2, response_shuffle=1.0).build_rows(sample, seed=0)
    assert rows["e2e"] == plain["e2e"] and rows["domain"] == plain["domain"]
    originals = {r["dialogue_id"]: r["messages"] for r in rows["e2e"]}
    every_answer = {a for messages in originals.values() for a in _answers(messages)}
    changed = kept = 0
    for row in rows["e2e_swap"]:
        base = originals[row["dialogue_id"].split("#")[0]]
        assert [m["role"] for m in row["messages"]] == [m["role"] for m in base]
        assert all(m["loss"] == m["content"].startswith(CALL_OPEN) for m in row["messages"][1:])
        for old, new in zip(_answers(base), _answers(row["messages"]), strict=True):
            assert new in every_answer
            changed += old != new
            kept += old == new
    assert changed > 3 * kept  # with probability 1 only a draw of the same answer keeps one
    unshuffled = [a for r in plain["e2e_swap"] for a in _answers(r["messages"])]
    base_answers = [a for r in plain["e2e_swap"]
                    for a in _answers(originals[r["dialogue_id"].split("#")[0]])]
    assert unshuffled == base_answers
    again = SpecTODSystem(value_swap_copies=2, response_shuffle=1.0).build_rows(sample, seed=0)
    assert again["e2e_swap"] == rows["e2e_swap"]
    with pytest.raises(ConfigError, match="system.response_shuffle"):
        SpecTODSystem(value_swap_copies=2, response_shuffle=1.5)
    with pytest.raises(ConfigError, match="system.response_shuffle"):
        SpecTODSystem(response_shuffle=0.5)  # no copies to shuffle


def test_value_swap_copies_must_be_usable():
    with pytest.raises(ConfigError, match="system.value_swap_copies"):
        SpecTODSystem(value_swap_copies=-1)
    with pytest.raises(ConfigError, match="system.value_swap_copies"):
        SpecTODSystem(value_swap_copies=2, tasks=["dst", "domain"])  # nothing to copy


def test_call_key_tokens_give_each_value_a_slot_token_and_the_users_pieces(
        toy_multiwoz_source, tmp_path, compose):
    """``call_key_tokens`` (+ ``spaced_values``): in a tokenizer trained from scratch a call's
    value follows ONE token naming its argument, and has the very pieces the user said --
    what a copy head points at. (The slow pipeline test checks the trained tokenizer has them.)"""
    from tod_lab.models.factory import ModelSpec, build_tiny_tokenizer
    from tod_lab.pipeline import system_tokenizer_tokens
    from tod_lab.spectod.prompts import argument_key_token, render_call

    system = SpecTODSystem(spec_detail="names", spaced_values=True, call_key_tokens=True)
    with pytest.raises(ConfigError, match="call_key_tokens"):
        system.tokenizer_tokens()  # the catalog is not fixed yet
    rows = system.build_rows(toy_multiwoz_source.read("train"), seed=0)
    tokens = system_tokenizer_tokens(system)
    arguments = {a.name for spec in system.catalog for a in spec.arguments}
    assert set(tokens) == {argument_key_token(name) for name in arguments}
    assert argument_key_token("area") == '"area": "'
    assert SpecTODSystem().tokenizer_tokens() == ()  # off by default

    spec = ModelSpec.from_config(compose(["model=llama_tiny"]).model)
    texts = [m["content"] for r in rows["e2e"][:100] for m in r["messages"]]
    tokenizer = build_tiny_tokenizer(spec, texts, tmp_path / "cache", tokens)

    def pieces(text):
        return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])

    call = pieces(render_call("find_attraction", {"area": "centre", "type": "museum"},
                              spaced_values=True))
    user = pieces("I would like a museum in the centre.")
    for key, value in (('"area": "', "centre"), ('"type": "', "museum")):
        at = call.index(key)  # one token
        assert tokenizer.convert_tokens_to_string([call[at + 1]]).strip() == value
        assert call[at + 1] in user  # the same piece as in the user's words
    # without them the key is spread over several pieces and the value is not the user's
    plain = build_tiny_tokenizer(spec, texts, tmp_path / "cache")
    plain_call = plain.convert_ids_to_tokens(
        plain(render_call("find_attraction", {"area": "centre"}), add_special_tokens=False)["input_ids"])
    assert '"area": "' not in plain_call


def test_spec_detail_functions_lists_function_names_only(toy_multiwoz_source):
    """``spec_detail: functions``: the e2e system message names the functions on one line,
    nothing else (no argument lists, call format or action inventory); the calls are
    unchanged."""
    full = SpecTODSystem(spec_detail="names").build_rows(
        toy_multiwoz_source.read("dev").subset(["MUL01005.json"]), seed=None)
    short = SpecTODSystem(spec_detail="functions").build_rows(
        toy_multiwoz_source.read("dev").subset(["MUL01005.json"]), seed=None)
    system = short["e2e"][0]["messages"][0]["content"]
    assert "Functions: find_book_restaurant, find_book_hotel, find_attraction, find_book_train." in system
    assert "pricerange" not in system and "Action domains" not in system and "[inform]" not in system
    assert "<function_call>" not in system and "<FUNCTION>" not in system and "\n\n\n" not in system
    assert "pricerange" in full["e2e"][0]["messages"][0]["content"]
    assert len(system) < len(full["e2e"][0]["messages"][0]["content"]) / 2
    assert short["e2e"][0]["messages"][1:] == full["e2e"][0]["messages"][1:]
    with pytest.raises(ConfigError, match="spec_detail"):
        SpecTODSystem(spec_detail="tiny").build_rows(
            toy_multiwoz_source.read("dev").subset(["MUL01005.json"]), seed=None)


def test_domain_history_calls_name_the_functions_of_each_shown_exchange(toy_multiwoz_source):
    """"What is the address?" after a delexicalised answer: the call before it gives the
    domain. The agent renders its own calls the same way (test_spectod_agent.py's oracle test
    replays them)."""
    dev = toy_multiwoz_source.read("dev")
    system = SpecTODSystem(domain_history_turns=1, domain_history_calls=True)
    rows = system.build_rows(dev.subset(dev.dialogue_ids[:5]), seed=None)["domain"]
    second = [r for r in rows if r["dialogue_id"].endswith("#1")]
    assert second
    for row in second:
        conversation = row["messages"][1]["content"]
        first_target = next(r for r in rows if r["dialogue_id"] == row["dialogue_id"][:-1] + "0")
        lines = conversation.split("\n")
        assert lines[2] == f"functions: {first_target['messages'][-1]['content']}", conversation
    plain = SpecTODSystem(domain_history_turns=1).build_rows(
        dev.subset(dev.dialogue_ids[:5]), seed=None)["domain"]
    assert not any("functions:" in r["messages"][1]["content"] for r in plain)
