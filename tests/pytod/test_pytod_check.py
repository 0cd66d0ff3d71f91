"""``python -m tod_lab.pytod.check``: one JSON line per program read from stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pytod_schema_fixture import DIALOGUE_JSON, SCHEMA_JSON

REPO = Path(__file__).resolve().parents[2]


def check(args, stdin: str):
    return subprocess.run(
        [sys.executable, "-m", "tod_lab.pytod.check", *args],
        input=stdin, cwd=REPO, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def files(tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA_JSON))
    dialogues = tmp_path / "dialogues_001.json"
    dialogues.write_text(json.dumps([DIALOGUE_JSON]))
    return ["--schema", str(schema), "--dialogue", str(dialogues), "--dialogue_id", "9_00001"]


def test_programs_are_checked_one_per_line(files, tmp_path):
    programs = "\n".join([
        'x1 = restaurants_9_find_restaurants(cuisine="thai", city="san jose")',
        'x1 = restaurants_9_reserve_restaurant(party_size="three") <new> x2 = say(x1.phone_number)',
        f'x1 = __import__("os").system("touch {tmp_path}/pwned")',
        'x1 = restaurants_9_find_restaurants(party_size=12)',
    ]) + "\n"
    proc = check(files, programs)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 4
    first, second, hostile, invalid = results
    assert first["accepted"] and first["feedback"] == ""
    assert first["state"]["Restaurants_9"]["slot_values"] == {
        "cuisine": ["thai"], "city": ["san jose"]}
    assert first["state"]["Restaurants_9"]["active_intent"] == "FindRestaurants"
    # each program runs against a fresh session
    assert second["state"]["Restaurants_9"]["slot_values"] == {"party_size": ["3"]}
    assert second["state"]["Restaurants_9"]["requested_slots"] == ["phone_number"]
    assert not hostile["accepted"] and "methods cannot be called" in hostile["feedback"]
    assert hostile["state"]["Restaurants_9"]["slot_values"] == {}
    assert not (tmp_path / "pwned").exists()
    assert not invalid["accepted"] and "not a valid value of 'party_size'" in invalid["feedback"]


def test_turn_option_sees_the_system_offer(files):
    proc = check([*files, "--turn", "2"], 'x1 = select(restaurant_name="bangkok bay")\n')
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert not result["accepted"]  # no task exists in a fresh session
    proc = check([*files, "--turn", "2"],
                 'x1 = restaurants_9_find_restaurants() <new> x2 = select(from_results=x1)\n')
    result = json.loads(proc.stdout)
    assert result["accepted"], result
    assert result["state"]["Restaurants_9"]["slot_values"] == {
        "restaurant_name": ["Bangkok Bay"], "price_range": ["Cheap"]}


def test_bad_input_is_one_clear_error_line(files, tmp_path):
    proc = check([*files[:4], "--dialogue_id", "nope"], "")
    assert proc.returncode == 2
    assert "dialogue nope" in proc.stderr and "Traceback" not in proc.stderr
    proc = check(["--schema", str(tmp_path / "missing.json"), *files[2:]], "")
    assert proc.returncode == 2 and "schema file not found" in proc.stderr


@pytest.mark.real_data
def test_check_on_a_real_compressed_dialogue_file(sgd_root):
    args = ["--schema", str(sgd_root / "dev" / "schema.json"),
            "--dialogue", str(sgd_root / "dev" / "dialogues_001.json.gz"),
            "--dialogue_id", "1_00000"]
    proc = check(args, 'x1 = restaurants_2_reserve_restaurant(time="11:30", number_of_seats=2)\n')
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["accepted"]
    assert result["state"]["Restaurants_2"]["slot_values"]["number_of_seats"] == ["2"]
