"""The data layer on the real SGD / SGD-X copy in ../shared/data (skipped when absent)."""

from __future__ import annotations

import gzip
import json
import random
import shutil

import pytest

from tod_lab.data.fractions import select_ids
from tod_lab.data.sgd import read_split
from tod_lab.data.sgdx import VARIANTS
from tod_lab.data.stats import split_statistics
from tod_lab.data.types import Dialogue

pytestmark = pytest.mark.real_data

# ../shared/data/README.md
EXPECTED = {
    "train": dict(dialogues=12174, turns=223756, user_frames=118167, services=26),
    "dev": dict(dialogues=2098, turns=38768, user_frames=20542, services=17,
                seen_services=9, unseen_services=8),
    "test": dict(dialogues=2921, turns=49726, user_frames=26802, services=21,
                 seen_services=6, unseen_services=15),
}


@pytest.fixture(scope="module")
def train(sgd_root):
    return read_split(sgd_root, "train")


@pytest.mark.parametrize("split", ["dev", "test"])
def test_dev_and_test_statistics_match_the_data_readme(sgd_root, split):
    data = read_split(sgd_root, split)  # strict: every dialogue validates
    train_schema = read_split.__globals__["read_schema"](sgd_root / "train" / "schema.json")
    stats = split_statistics(data, train_schema)
    for key, value in EXPECTED[split].items():
        assert stats[key] == value, key
    assert not data.skipped


def test_train_statistics_match_the_data_readme(train):
    stats = split_statistics(train)
    for key, value in EXPECTED["train"].items():
        assert stats[key] == value, key


def test_round_trip_is_exact_on_real_files(sgd_root):
    path = sgd_root / "dev" / "dialogues_001.json.gz"
    raw = json.loads(gzip.decompress(path.read_bytes()))
    assert [Dialogue.from_json(d).to_json() for d in raw] == raw


def test_ten_percent_is_nested_stable_stratified_and_covers_every_service(train):
    ten = select_ids(train.dialogues, "10pct", seed=42)
    one = select_ids(train.dialogues, "1pct", seed=42)
    assert abs(len(ten) / len(train) - 0.10) <= 0.005
    assert abs(len(one) / len(train) - 0.01) <= 0.001
    assert set(one) <= set(ten)
    # identical across runs and after shuffling the input order
    shuffled = list(train.dialogues)
    random.Random(7).shuffle(shuffled)
    assert select_ids(shuffled, "10pct", seed=42) == ten
    assert select_ids(train.dialogues, 0.1, seed=42) == ten
    # every train service present at 10% (and even at 1%)
    by_id = train.by_id()
    all_services = {s for d in train.dialogues for s in d.services}
    assert {s for i in ten for s in by_id[i].services} == all_services
    assert {s for i in one for s in by_id[i].services} == all_services
    # a different seed gives a different sample
    assert select_ids(train.dialogues, "10pct", seed=43) != ten


def test_fraction_is_independent_of_file_order(sgd_root, tmp_path):
    """Reading the files in another order (renamed) selects the same ids."""
    split_dir = tmp_path / "train"
    split_dir.mkdir()
    shutil.copy(sgd_root / "train" / "schema.json", split_dir / "schema.json")
    files = sorted((sgd_root / "train").glob("dialogues_*.json.gz"))[:12]
    order = list(range(len(files)))
    random.Random(3).shuffle(order)
    for new_index, path in zip(order, files, strict=True):
        shutil.copy(path, split_dir / f"dialogues_{new_index:03d}.json.gz")
    renamed = read_split(tmp_path, "train")
    original = [d for path in files for d in read_split_file(path)]
    assert select_ids(renamed.dialogues, 0.1, 5) == select_ids(original, 0.1, 5)


def read_split_file(path):
    return [Dialogue.from_json(d) for d in json.loads(gzip.decompress(path.read_bytes()))]


@pytest.mark.parametrize("split", ["dev", "test"])
def test_sgdx_variants_load_with_every_name_mapped(shared_data, split):
    original = read_split(shared_data / "sgd", split)
    for variant in VARIANTS:
        data = read_split(
            shared_data / "sgd", split, variant=variant, sgdx_root=shared_data / "sgd_x"
        )
        assert len(data) == len(original)
        schema_names = set(data.schema.service_names)
        original_names = set(original.schema.service_names)
        assert not schema_names & original_names  # every service renamed
        for before, after in zip(original.dialogues[:200], data.dialogues[:200], strict=True):
            assert set(after.services) <= schema_names
            for t_before, t_after in zip(before.turns, after.turns, strict=True):
                for f_before, f_after in zip(t_before.frames, t_after.frames, strict=True):
                    service = data.schema.service(f_after.service)
                    if f_after.state is not None:
                        assert set(f_after.state.slot_values) <= set(service.slot_names)
                        # same values, new keys
                        assert sorted(f_after.state.slot_values.values()) == sorted(
                            f_before.state.slot_values.values()
                        )
                        if f_after.state.active_intent != "NONE":
                            assert f_after.state.active_intent in service.intent_names
                    if f_after.service_call is not None:
                        assert f_after.service_call.method in service.intent_names
