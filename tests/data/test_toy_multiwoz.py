"""The MultiWOZ-2.2-layout toy corpus (``data=toy_multiwoz``): loads with the MultiWOZ reader,
its DB holds every offered venue, spans are exact, goals / booked domains follow mwzeval's
format, and the gold responses + states score Inform = Success = 100% under mwzeval's rules
(re-implemented below from mwzeval's ``get_dialog_success`` and its venue database)."""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from pathlib import Path

import pytest
from hydra.utils import instantiate
from lab_testing import compose_config

from tod_lab.data import multiwoz
from tod_lab.data.io import read_json
from tod_lab.data.toy import CorpusParams, ToyMultiWOZSource, ensure_corpus
from tod_lab.data.toy.multiwoz_corpus import build_multiwoz_corpus
from tod_lab.data.types import DialogueSplit

SPLITS = ("train", "dev", "test")
DOMAINS = ("restaurant", "hotel", "attraction", "train")
REQUESTABLE = {"PHONE", "ADDRESS", "POST", "REFERENCE", "TRAINID"}

with warnings.catch_warnings():  # mwzeval's matcher; the pure-python backend is what it uses
    warnings.simplefilter("ignore")
    from fuzzywuzzy import fuzz


@pytest.fixture(scope="session")
def mwz_source(tmp_path_factory) -> ToyMultiWOZSource:
    """1000 / 200 / 200 dialogues, generated once per session."""
    return ToyMultiWOZSource(name="toy_multiwoz", root=str(tmp_path_factory.mktemp("toy_mwz")))


@pytest.fixture(scope="session")
def mwz_root(mwz_source) -> Path:
    return mwz_source.corpus_path()


@pytest.fixture(scope="session")
def mwz_splits(mwz_source) -> dict[str, DialogueSplit]:
    return {split: mwz_source.read(split) for split in SPLITS}


def test_loads_through_hydra_with_the_multiwoz_reader(tmp_path):
    cfg = compose_config(["data=toy_multiwoz", "data.train_dialogues=20", "data.dev_dialogues=8",
                          "data.test_dialogues=8"], run_dir=tmp_path)  # fmt: skip
    source = instantiate(cfg.data, _convert_="all")
    assert isinstance(source, ToyMultiWOZSource)
    dev = source.read()
    assert (dev.corpus, dev.split, len(dev)) == ("toy_multiwoz", "dev", 8)
    assert set(dev.extras) == {"dialog_acts", "db_dir"}
    assert set(source.train_schema().service_names) == set(DOMAINS)
    # every user turn has a frame for every domain, MultiWOZ 2.2 style
    for dialogue in dev:
        for turn in dialogue.user_turns:
            assert [f.service for f in turn.frames] == list(DOMAINS)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    def build(root, seed):
        path = ensure_corpus(root, CorpusParams("multiwoz", seed, 20, 8, 8), build_multiwoz_corpus)
        return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}

    first, again, other = build(tmp_path / "a", 0), build(tmp_path / "b", 0), build(tmp_path / "c", 3)
    assert first == again
    for name in ("goals.json", "db/restaurant_db.json", "train/dialogues_001.json"):
        assert first[name] != other[name], name


def test_layout_and_db_conventions(mwz_root, mwz_splits):
    assert {s: len(d) for s, d in mwz_splits.items()} == {"train": 1000, "dev": 200, "test": 200}
    fields = {
        "restaurant": {"address", "area", "food", "id", "introduction", "location", "name",
                       "phone", "postcode", "pricerange", "type"},
        "hotel": {"address", "area", "internet", "parking", "id", "location", "name", "phone",
                  "postcode", "price", "pricerange", "stars", "takesbookings", "type"},
        "attraction": {"address", "area", "entrance fee", "id", "location", "name", "openhours",
                       "phone", "postcode", "pricerange", "type"},
        "train": {"arriveBy", "day", "departure", "destination", "duration", "leaveAt", "price",
                  "trainID"},
    }  # fmt: skip
    for domain, expected in fields.items():
        records = read_json(mwz_root / "db" / f"{domain}_db.json")
        assert len(records) >= 25
        assert all(set(r) == expected for r in records), domain
    ids = [d.dialogue_id for s in mwz_splits.values() for d in s]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"(SNG|MUL)\d{5}\.json", i) for i in ids)
    multi = sum(len(d.services) > 1 for d in mwz_splits["train"])
    assert 0.4 < multi / 1000 < 0.8


