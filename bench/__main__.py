"""python -m bench [NAME ...]: run the benchmarks, print the table and the JSON report.

The JSON also goes to ``.bench/results.json`` (not committed: results belong
to the machine that made them). Progress goes to stderr. The exit status is 0
even when a target is missed, unless ``--check`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import bench
from bench.report import Row, render_table, to_json

NOT_BENCHMARKS = frozenset({"report"})
DEFAULT_OUT = Path(__file__).resolve().parent.parent / ".bench" / "results.json"

Benchmark = Callable[[], list[Row]]


def discover() -> dict[str, Benchmark]:
    """discover maps each benchmark module's name to its ``run`` function, in name order."""
    found: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in NOT_BENCHMARKS:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if not callable(run):
            raise SystemExit(f"bench/{info.name}.py has no run() -> list[Row]")
        found[info.name] = run
    return found


def main(argv: Sequence[str] | None = None) -> int:
    benchmarks = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(benchmarks)}"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(benchmarks))
    if unknown:
        parser.error(
            f"no benchmark named {', '.join(unknown)} (there are: {', '.join(benchmarks)})"
        )

    rows: list[Row] = []
    for name in args.names or benchmarks:
        print(f"bench: {name}", file=sys.stderr, flush=True)
        rows.extend(benchmarks[name]())

    report = to_json(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    print(render_table(rows))
    print()
    print(report)
    print(f"bench: report written to {args.out}", file=sys.stderr)
    missed = [row.figure for row in rows if not row.met]
    if missed:
        print(f"bench: targets missed: {'; '.join(missed)}", file=sys.stderr)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
