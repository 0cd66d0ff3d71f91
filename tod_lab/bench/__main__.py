"""``python -m tod_lab.bench [NAME ...]``: run the benchmarks (all, or the named ones).

A benchmark is a module ``tod_lab/bench/<name>.py`` with ``run() -> BenchResult`` (or a
list of them). Each result is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tod_lab.bench as bench_pkg
from tod_lab.errors import TodLabError


def available() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {available()}")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    status = 0
    for name in names:
        module = importlib.import_module(f"tod_lab.bench.{name}")
        try:
            results = module.run()
        except TodLabError as err:
            print(f"benchmark {name}: {err}", file=sys.stderr)
            status = 2
            continue
        for result in results if isinstance(results, list) else [results]:
            print(result.line(), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
