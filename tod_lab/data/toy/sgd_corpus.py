"""Writing the SGD-layout toy corpus: ``{train,dev,test}/schema.json`` + ``dialogues_NNN.json``.

Train dialogues use only the seen services; dev and test mix seen-only dialogues with
dialogues involving services that are absent from the train schema (about half), so the
official seen / unseen breakdown is meaningful. Each split's ``schema.json`` lists the
services that split uses, as SGD's do. Every dialogue draws from its own RNG, seeded
from (corpus seed, split, index), so the output is byte-identical for the same seed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tod_lab.data.io import write_json
from tod_lab.data.toy.cache import CorpusParams
from tod_lab.data.toy.sgd_dialogues import Scenario, SGDDialogueSimulator
from tod_lab.data.toy.sgd_services import (
    ALL_SERVICES,
    SEEN_COMBOS,
    SEEN_SERVICES,
    UNSEEN_COMBOS,
    UNSEEN_SERVICES,
)
from tod_lab.data.toy.world import ToyWorld

DIALOGUES_PER_FILE = 128  # like the official SGD files
MULTI_SERVICE_SHARE = 0.45
UNSEEN_SHARE = 0.5  # of dev / test dialogues


def sample_scenario(rng: random.Random, split: str) -> Scenario:
    unseen = split != "train" and rng.random() < UNSEEN_SHARE
    singles = UNSEEN_SERVICES if unseen else SEEN_SERVICES
    combos = UNSEEN_COMBOS if unseen else SEEN_COMBOS
    if rng.random() < MULTI_SERVICE_SHARE:
        first, second, carry = combos[rng.randrange(len(combos))]
        return Scenario((first, second), carry)
    return Scenario((singles[rng.randrange(len(singles))].name,))


def dialogue_id(index: int) -> str:
    """SGD ids: ``{file number}_{index in file:05d}``."""
    return f"{index // DIALOGUES_PER_FILE + 1}_{index % DIALOGUES_PER_FILE:05d}"


def generate_dialogue(world: ToyWorld, seed: int, split: str, index: int) -> dict[str, Any]:
    rng = random.Random(f"toy-sgd:{seed}:{split}:{index}")
    scenario = sample_scenario(rng, split)
    return SGDDialogueSimulator(world, rng, dialogue_id(index)).run(scenario)


def split_schema(split: str, dialogues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if split == "train":
        names = [s.name for s in SEEN_SERVICES]
    else:
        used = {name for d in dialogues for name in d["services"]}
        names = [s.name for s in SEEN_SERVICES + UNSEEN_SERVICES if s.name in used]
    return [ALL_SERVICES[name].to_json() for name in names]


def build_sgd_corpus(directory: Path, params: CorpusParams) -> None:
    """Generate every split of the SGD-style toy corpus into ``directory``."""
    world = ToyWorld(params.corpus_seed)
    for split, count in params.sizes.items():
        dialogues = [generate_dialogue(world, params.corpus_seed, split, i) for i in range(count)]
        split_dir = directory / split
        write_json(split_dir / "schema.json", split_schema(split, dialogues))
        for start in range(0, count, DIALOGUES_PER_FILE):
            number = start // DIALOGUES_PER_FILE + 1
            chunk = dialogues[start : start + DIALOGUES_PER_FILE]
            write_json(split_dir / f"dialogues_{number:03d}.json", chunk)
