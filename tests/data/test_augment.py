"""Value-swap augmentation (tod_lab/data/augment.py): what is swapped, consistency between
prompt and target, the said-value pools read from a split."""

from __future__ import annotations

import random
import re

from tod_lab.data.augment import SaidValues, swap_values
from tod_lab.data.toy import ToySource

NAME = ("Restaurants_1", "restaurant_name")
TIME = ("Restaurants_1", "time")
PARTY = ("Restaurants_1", "party_size")

SAID = SaidValues({
    NAME: ("Bangkok Bay", "Lotus", "Sushi Go"),
    TIME: ("7 pm", "8 pm", "half past 6"),
    PARTY: ("2", "4"),
})

SOURCE = "agent: how about lotus? it is at 12 main street.\nuser: book lotus at 7 pm for 2."
TARGET = 'reserve(restaurant_name=" lotus ", time=" 7 pm ", party_size=" 2 ")'
VALUES = [(NAME, " lotus "), (TIME, " 7 pm "), (PARTY, " 2 ")]


def quoted(text: str) -> list[str]:
    return [v.strip() for v in re.findall(r'"([^"]*)"', text)]


def test_values_are_swapped_in_prompt_and_target_alike():
    for seed in range(6):
        source, target = swap_values(SOURCE, TARGET, VALUES, SAID, random.Random(seed),
                                     lowercase=True)
        name, time, party = quoted(target)
        assert name in ("bangkok bay", "sushi go") and time in ("8 pm", "half past 6")
        assert party == "2"  # bare numbers stay: "2" is also a star rating, a date, ...
        assert source == (f"agent: how about {name}? it is at 12 main street.\n"
                          f"user: book {name} at {time} for 2.")
        assert target == TARGET.replace("lotus", name).replace("7 pm", time)


def test_a_replacement_is_never_a_value_the_prompt_already_says():
    source = SOURCE + "\nagent: bangkok bay is full."
    names = {quoted(swap_values(source, TARGET, VALUES, SAID, random.Random(seed))[1])[0]
             for seed in range(12)}
    assert names == {"Sushi Go"}


def test_nothing_to_swap_gives_none():
    rng = random.Random(0)
    # a value the prompt does not say, a bare number, dontcare, a slot without a pool
    assert swap_values(SOURCE, 'x(time=" 9 pm ")', [(TIME, " 9 pm ")], SAID, rng) is None
    assert swap_values(SOURCE, 'x(party_size=" 2 ")', [(PARTY, " 2 ")], SAID, rng) is None
    assert swap_values("user: any time", 'x(time="dontcare")', [(TIME, "dontcare")], SAID,
                       rng) is None
    assert swap_values(SOURCE, 'x(city=" lotus ")', [(("Restaurants_1", "city"), "lotus")],
                       SAID, rng) is None


def test_a_value_is_only_replaced_as_whole_words():
    said = SaidValues({TIME: ("the 12th", "the 3rd")})
    source, target = swap_values("user: the 12th, not the 112th.", 'x(date=" the 12th ")',
                                 [(TIME, "the 12th")], said, random.Random(0))
    assert source == "user: the 3rd, not the 112th." and target == 'x(date=" the 3rd ")'


def test_pools_hold_the_said_forms_of_non_categorical_slots_only(tmp_path):
    source = ToySource(name="toy", root=str(tmp_path), train_dialogues=30, dev_dialogues=8,
                       test_dialogues=8)
    train = source.read("train")
    said = SaidValues.from_split(train)
    categorical = {(s.name, slot.name) for s in train.schema for slot in s.slots
                   if slot.is_categorical}
    assert said.pools and not set(said.pools) & categorical
    # every pooled value is said verbatim somewhere in the split (spans and act values)
    text = "\n".join(t.utterance.lower() for d in train.dialogues for t in d.turns)
    for pool in said.pools.values():
        assert pool == tuple(sorted(pool, key=str.lower))
        assert all(v.lower() in text for v in pool)
    assert len(said.choices(("Restaurants_1", "city"))) > 3
    assert said.choices(("Restaurants_1", "no_such_slot")) == ()


def test_categorical_pools_are_the_possible_values_on_request(tmp_path):
    source = ToySource(name="toy", root=str(tmp_path), train_dialogues=20, dev_dialogues=8,
                       test_dialogues=8)
    train = source.read("train")
    plain, with_categorical = SaidValues.from_split(train), SaidValues.from_split(
        train, categorical=True)
    added = set(with_categorical.pools) - set(plain.pools)
    slots = {(s.name, slot.name): slot for s in train.schema for slot in s.slots}
    assert ("Restaurants_1", "cuisine") in added
    assert all(slots[key].is_categorical for key in added)
    for key in added:  # possible values, never booleans or bare numbers
        assert set(with_categorical.pools[key]) <= set(slots[key].possible_values)
        assert not {v.lower() for v in with_categorical.pools[key]} & {"true", "false"}
        assert not any(v.isdigit() for v in with_categorical.pools[key])
    assert not {k for k in added if slots[k].possible_values == ("True", "False")}
