"""The benchmark report: the met computation, the JSON and the table, and ``python -m bench``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench._cluster import alternate
from bench.report import COLUMNS, Row, render_table, to_json


def claims_row(ferry: float, raw_limit: float = 1000.0) -> Row:
    return Row(
        figure="task claims through etcd", ferry=ferry, raw_limit=raw_limit, unit="txn/s",
        target=0.5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ferry", "ratio", "met"),
    [(900.0, 0.9, True), (500.0, 0.5, True), (499.0, 0.499, False), (0.0, 0.0, False)],
)
def test_met_when_the_ratio_reaches_the_target(ferry: float, ratio: float, met: bool) -> None:
    row = claims_row(ferry)
    assert row.ratio == pytest.approx(ratio)
    assert row.met is met


@pytest.mark.parametrize(("seconds", "met"), [(4.0, True), (5.0, True), (5.5, False)])
def test_lower_is_better_figures_are_met_under_the_bound(seconds: float, met: bool) -> None:
    row = Row(
        figure="failover", ferry=seconds, raw_limit=5.0, unit="s", target=1.0, lower_is_better=True
    )
    assert row.met is met


def test_a_row_without_a_raw_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="raw limit must be positive"):
        claims_row(100.0, raw_limit=0.0)
    with pytest.raises(ValueError, match="must not be negative"):
        claims_row(-1.0)


def test_json_has_the_columns_rounded_and_the_machine() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    report = json.loads(to_json([claims_row(4581.234, 5422.987)], generated_at=when))

    assert report["generated_at"] == "2026-01-02T03:04:05+00:00"
    assert report["machine"]["cpus"] >= 1
    [row] = report["rows"]
    assert tuple(row) == COLUMNS
    assert row == {
        "figure": "task claims through etcd",
        "ferry": 4581.0,
        "raw_limit": 5423.0,
        "unit": "txn/s",
        "ratio": 0.845,
        "target": 0.5,
        "met": True,
    }


def test_a_row_of_rounds_reports_both_medians() -> None:
    row = Row.of_rounds("sync", [3.0, 1.0, 2.0], [10.0, 30.0, 20.0], "docs/s", target=0.5)
    assert (row.ferry, row.raw_limit, row.unit, row.target) == (2.0, 20.0, "docs/s", 0.5)
    assert not row.lower_is_better


def test_rounds_alternate_which_side_goes_first() -> None:
    runs: list[str] = []

    def side(name: str, rate: float) -> Callable[[str], float]:
        def measure(label: str) -> float:
            runs.append(f"{name}-{label}")
            return rate

        return measure

    rates = alternate({"raw": side("raw", 2.0), "ferry": side("ferry", 1.0)}, rounds=3,
                      what="test", unit="docs/s")  # fmt: skip
    assert runs == ["raw-0", "ferry-0", "ferry-1", "raw-1", "raw-2", "ferry-2"]
    assert rates == {"raw": [2.0, 2.0, 2.0], "ferry": [1.0, 1.0, 1.0]}


def test_table_has_a_line_per_row_aligned_and_says_what_was_missed() -> None:
    failover = Row(
        figure="failover, agent killed mid-sync", ferry=6.25, raw_limit=5.0, unit="s",
        target=1.0, lower_is_better=True,
    )  # fmt: skip
    lines = render_table([claims_row(4581.0, 5422.0), failover]).splitlines()

    assert len(lines) == 4
    assert len({len(line) for line in lines}) == 1, "columns are aligned"
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "figure", "ferry", "raw limit", "unit", "ratio", "target", "met",
    ]  # fmt: skip
    assert set(lines[1]) == {"|", "-"}
    claims = [c.strip() for c in lines[2].strip("|").split("|")]
    assert claims == ["task claims through etcd", "4581", "5422", "txn/s", "0.845", "≥ 0.5", "yes"]
    missed = [c.strip() for c in lines[3].strip("|").split("|")]
    assert missed == ["failover, agent killed mid-sync", "6.25", "5", "s", "1.250", "≤ 1", "NO"]


def test_bench_discovers_benchmark_modules_only() -> None:
    found = bench_main.discover()
    assert "claims" in found
    assert "report" not in found and "__main__" not in found
    assert {"sync_throughput", "postgres_sync", "failover"} <= set(found)
    assert "_cluster" not in found


def test_bench_main_prints_the_table_and_writes_the_same_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_main, "discover", lambda: {"fake": lambda: [claims_row(400.0)]})
    out = tmp_path / "nested" / "results.json"

    assert bench_main.main(["--out", str(out)]) == 0
    assert bench_main.main(["--out", str(out), "--check"]) == 1, "the target was missed"

    printed = capsys.readouterr().out
    written = out.read_text()
    assert json.loads(written)["rows"][0]["met"] is False
    assert written.strip() in printed
    assert "| task claims through etcd |" in printed

    with pytest.raises(SystemExit):
        bench_main.main(["--out", str(out), "nonesuch"])
