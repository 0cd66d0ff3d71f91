"""tod_lab's token_sort_ratio against fuzzywuzzy itself (difflib backend): zero differences."""

from __future__ import annotations

import difflib
import warnings
from collections import Counter

import pytest

from tod_lab.eval import fuzzy
from tod_lab.eval.perturb import PERTURBATIONS, slot_values, value_pairs

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "Using slow pure-python SequenceMatcher": that is the point
    from fuzzywuzzy import fuzz

PAIRS = 6000


def test_fuzzywuzzy_uses_the_difflib_backend():
    assert fuzz.SequenceMatcher is difflib.SequenceMatcher, (
        "fuzzywuzzy is using python-Levenshtein; the published SGD numbers (and tod_lab) use "
        "difflib — uninstall python-Levenshtein"
    )
    assert fuzzy.backend_is_difflib()


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("sf", "sfo", 80),  # difflib: 2 * 2 matches / 5 characters
        ("abcd", "abce", 75),  # 2 * 3 / 8
        ("Mission District", "district MISSION", 100),  # case and word order are normalised
        ("New York", "ny", 40),  # "new york" vs "ny": 2 matches -> 2 * 2 / 10
        ("?!", "...", 100),  # both normalise to "" and "" == "" is checked first
        ("?!", "a", 0),  # one side empty after normalisation
        ("x", "", 0),
        ("café", "caf", 100),  # "é" (U+00E9) is dropped by asciidammit
        ("7:30 pm", "7 30 PM", 100),
    ],
)
def test_hand_computed_scores(ref, hyp, expected):
    assert fuzzy.token_sort_ratio(ref, hyp) == expected
    assert fuzz.token_sort_ratio(ref, hyp) == expected


def test_non_string_inputs_follow_fuzzywuzzy():
    for a, b in [(None, "x"), ("x", None), (1, "1"), (1, 1.0), (12, "twelve"), ("a b", 3.5)]:
        assert fuzzy.token_sort_ratio(a, b) == fuzz.token_sort_ratio(a, b), (a, b)


def test_parity_on_real_sgd_value_pairs(sgd_dev, sgd_test):
    values = slot_values(sgd_dev.dialogues, sgd_dev.schema) + slot_values(
        sgd_test.dialogues, sgd_test.schema
    )
    categorical = slot_values(sgd_dev.dialogues, sgd_dev.schema, categorical=True)
    assert len(values) > 1000 and categorical
    pairs = value_pairs(values, PAIRS, seed=13) + value_pairs(categorical, 500, seed=14)
    fuzzy.clear_caches()
    differences = [
        (kind, ref, hyp, ours, theirs)
        for kind, ref, hyp in pairs
        if (ours := fuzzy.token_sort_ratio(ref, hyp)) != (theirs := fuzz.token_sort_ratio(ref, hyp))
    ]
    assert not differences, differences[:10]
    # the pairs really exercise the matcher: every perturbation kind, many partial scores
    kinds = Counter(kind for kind, _, _ in pairs)
    assert set(PERTURBATIONS) | {"other_value"} <= set(kinds)
    scores = Counter(fuzzy.token_sort_ratio(ref, hyp) for _, ref, hyp in pairs)
    partial = sum(n for score, n in scores.items() if 0 < score < 100)
    assert len(pairs) >= 5000 and partial > len(pairs) // 3
    # the cached path gives the same answers a second time (and from the cache)
    assert all(
        fuzzy.token_sort_ratio(ref, hyp) == fuzz.token_sort_ratio(ref, hyp)
        for _, ref, hyp in pairs[:500]
    )


def test_noncat_match_takes_the_best_reference_value():
    assert fuzzy.noncat_slot_value_match(("New York", "NYC"), "ny", fuzzy=True) == 0.8
    assert fuzzy.noncat_slot_value_match(("New York", "NYC"), "nyc", fuzzy=False) == 0.0
    assert fuzzy.noncat_slot_value_match(("New York", "NYC"), "NYC", fuzzy=False) == 1.0
    assert fuzzy.noncat_slot_value_match((), "NYC", fuzzy=True) == 0.0
