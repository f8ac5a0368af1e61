"""Rows of the benchmark report and their rendering as a table and as JSON.

Every benchmark yields :class:`Row` objects: one figure of SPEC §10, Ferry's
measurement beside its raw limit from the same run. The ratio between them is
the figure; ``met`` says whether it reaches the target.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

COLUMNS = ("figure", "ferry", "raw_limit", "unit", "ratio", "target", "met")


def _significant(value: float, digits: int = 4) -> float:
    """_significant rounds to a few significant digits: rates and seconds alike stay readable."""
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True, kw_only=True)
class Row:
    """Row is one figure: Ferry's measurement against the raw limit measured beside it."""

    figure: str
    """The figure in SPEC §10's words, e.g. "task claims through etcd"."""
    ferry: float
    """What Ferry achieved, in ``unit``."""
    raw_limit: float
    """What the underlying system achieved without Ferry in the same run, in ``unit``.

    For a bound rather than a measurement (failover ≤ TTL + 2 s), the bound.
    """
    unit: str
    """Unit of ``ferry`` and ``raw_limit``: "txn/s", "docs/s", "s", "MB"."""
    target: float
    """The ratio to reach: at least this, or at most this when ``lower_is_better``."""
    lower_is_better: bool = False
    """True for times and memory, where Ferry must stay under ``target * raw_limit``."""

    @classmethod
    def of_rounds(
        cls, figure: str, ferry: Sequence[float], raw: Sequence[float], unit: str, target: float
    ) -> Row:
        """of_rounds is the row of several rounds measured side by side: the medians."""
        return cls(
            figure=figure,
            ferry=statistics.median(ferry),
            raw_limit=statistics.median(raw),
            unit=unit,
            target=target,
        )

    def __post_init__(self) -> None:
        if not self.raw_limit > 0:
            raise ValueError(f"{self.figure}: raw limit must be positive, got {self.raw_limit}")
        if self.ferry < 0:
            raise ValueError(f"{self.figure}: measurement must not be negative, got {self.ferry}")

    @property
    def ratio(self) -> float:
        """ratio is ferry / raw_limit: the figure itself."""
        return self.ferry / self.raw_limit

    @property
    def met(self) -> bool:
        """met is True when the ratio reaches the target (a ratio equal to it counts)."""
        if self.lower_is_better:
            return self.ratio <= self.target
        return self.ratio >= self.target

    def to_dict(self) -> dict[str, Any]:
        """to_dict is the row as written to JSON, with the columns of :data:`COLUMNS`."""
        return {
            "figure": self.figure,
            "ferry": _significant(self.ferry),
            "raw_limit": _significant(self.raw_limit),
            "unit": self.unit,
            "ratio": _significant(self.ratio, 3),
            "target": self.target,
            "met": self.met,
        }


def to_json(rows: Sequence[Row], *, generated_at: datetime | None = None) -> str:
    """to_json renders a report: the rows and what machine produced them."""
    when = generated_at or datetime.now(UTC)
    report = {
        "generated_at": when.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rows": [row.to_dict() for row in rows],
    }
    return json.dumps(report, indent=2, ensure_ascii=False)


def render_table(rows: Sequence[Row]) -> str:
    """render_table is a Markdown table of the rows, readable in a terminal as is."""
    header = ["figure", "ferry", "raw limit", "unit", "ratio", "target", "met"]
    body = []
    for row in rows:
        d = row.to_dict()
        comparator = "≤" if row.lower_is_better else "≥"
        body.append(
            [
                d["figure"],
                f"{d['ferry']:g}",
                f"{d['raw_limit']:g}",
                d["unit"],
                f"{d['ratio']:.3f}",
                f"{comparator} {d['target']:g}",
                "yes" if d["met"] else "NO",
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in body)])
