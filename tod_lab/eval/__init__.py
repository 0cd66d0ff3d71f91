"""Evaluators: every number tod_lab reports comes out of this package, with its protocol.

- :mod:`tod_lab.eval.sgd`          SGD / DSTC8 DST metrics, official semantics (+ C-JGA);
  CLI ``python -m tod_lab.eval.sgd`` with the official flags.
- :mod:`tod_lab.eval.fuzzy`        fuzzywuzzy-identical ``token_sort_ratio`` (difflib backend).
- :mod:`tod_lab.eval.consistency`  C-JGA chains and JGA by turn position.
- :mod:`tod_lab.eval.sgdx`         SGD-X robustness over v1..v5 (average JGA, schema sensitivity).
- :mod:`tod_lab.eval.multiwoz`     MultiWOZ Inform / Success / BLEU / Combined and DST JGA
  (mwzeval and Spec-TOD/FnCTOD flavours); CLI ``python -m tod_lab.eval.multiwoz``.
- :mod:`tod_lab.eval.records`      ``metrics.json`` with every metric's protocol.

The common entry points are re-exported lazily (importing this package stays cheap and
``python -m tod_lab.eval.sgd`` does not import its module twice).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate_sgd": "tod_lab.eval.sgd",
    "load_predictions": "tod_lab.eval.sgd",
    "SGDReport": "tod_lab.eval.sgd",
    "PredictionSet": "tod_lab.eval.sgd",
    "write_metrics_record": "tod_lab.eval.records",
    "read_metrics_record": "tod_lab.eval.records",
    "token_sort_ratio": "tod_lab.eval.fuzzy",
    "evaluate_sgdx": "tod_lab.eval.sgdx",
    "jga_by_turn_position": "tod_lab.eval.consistency",
    "evaluate_multiwoz": "tod_lab.eval.multiwoz",
    "load_references": "tod_lab.eval.multiwoz",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tod_lab.eval' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