def test_spans_and_span_info_are_exact(mwz_splits):
    acts = mwz_splits["dev"].extras["dialog_acts"]
    checked = 0
    for split in SPLITS:
        for dialogue in mwz_splits[split]:
            by_turn = acts_for(mwz_splits, dialogue.dialogue_id)
            assert set(by_turn) == {t.turn_id for t in dialogue.turns}
            for turn in dialogue.turns:
                for frame in turn.frames:
                    for span in frame.slots:
                        assert turn.utterance[span.start : span.exclusive_end] == span.value
                        assert span.slot.startswith(frame.service + "-")
                        checked += 1
                entry = by_turn[turn.turn_id]
                assert entry["dialog_act"], (dialogue.dialogue_id, turn.turn_id)
                for act, slot, value, start, end in entry["span_info"]:
                    assert turn.utterance[start:end] == value
                    assert [slot, value] in entry["dialog_act"][act]
    assert checked > 5000
    assert acts  # the reader exposes dialog_acts.json


def acts_for(splits: dict[str, DialogueSplit], dialogue_id: str) -> dict:
    return splits["train"].extras["dialog_acts"][dialogue_id]


def test_every_offered_venue_is_in_the_db_and_satisfies_the_state(mwz_root, mwz_splits):
    db = {d: read_json(mwz_root / "db" / f"{d}_db.json") for d in DOMAINS}
    names = {d: {r["name"]: r for r in db[d]} for d in ("restaurant", "hotel", "attraction")}
    trains = {r["trainID"]: r for r in db["train"]}
    offers = 0
    for split in SPLITS:
        for dialogue in mwz_splits[split]:
            by_turn = acts_for(mwz_splits, dialogue.dialogue_id)
            state: dict[str, dict[str, str]] = {}
            for turn in dialogue.turns:
                if turn.speaker == "USER":
                    state = {f.service: {k.split("-", 1)[1]: v[0] for k, v in f.state.slot_values.items()}
                             for f in turn.frames}  # fmt: skip
                    continue
                for act, pairs in by_turn[turn.turn_id]["dialog_act"].items():
                    domain = act.split("-")[0].lower()
                    for slot, value in pairs:
                        if slot == "name" and domain in names:
                            record = names[domain][value]  # KeyError = venue not in the DB
                            constraints = {k: v for k, v in state[domain].items()
                                           if not k.startswith("book") and v != "dontcare"}
                            assert all(str(record[k]) == v for k, v in constraints.items())
                            offers += 1
                        if slot == "trainid":
                            record = trains[value]
                            cons = state["train"]
                            for key in ("departure", "destination", "day"):
                                assert record[key] == cons[key]
                            assert record["leaveAt"] >= cons.get("leaveat", "00:00")
                            assert record["arriveBy"] <= cons.get("arriveby", "23:59")
                            offers += 1
    assert offers > 1500


def test_goals_and_booked_domains_follow_mwzeval_format(mwz_root, mwz_splits):
    goals = read_json(mwz_root / "goals.json")
    booked = read_json(mwz_root / "booked_domains.json")
    dialogues = {d.dialogue_id: d for s in mwz_splits.values() for d in s}
    keys = {i.removesuffix(".json").lower() for i in dialogues}
    assert set(goals) == keys == set(booked)
    kinds = Counter()
    for dialogue_id, dialogue in dialogues.items():
        key = dialogue_id.removesuffix(".json").lower()
        goal = goals[key]
        assert set(goal) == set(dialogue.services)
        for _domain, spec in goal.items():
            assert set(spec) == {"informable", "requestable", "booking"}
            assert set(spec["requestable"]) <= REQUESTABLE
            assert ("REFERENCE" in spec["requestable"]) == bool(spec["booking"])
            assert "leaveat" not in spec["informable"] and "arriveby" not in spec["informable"]
            kinds.update(spec["requestable"])
            kinds["booked"] += bool(spec["booking"])
            kinds["named"] += "name" in spec["informable"]
        per_turn = booked[key]
        assert len(per_turn) == sum(t.speaker == "SYSTEM" for t in dialogue.turns)
        for before, after in zip(per_turn, per_turn[1:], strict=False):
            assert after[: len(before)] == before  # cumulative
        assert set(per_turn[-1]) == {d for d, spec in goal.items() if spec["booking"]}
    for token in REQUESTABLE | {"booked", "named"}:
        assert kinds[token] >= 30, (token, kinds)


