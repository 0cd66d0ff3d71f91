"""Fuzzy slot-value matching, identical to the official SGD evaluator's.

The DSTC8 evaluator scores a non-categorical slot value with
``fuzzywuzzy.fuzz.token_sort_ratio(ref, hyp) / 100``, and the published SGD numbers were
produced by fuzzywuzzy's pure-Python backend (``difflib.SequenceMatcher``, i.e. *without*
python-Levenshtein). rapidfuzz computes a true Indel distance, which differs from difflib's
matching-blocks heuristic on some pairs, so it is not used here.

Why a re-implementation rather than calling fuzzywuzzy: the evaluator scores ~60k value pairs
per SGD test split and fuzzywuzzy re-normalises both strings through three decorator layers
on every call. Here the normalisation of each value is cached (values repeat a lot) and so is
each pair's score, while the arithmetic is fuzzywuzzy 0.18.0's, step by step:

1. ``full_process(force_ascii=True)``: drop code points 128-255, replace every non-word
   character (``re.UNICODE`` ``\\W``) by a space, lower-case, strip;
2. split on whitespace, sort the tokens, join with one space, strip;
3. ``ratio``: equal strings -> 100, either empty -> 0, else
   ``int(round(100 * difflib.SequenceMatcher(None, a, b).ratio()))``.

``tests/eval/test_fuzzy_parity.py`` proves zero differences against fuzzywuzzy itself on
thousands of real SGD value pairs.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

# fuzzywuzzy.utils.asciionly: the code points 128..255 are deleted (others are kept).
_LATIN1_TABLE = {code: None for code in range(128, 256)}
# fuzzywuzzy.string_processing.StringProcessor.regex
_NON_WORD = re.compile(r"(?ui)\W")

# Sized for a full SGD split (~25k distinct values, ~60k distinct pairs) with room to spare.
_VALUE_CACHE_SIZE = 1 << 17
_PAIR_CACHE_SIZE = 1 << 18


@lru_cache(maxsize=_VALUE_CACHE_SIZE)
def sorted_tokens(value: str) -> str:
    """fuzzywuzzy's ``_process_and_sort(value, force_ascii=True, full_process=True)``."""
    processed = _NON_WORD.sub(" ", value.translate(_LATIN1_TABLE)).lower().strip()
    return " ".join(sorted(processed.split())).strip()


def _ratio(a: str, b: str) -> int:
    """fuzzywuzzy's ``fuzz.ratio`` on two already-processed strings (difflib backend)."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * difflib.SequenceMatcher(None, a, b).ratio()))


@lru_cache(maxsize=_PAIR_CACHE_SIZE)
def _token_sort_ratio_str(a: str, b: str) -> int:
    return _ratio(sorted_tokens(a), sorted_tokens(b))


def token_sort_ratio(a: object, b: object) -> int:
    """``fuzzywuzzy.fuzz.token_sort_ratio(a, b)`` (0..100), same result for every input."""
    if a is None or b is None:
        return 0
    if type(a) is str and type(b) is str:
        # Equal raw strings normalise to equal strings, and fuzzywuzzy's ratio() returns 100
        # for equal strings before it looks at emptiness: the shortcut is exact.
        return 100 if a == b else _token_sort_ratio_str(a, b)
    # fuzzywuzzy's asciidammit() turns anything else (numbers, str subclasses) into str first
    return _token_sort_ratio_str(str(a), str(b))


def fuzzy_string_match(ref: object, hyp: object) -> float:
    """The official ``metrics.fuzzy_string_match``: ``token_sort_ratio / 100.0`` in [0, 1]."""
    return token_sort_ratio(ref, hyp) / 100.0


def noncat_slot_value_match(ref_values: tuple[str, ...] | list[str], hyp: str, *, fuzzy: bool) -> float:
    """Best score of ``hyp`` against any acceptable reference value (0.0 for no values).

    With ``fuzzy=False`` (the evaluator's ``--nouse_fuzzy_match``) a value scores 1.0 only
    on an exact string match.
    """
    best = 0.0
    for ref in ref_values:
        score = fuzzy_string_match(ref, hyp) if fuzzy else float(ref == hyp)
        if score > best:
            best = score
    return best


def backend_is_difflib() -> bool:
    """True when the installed fuzzywuzzy uses difflib (the backend of the published numbers)."""
    from fuzzywuzzy import fuzz

    return fuzz.SequenceMatcher is difflib.SequenceMatcher


def clear_caches() -> None:
    """Forget cached normalisations and scores (benchmarks measure cold runs)."""
    sorted_tokens.cache_clear()
    _token_sort_ratio_str.cache_clear()


__all__ = [
    "backend_is_difflib",
    "clear_caches",
    "fuzzy_string_match",
    "noncat_slot_value_match",
    "sorted_tokens",
    "token_sort_ratio",
]
