"""``python -m tod_lab.eval.sgd``: the official DSTC8 evaluator's command line.

Flags mirror google-research ``schema_guided_dst/evaluate.py`` (absl style: ``--flag``,
``--noflag``, ``--flag=true|false``), so existing scripts switch by changing the module::

    python -m tod_lab.eval.sgd --dstc8_data_dir D --eval_set dev|test \\
        --prediction_dir P --output_metric_file F \\
        [--joint_acc_across_turn] [--nouse_fuzzy_match] [--run_dir R] [--noper_frame_file]
        [--validate_reference]

Outputs: ``F`` (``{collection: {metric: value}}``, keys sorted, fractions in [0, 1], with
tod_lab's extra ``consistent_joint_goal_accuracy``), ``P/dialogues_and_metrics.json`` (the
predictions with each scored frame's ``metrics``), ``R/metrics.json`` when ``--run_dir`` is
given, and a summary table (all / seen / unseen: JGA, C-JGA, intent accuracy,
requested-slot F1). Exit status 2 on bad input, with a message naming the file / dialogue.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tod_lab.errors import TodLabError

CJGA_DEFINITION = (
    "tod_lab's C-JGA: for the frames of one service in one dialogue, in turn order, the "
    "product of the JGAs of this and every earlier frame; aggregated like JGA"
)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "t", "yes", "y"):
        return True
    if lowered in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_bool_flag(parser: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    parser.add_argument(f"--{name}", nargs="?", const=True, default=default, type=_bool, help=help)
    parser.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tod_lab.eval.sgd",
        description="SGD / DSTC8 dialogue state tracking metrics (official semantics, + C-JGA).",
    )
    parser.add_argument("--dstc8_data_dir", required=True,
                        help="SGD root holding train/ dev/ test/ (schema.json, dialogues_*.json[.gz])")
    parser.add_argument("--eval_set", required=True, choices=("train", "dev", "test"),
                        help="split to evaluate on")
    parser.add_argument("--prediction_dir", required=True,
                        help="directory of predicted dialogues (*.json / *.json.gz)")
    parser.add_argument("--output_metric_file", required=True,
                        help="JSON file for the aggregated metrics")
    _add_bool_flag(parser, "joint_acc_across_turn", False,
                   "joint accuracy across the frames of a turn (MultiWOZ style)")
    _add_bool_flag(parser, "use_fuzzy_match", True,
                   "fuzzy matching of non-categorical values (--nouse_fuzzy_match: exact)")
    _add_bool_flag(parser, "per_frame_file", True,
                   "write dialogues_and_metrics.json into the prediction dir")
    _add_bool_flag(parser, "validate_reference", False,
                   "read the reference with tod_lab's validating reader (slower)")
    parser.add_argument("--run_dir", default=None,
                        help="also write RUN_DIR/metrics.json with the protocol named")
    parser.add_argument("--quiet", action="store_true", help="no summary table")
    return parser


def print_summary(report, console=None) -> None:
    """All / seen / unseen: JGA, C-JGA, average accuracy, intent accuracy, requested F1."""
    from rich.console import Console
    from rich.table import Table

    from tod_lab.eval import sgd

    columns = {
        sgd.JOINT_GOAL_ACCURACY: "JGA",
        sgd.CONSISTENT_JOINT_GOAL_ACCURACY: "C-JGA",
        sgd.AVERAGE_GOAL_ACCURACY: "avg goal acc",
        sgd.ACTIVE_INTENT_ACCURACY: "intent acc",
        sgd.REQUESTED_SLOTS_F1: "req-slot F1",
    }
    table = Table(
        title=f"SGD state tracking ({report.protocol}), {report.dialogues} dialogues, "
        f"{len(report.frames)} frames",
        caption=f"% of frames. C-JGA = {CJGA_DEFINITION}",
    )
    table.add_column("services")
    for label in columns.values():
        table.add_column(label, justify="right")
    for label, collection in (("all", sgd.ALL_SERVICES), ("seen", sgd.SEEN_SERVICES),
                              ("unseen", sgd.UNSEEN_SERVICES)):
        values = report.collection(collection)
        if not values:
            continue
        table.add_row(label, *(
            f"{100 * values[m]:.2f}" if isinstance(values.get(m), float) else "-" for m in columns
        ))
    (console or Console()).print(table)


def main(argv: list[str] | None = None) -> int:
    from tod_lab.eval import sgd
    from tod_lab.eval.records import write_metrics_record

    args = build_parser().parse_args(argv)
    output = Path(args.output_metric_file)
    try:
        report, predictions = sgd.evaluate_prediction_dir(
            args.dstc8_data_dir,
            args.eval_set,
            args.prediction_dir,
            exclude=[output],
            validate_reference=args.validate_reference,
            joint_acc_across_turn=args.joint_acc_across_turn,
            use_fuzzy_match=args.use_fuzzy_match,
        )
        per_frame = (
            Path(args.prediction_dir) / sgd.PER_FRAME_OUTPUT_FILENAME
            if args.per_frame_file and Path(args.prediction_dir).is_dir()
            else None
        )
        sgd.write_official_outputs(report, predictions, output, per_frame)
        if args.run_dir:
            write_metrics_record(
                args.run_dir,
                report.flat_metrics(),
                report.protocols(),
                main_metric=sgd.JOINT_GOAL_ACCURACY,
                extra={
                    "evaluation": {
                        "eval_set": args.eval_set,
                        "prediction_dir": str(args.prediction_dir),
                        "dialogues": report.dialogues,
                        "frames": len(report.frames),
                    },
                    "definitions": {sgd.CONSISTENT_JOINT_GOAL_ACCURACY: CJGA_DEFINITION},
                },
            )
    except TodLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_summary(report)
        print(f"metrics written to {output}" + (f" and {per_frame}" if per_frame else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