# ----------------------------------------------------------------------------- mwzeval


class MwzevalDB:
    """mwzeval's ``MultiWOZVenueDatabase.query`` on our ``db/`` (same normalisation)."""

    IGNORE = {"attraction": {"location", "openhours"}, "hotel": {"location", "price", "takesbookings"},
              "restaurant": {"location", "introduction", "signature"}}  # fmt: skip
    FUZZY = {"hotel": {"name"}, "attraction": {"name"}, "restaurant": {"name", "food"},
             "train": {"departure", "destination"}}  # fmt: skip

    def __init__(self, db_dir: Path):
        def column(name: str) -> str:
            name = name.lower().replace(" ", "")
            return {"arriveby": "arrive", "leaveat": "leave"}.get(name, name) if name != "id" else name

        self.cache: dict[tuple, list[str]] = {}
        self.ratios: dict[tuple[str, str], int] = {}
        self.data = {}
        for domain in DOMAINS:
            records = read_json(db_dir / f"{domain}_db.json")
            self.data[domain] = [
                {column(k): v for k, v in r.items() if k not in self.IGNORE.get(domain, ())}
                for r in records
            ]

    def ratio(self, a: str, b: str) -> int:
        # few distinct values (names, foods, stations): memoise the slow pure-python matcher
        if (a, b) not in self.ratios:
            self.ratios[(a, b)] = fuzz.partial_ratio(a, b)
        return self.ratios[(a, b)]

    @staticmethod
    def minutes(value: str) -> int:
        return int(value[:2]) * 60 + int(value[3:]) if re.match(r"\d\d:\d\d", value) else 0

    def query(self, domain: str, constraints: dict[str, str]) -> list[str]:
        key = (domain, tuple(sorted(constraints.items())))
        if key not in self.cache:  # states repeat turn after turn; pure-python fuzz is slow
            self.cache[key] = self._query(domain, constraints)
        return self.cache[key]

    def _query(self, domain: str, constraints: dict[str, str]) -> list[str]:
        keys = set(self.data[domain][0])
        query = {}
        for key in keys:
            if key in constraints:
                if constraints[key] in ("dontcare", "not mentioned", "don't care", "dont care"):
                    continue
                value = constraints[key]
                if key in ("parking", "internet") and value == "free":
                    value = "yes"
                query[key] = self.minutes(value) if key in ("arrive", "leave") else value
        found = []
        for item in self.data[domain]:
            ok = True
            for k, v in query.items():
                if item[k] == "?":
                    continue
                if k == "arrive":
                    ok = self.minutes(item[k]) <= v
                elif k == "leave":
                    ok = self.minutes(item[k]) >= v
                elif k in self.FUZZY.get(domain, ()):
                    ok = self.ratio(item[k], v) >= 90
                else:
                    ok = item[k] == v
                if not ok:
                    break
            if ok:
                found.append(item["trainid"] if domain == "train" else item["id"])
        return found


TOKENS = {"name": "NAME", "phone": "PHONE", "postcode": "POST", "ref": "REFERENCE",
          "trainid": "TRAINID", "address": "ADDRESS"}  # fmt: skip


def delexicalise(utterance: str, span_info: list) -> str:
    """mwzeval's ``delexicalize_utterance`` + its slot-name normalisation (for these tokens)."""
    out, previous = "", 0
    for _act, slot, value, start, end in sorted(span_info, key=lambda x: x[-2]):
        if start < previous or value == "dontcare":
            continue
        out += utterance[previous:start] + f"[{TOKENS.get(slot, slot.upper())}]"
        previous = end
    return out + utterance[previous:]


def estimate_domains(turns: list[dict]) -> None:
    """mwzeval's ``get_domain_estimates_from_state`` (used when no active_domains are given)."""
    current, old_state, old_changed = None, {}, []
    for turn in turns:
        changed = [
            d for d in turn["state"]
            if set(turn["state"].get(d, {}).items()) - set(old_state.get(d, {}).items())
        ]  # fmt: skip
        if not changed:
            if current is None:
                turn["active_domains"] = []
                continue
            if len(old_changed) > 1:
                old_changed = [x for x in old_changed if x in turn["state"] and x != current]
                if old_changed:
                    current = old_changed[0]
        elif current not in changed:
            current = max(changed, key=lambda x: len(turn["state"][x]))
        old_state, old_changed = turn["state"], changed
        turn["active_domains"] = [current]


