"""Cross-turn consistency: C-JGA and JGA by turn position.

C-JGA is tod_lab's definition (the PyTOD paper reports C-JGA without a formula): for the
reference frames of one service in one dialogue, in turn order,

    C-JGA(frame_k) = prod_{j <= k} JGA(frame_j)

so a frame scores only if every earlier frame of that service was right as well. The SGD
evaluator (:mod:`tod_lab.eval.sgd`) computes it as the frame metric
``consistent_joint_goal_accuracy`` with :func:`consistent_chain` and aggregates it exactly
like JGA. This module also groups frame scores by their position in the dialogue (the
n-th user turn), which is what consistency plots show: JGA stays flat when errors are
independent, C-JGA falls with the position as early errors propagate.

API::

    jga_by_turn_position(report)                 # [TurnPositionScore(position, jga, cjga, frames)]
    jga_by_turn_position(report, services=seen)  # only some services
    consistent_chain([1.0, 0.8, 0.0, 1.0])      # [1.0, 0.8, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tod_lab.eval.sgd import SGDReport

JGA = "joint_goal_accuracy"
CJGA = "consistent_joint_goal_accuracy"


def consistent_chain(jgas: Iterable[float]) -> list[float]:
    """Running products of a service's frame JGAs in turn order (left to right from 1.0)."""
    chain, product = [], 1.0
    for jga in jgas:
        product = product * jga
        chain.append(product)
    return chain


@dataclass(frozen=True)
class TurnPositionScore:
    """Mean JGA / C-JGA of the frames at one user-turn position (0 = first user turn)."""

    position: int
    joint_goal_accuracy: float
    consistent_joint_goal_accuracy: float
    frames: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def jga_by_turn_position(
    report: SGDReport, *, services: Iterable[str] | None = None, max_position: int | None = None
) -> list[TurnPositionScore]:
    """JGA and C-JGA averaged per user-turn position, over all (or the given) services.

    Frames whose JGA is NA (a service without slots) are left out. With ``max_position``
    the positions from it on are pooled into one last bucket (long dialogues are rare).
    """
    wanted = set(services) if services is not None else None
    sums: dict[int, list[float]] = {}
    for frame in report.frames:
        if wanted is not None and frame.service not in wanted:
            continue
        jga, cjga = frame.metrics.get(JGA), frame.metrics.get(CJGA)
        if not isinstance(jga, float) or not isinstance(cjga, float):
            continue
        position = frame.user_turn if max_position is None else min(frame.user_turn, max_position)
        bucket = sums.setdefault(position, [0.0, 0.0, 0])
        bucket[0] += jga
        bucket[1] += cjga
        bucket[2] += 1
    return [
        TurnPositionScore(position, jga_sum / n, cjga_sum / n, int(n))
        for position, (jga_sum, cjga_sum, n) in sorted(sums.items())
    ]


__all__ = ["CJGA", "JGA", "TurnPositionScore", "consistent_chain", "jga_by_turn_position"]
