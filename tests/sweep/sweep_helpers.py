"""Shared helpers of the sweep tests: a mini SGD corpus, running a sweep in a subprocess,
and reading W&B offline run files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tod_lab.data.io import write_json

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEST_CONF = HERE / "conf"

SERVICE = {
    "service_name": "Restaurants_1",
    "description": "Find and reserve restaurants",
    "slots": [
        {"name": "city", "description": "City of the restaurant", "is_categorical": False,
         "possible_values": []},
        {"name": "cuisine", "description": "Type of food", "is_categorical": True,
         "possible_values": ["italian", "thai"]},
    ],
    "intents": [
        {"name": "FindRestaurants", "description": "Find a restaurant",
         "is_transactional": False, "required_slots": ["city"],
         "optional_slots": {"cuisine": "dontcare"}, "result_slots": ["city", "cuisine"]},
    ],
}
CITIES = ["paris", "rome", "oslo", "lima", "kyiv"]


def mini_dialogue(split: str, index: int) -> dict:
    city = CITIES[index % len(CITIES)]
    cuisine = ["italian", "thai"][index % 2]
    user = f"find me {cuisine} food in {city}"
    start = user.index(city)
    return {
        "dialogue_id": f"{split}_{index:03d}",
        "services": ["Restaurants_1"],
        "turns": [
            {"speaker": "USER", "utterance": user, "frames": [{
                "service": "Restaurants_1",
                "slots": [{"slot": "city", "start": start, "exclusive_end": start + len(city)}],
                "actions": [{"act": "INFORM", "slot": "city", "values": [city]}],
                "state": {"active_intent": "FindRestaurants", "requested_slots": [],
                          "slot_values": {"city": [city], "cuisine": [cuisine]}},
            }]},
            {"speaker": "SYSTEM", "utterance": "how about luigi's?", "frames": [{
                "service": "Restaurants_1", "slots": [],
                "actions": [{"act": "OFFER", "slot": "city", "values": [city]}],
            }]},
        ],
    }


def write_mini_sgd(root: Path, sizes: dict[str, int] | None = None) -> Path:
    """An SGD-layout corpus (one service) under ``root/sgd``: 20 train, 6 dev, 6 test."""
    sizes = sizes or {"train": 20, "dev": 6, "test": 6}
    for split, n in sizes.items():
        directory = root / "sgd" / split
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "schema.json", [SERVICE])
        write_json(directory / "dialogues_001.json", [mini_dialogue(split, i) for i in range(n)])
    return root / "sgd"


def sweep_env(workdir: Path, data_root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TOD_LAB_ROOT=str(workdir),  # outputs/ go under workdir
        TOD_LAB_DATA=str(data_root),
        PYTHONPATH=os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]),
        HYDRA_FULL_ERROR="1",
    )
    env.setdefault("WANDB_MODE", "disabled")
    env.update(extra)
    return env


def run_sweep(args: list[str], workdir: Path, data_root: Path, *, timeout: float = 300,
              check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """``python -m tod_lab.sweep.run ARGS`` with the test configs on Hydra's search path."""
    command = [sys.executable, "-m", "tod_lab.sweep.run", *args,
               f"hydra.searchpath=[file://{TEST_CONF}]", "data=sgd"]
    result = subprocess.run(command, cwd=workdir, env=sweep_env(workdir, data_root, **env),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"sweep failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-6000:]}")
    return result
