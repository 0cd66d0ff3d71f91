"""A deliberately simple System for the sweep tests: no model, a score computed from the
config, and switches to fail or to be killed mid-run. It goes through the real pipeline
(tod_lab.pipeline.run), so every job writes the real config.yaml / status.json /
metrics.json / predictions the collector and the W&B callback read.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from tod_lab.data.io import write_json
from tod_lab.systems import RunResult


def expected_score(fraction: float, seed: int, n_eval: int, bonus: float = 0.0) -> float:
    return round(0.5 + 0.4 * fraction + 0.01 * seed + 0.001 * n_eval + bonus, 6)


@dataclass
class FakeScorer:
    name: str = "fake"
    model_kind: str = "seq2seq"
    needs_training: bool = False
    fraction: float = 1.0
    seed: int = 0
    bonus: float = 0.0  # added to the score: what the Optuna test searches over
    fail_fraction: float | None = None  # raise when the run's fraction equals this
    kill_fraction: float | None = None  # SIGKILL the process once at this fraction...
    kill_marker: str | None = None  # ...unless this file exists (created before the kill)

    def build_examples(self, train, *, seed: int) -> dict:
        return {}

    def run(self, data, generator, run_dir: Path) -> RunResult:
        run_dir = Path(run_dir)
        checkpoint = run_dir / "checkpoints" / "last.ckpt"
        resumed_from = json.loads(checkpoint.read_text())["step"] if checkpoint.is_file() else 0
        with open(run_dir / "attempts.txt", "a") as attempts:  # one line per execution
            attempts.write(f"resumed_from={resumed_from}\n")
        if self.fail_fraction is not None and abs(self.fraction - self.fail_fraction) < 1e-9:
            raise RuntimeError(f"deliberate failure at fraction {self.fraction}")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_text(json.dumps({"step": 5}))
        if (self.kill_fraction is not None and abs(self.fraction - self.kill_fraction) < 1e-9
                and self.kill_marker and not Path(self.kill_marker).exists()):
            Path(self.kill_marker).write_text("killed once\n")
            os.kill(os.getpid(), signal.SIGKILL)
        predictions = run_dir / "predictions"
        predictions.mkdir(exist_ok=True)
        write_json(predictions / "dialogues_001.json", [d.to_json() for d in data.dialogues])
        score = expected_score(self.fraction, self.seed, len(data), self.bonus)
        return RunResult(
            metrics={"score": score, "aux": round(1 - score, 6)},
            protocols={"score": "sgd_official+fake_scorer", "aux": "sgd_official+fake_scorer"},
            main_metric="score",
            files={"predictions": "predictions"},
            details={"resumed_from": resumed_from},
        )