def dialog_success(goal, booked, turns, db: MwzevalDB) -> tuple[dict, dict]:
    """mwzeval's ``get_dialog_success`` (Inform = match, Success)."""
    wanted = {d: set(goal[d]["requestable"]) for d in goal}
    offered: dict = {d: [] for d in goal}
    provided = {d: set() for d in goal}
    for turn, booked_now in zip(turns, booked, strict=True):
        for domain in goal:
            if domain not in turn["active_domains"]:
                continue
            response = turn["response"]
            if ("NAME" in response and domain in ("restaurant", "hotel", "attraction")) or (
                "TRAINID" in response and domain == "train"
            ):
                venues = db.query(domain, turn["state"][domain]) if domain in turn["state"] else []
                if not offered[domain] or any(v not in venues for v in offered[domain]):
                    offered[domain] = venues
            for token in REQUESTABLE:
                if token in response:
                    if token != "REFERENCE" or domain in booked_now:
                        provided[domain].add(token)
    for domain in goal:
        if "name" in goal[domain]["informable"]:
            offered[domain] = "MATCHED"
        if domain == "train" and not offered["train"] and "TRAINID" not in goal["train"]["requestable"]:
            offered[domain] = "MATCHED"
    match = {}
    for domain in goal:
        if offered[domain] == "MATCHED":
            match[domain] = True
        elif offered[domain]:
            match[domain] = set(offered[domain]) <= set(db.query(domain, goal[domain]["informable"]))
        else:
            match[domain] = False
    success = {d: wanted[d] <= provided[d] for d in goal} if all(match.values()) else {}
    return match, success


def test_gold_dialogues_reach_full_inform_and_success_under_mwzeval_rules(mwz_root, mwz_splits):
    db = MwzevalDB(mwz_root / "db")
    goals = read_json(mwz_root / "goals.json")
    booked = read_json(mwz_root / "booked_domains.json")
    inform = success = total = 0
    keys = [d.dialogue_id.removesuffix(".json").lower() for d in mwz_splits["test"]]
    wrong_goal = dict(zip(keys, keys[1:] + keys[:1], strict=True))  # each dialogue judged by another's goal
    wrong_inform = 0
    for dialogue in mwz_splits["test"]:
        key = dialogue.dialogue_id.removesuffix(".json").lower()
        acts = acts_for(mwz_splits, dialogue.dialogue_id)
        turns, state = [], {}
        for turn in dialogue.turns:
            if turn.speaker == "USER":
                state = {}
                for frame in turn.frames:  # mwzeval's parse_state: first value, no dontcare
                    values = {k.split("-", 1)[1].replace("arriveby", "arrive").replace("leaveat", "leave"): v[0]
                              for k, v in frame.state.slot_values.items() if "dontcare" not in v}  # fmt: skip
                    if values:
                        state[frame.service] = values
                continue
            response = delexicalise(turn.utterance, acts[turn.turn_id]["span_info"])
            turns.append({"response": response, "state": state})
        estimate_domains(turns)
        match, ok = dialog_success(goals[key], booked[key], turns, db)
        total += 1
        inform += all(match.values())
        success += bool(ok) and all(ok.values())
        other = goals[wrong_goal[key]]
        if set(other) <= set(goals[key]):
            wrong_inform += all(dialog_success(other, booked[key], turns, db)[0].values())
    assert total == 200
    assert (inform, success) == (total, total)
    # the check is not vacuous: venues offered for one user's goal do not fit another's
    assert wrong_inform < 0.5 * total


def test_stats_cli_works_on_the_multiwoz_variant(tmp_path):
    import os
    import subprocess
    import sys

    from lab_testing import REPO

    env = {**os.environ, "TOD_LAB_ROOT": str(tmp_path), "TOD_LAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "tod_lab.data", "data=toy_multiwoz", "data.split=test",
         "data.train_dialogues=30", "data.test_dialogues=10", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (stats["corpus"], stats["dialogues"], stats["services"]) == ("toy_multiwoz", 10, 4)
    assert len(multiwoz.read_split(next((tmp_path / "cache" / "toy").iterdir()), "train")) == 30
