"""Readers, validation and clear errors on corrupted inputs (self-made files)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tod_lab.data import multiwoz, sgd
from tod_lab.data.io import dialogue_files
from tod_lab.errors import DataError

SCHEMA = [
    {
        "service_name": "Restaurants_1",
        "description": "find and book restaurants",
        "slots": [
            {"name": "city", "description": "city", "is_categorical": False,
             "possible_values": []},
            {"name": "party_size", "description": "people", "is_categorical": True,
             "possible_values": ["1", "2", "3"]},
        ],
        "intents": [
            {"name": "FindRestaurants", "description": "find", "is_transactional": False,
             "required_slots": ["city"], "optional_slots": {}, "result_slots": ["city"]},
        ],
    }
]


def dialogue(dialogue_id="1_00000", *, slot="city", span=(12, 20), service="Restaurants_1"):
    utterance = "find one in San Jose"
    return {
        "dialogue_id": dialogue_id,
        "services": ["Restaurants_1"],
        "turns": [
            {
                "speaker": "USER",
                "utterance": utterance,
                "frames": [
                    {
                        "service": service,
                        "actions": [{"act": "INFORM", "slot": slot, "values": ["San Jose"],
                                     "canonical_values": ["San Jose"]}],
                        "slots": [{"slot": slot, "start": span[0], "exclusive_end": span[1]}],
                        "state": {"active_intent": "FindRestaurants", "requested_slots": [],
                                  "slot_values": {slot: ["San Jose"]}},
                    }
                ],
            },
            {"speaker": "SYSTEM", "utterance": "ok", "frames": [
                {"service": "Restaurants_1", "actions": [], "slots": []}]},
        ],
    }


def write_split(root: Path, dialogues, *, name="dialogues_001.json", schema=SCHEMA, gz=False):
    split = root / "train"
    split.mkdir(parents=True, exist_ok=True)
    if schema is not None:
        (split / "schema.json").write_text(json.dumps(schema))
    data = json.dumps(dialogues).encode()
    if gz:
        (split / (name + ".gz")).write_bytes(gzip.compress(data))
    else:
        (split / name).write_bytes(data)
    return root


def test_plain_and_gzip_files_read_alike(tmp_path):
    plain = sgd.read_split(write_split(tmp_path / "a", [dialogue()]), "train")
    packed = sgd.read_split(write_split(tmp_path / "b", [dialogue()], gz=True), "train")
    assert plain.dialogues == packed.dialogues
    assert plain.dialogues[0].turns[0].frames[0].state.slot_values == {"city": ("San Jose",)}


def test_dialogue_files_prefers_plain_copy_and_ignores_other_files(tmp_path):
    (tmp_path / "dialogues_001.json").write_text("[]")
    (tmp_path / "dialogues_001.json.gz").write_bytes(gzip.compress(b"[]"))
    (tmp_path / "dialogues_002.json.gz").write_bytes(gzip.compress(b"[]"))
    (tmp_path / "schema.json").write_text("[]")
    (tmp_path / "notes.txt").write_text("")
    assert [p.name for p in dialogue_files(tmp_path)] == [
        "dialogues_001.json", "dialogues_002.json.gz"]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("truncated", r"dialogues_001\.json: invalid JSON"),
        ("truncated_gz", r"dialogues_001\.json\.gz: cannot read compressed file"),
        ("unknown_slot", r"dialogue 1_00000, turn 0: service Restaurants_1: action INFORM "
                         r"names unknown slot 'cuisine'"),
        ("missing_schema", r"schema\.json: schema file not found"),
        ("unknown_service", r"dialogue 1_00000, turn 0: frame service 'Hotels_9' is not in"),
        ("span_out_of_range", r"dialogue 1_00000, turn 0: .*span of slot 'city' \[12, 99\) "
                              r"lies outside the utterance"),
    ],
)
def test_corrupted_inputs_give_errors_naming_file_and_dialogue(tmp_path, case, expected):
    root = tmp_path / case
    if case == "truncated":
        write_split(root, [dialogue()])
        path = root / "train" / "dialogues_001.json"
        path.write_text(path.read_text()[:150])
    elif case == "truncated_gz":
        write_split(root, [dialogue()], gz=True)
        path = root / "train" / "dialogues_001.json.gz"
        path.write_bytes(path.read_bytes()[:40])
    elif case == "unknown_slot":
        write_split(root, [dialogue(slot="cuisine")])
    elif case == "missing_schema":
        write_split(root, [dialogue()], schema=None)
    elif case == "unknown_service":
        write_split(root, [dialogue(service="Hotels_9")])
    elif case == "span_out_of_range":
        write_split(root, [dialogue(span=(12, 99))])
    with pytest.raises(DataError, match=expected) as info:
        sgd.read_split(root, "train")
    assert str(root) in str(info.value)  # the file is named


def test_non_strict_skips_bad_dialogues_and_says_why(tmp_path):
    root = write_split(tmp_path, [dialogue("1_00000"), dialogue("1_00001", slot="cuisine")])
    data = sgd.read_split(root, "train", strict=False)
    assert data.dialogue_ids == ("1_00000",)
    assert "unknown slot 'cuisine'" in data.skipped["1_00001"]


def test_speakers_must_alternate(tmp_path):
    d = dialogue()
    d["turns"][1]["speaker"] = "USER"
    with pytest.raises(DataError, match="turn 1: speakers must alternate"):
        sgd.read_split(write_split(tmp_path, [d]), "train")


def test_duplicate_dialogue_ids_are_an_error(tmp_path):
    with pytest.raises(DataError, match="duplicate dialogue id"):
        sgd.read_split(write_split(tmp_path, [dialogue(), dialogue()]), "train")


def test_multiwoz22_fixture_reads_with_its_quirks(multiwoz_root):
    data = multiwoz.read_split(multiwoz_root, "train")
    assert data.dialogue_ids == ("PMUL0001.json", "SNG0002.json")
    first = data.dialogues[0]
    # frames for every domain on each user turn, empty/none on system turns
    assert [f.service for f in first.turns[0].frames] == ["restaurant", "hotel", "taxi"]
    assert first.turns[1].frames[0].state is None
    assert first.turns[-1].frames == ()
    taxi = first.turns[2].frame("taxi")
    assert taxi.state.slot_values["taxi-departure"] == ("golden house",)
    assert taxi.slots[0].copy_from == "restaurant-name"
    span = first.turns[2].frame("restaurant").slots[0]
    assert first.turns[2].utterance[span.start:span.exclusive_end] == span.value == "18:30"
    assert "PMUL0001.json" in data.extras["dialog_acts"]
    # round trip of the whole file
    raw = json.loads((multiwoz_root / "train" / "dialogues_001.json").read_text())
    assert [d.to_json() for d in data.dialogues] == raw


def test_multiwoz_missing_dialogues_say_how_to_get_them(tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    with pytest.raises(DataError, match="MultiWOZ 2.2 split directory not found.*data.root"):
        multiwoz.read_split(tmp_path, "dev")


def test_real_multiwoz_schema_validates_fixture_like_names(shared_data):
    from tod_lab.data.schema_io import read_schema

    schema = read_schema(shared_data / "multiwoz22" / "schema.json")
    assert len(schema) == 8
    assert schema.service("restaurant").slot("restaurant-food").is_categorical is False
