"""Fixtures of the evaluator tests: the real SGD splits, read once per session."""

from __future__ import annotations

import pytest

from tod_lab.data.schema_io import read_schema
from tod_lab.data.sgd import read_split
from tod_lab.data.types import DialogueSplit, Schema
from tod_lab.eval.sgd import paused_gc


def _read(root, split: str) -> DialogueSplit:
    with paused_gc():
        return read_split(root, split)


@pytest.fixture(scope="session")
def sgd_dev(sgd_root) -> DialogueSplit:
    return _read(sgd_root, "dev")


@pytest.fixture(scope="session")
def sgd_test(sgd_root) -> DialogueSplit:
    return _read(sgd_root, "test")


@pytest.fixture(scope="session")
def sgd_train_schema(sgd_root) -> Schema:
    return read_schema(sgd_root / "train" / "schema.json")
