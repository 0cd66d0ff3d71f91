"""``python -m tod_lab.eval.multiwoz``: MultiWOZ Inform / Success / BLEU / Combined and DST.

    python -m tod_lab.eval.multiwoz --predictions F --data_root D [--bleu] [--success] [--dst]
        [--split test] [--db_dir DB] [--dst_flavour mwzeval|spectod_fnctod|both]
        [--output OUT.json] [--run_dir R]

With none of ``--bleu / --success / --dst`` all three are computed. Prints a table, writes
the report JSON (``--output``) and ``R/metrics.json`` (protocols ``mwzeval`` and
``spectod_fnctod``). Exit status 2 on bad input, naming the file / dialogue / turn.
"""

from __future__ import annotations

import argparse
import sys

from tod_lab.errors import TodLabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tod_lab.eval.multiwoz",
        description="MultiWOZ end-to-end (mwzeval) and DST metrics.",
    )
    parser.add_argument("--predictions", required=True,
                        help="mwzeval-format predictions (.json / .json.gz)")
    parser.add_argument("--data_root", required=True,
                        help="goals.json, booked_domains.json, db/, references (see --help of the module)")
    parser.add_argument("--split", default="test", help="MultiWOZ 2.2 split the references come from")
    parser.add_argument("--db_dir", default=None, help="venue databases (default DATA_ROOT/db)")
    parser.add_argument("--bleu", action="store_true", help="BLEU against MultiWOZ 2.2 references")
    parser.add_argument("--success", action="store_true", help="Inform and Success rates")
    parser.add_argument("--dst", action="store_true", help="DST joint accuracy")
    parser.add_argument("--dst_flavour", choices=("mwzeval", "spectod_fnctod", "both"),
                        default="both")
    parser.add_argument("--output", default=None, help="write the report JSON here")
    parser.add_argument("--run_dir", default=None, help="also write RUN_DIR/metrics.json")
    parser.add_argument("--quiet", action="store_true", help="no table")
    return parser


def print_summary(report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"MultiWOZ ({report.dialogues} dialogues)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("protocol")
    protocols = report.protocols()
    for name, value in report.flat_metrics().items():
        table.add_row(name, f"{value:.2f}", protocols[name])
    (console or Console()).print(table)


def main(argv: list[str] | None = None) -> int:
    from tod_lab.data.io import write_json
    from tod_lab.eval import multiwoz
    from tod_lab.eval.records import write_metrics_record

    args = build_parser().parse_args(argv)
    everything = not (args.bleu or args.success or args.dst)
    bleu, success, dst = (args.bleu or everything, args.success or everything, args.dst or everything)
    flavours = (
        (multiwoz.PROTOCOL_MWZEVAL, multiwoz.PROTOCOL_SPECTOD)
        if args.dst_flavour == "both" else (args.dst_flavour,)
    )
    try:
        predictions = multiwoz.read_predictions(args.predictions)
        references = multiwoz.load_references(
            args.data_root, split=args.split, bleu=bleu, success=success, dst=dst,
            db_dir=args.db_dir,
        )
        report = multiwoz.evaluate_multiwoz(
            predictions, references, bleu=bleu, success=success, dst=dst, dst_flavours=flavours
        )
        if args.output:
            write_json(args.output, report.to_json())
        if args.run_dir:
            write_metrics_record(
                args.run_dir, report.flat_metrics(), report.protocols(),
                main_metric="combined" if report.combined is not None else None,
                extra={"multiwoz": {"predictions": str(args.predictions),
                                    "dialogues": report.dialogues,
                                    "sources": references.sources}},
            )
    except TodLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_summary(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
