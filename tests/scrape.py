"""Reading a Ferry process's Prometheus endpoint in tests."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.helpers import wait_until


@dataclass(frozen=True)
class Scrape:
    """Scrape is one read of ``/metrics``: every sample, parsed."""

    samples: list[Sample]

    def values(self, name: str, **labels: str) -> list[float]:
        """values are the samples called ``name`` whose labels include ``labels``."""
        return [
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        ]

    def total(self, name: str, **labels: str) -> float:
        """total adds up :meth:`values` (0 when there is none)."""
        return sum(self.values(name, **labels))

    def label_values(self, name: str, label: str) -> set[str]:
        """label_values are the values ``label`` takes on the samples called ``name``."""
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


def parse(text: str) -> Scrape:
    """parse reads Prometheus's text format as Prometheus does."""
    return Scrape([s for f in text_string_to_metric_families(text) for s in f.samples])


def scrape(address: str, timeout: float = 2.0) -> Scrape:
    """scrape reads http://ADDRESS/metrics."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as response:
        return parse(response.read().decode())


def scrape_until(
    address: str, condition: Callable[[Scrape], object], *, what: str, timeout: float = 10.0
) -> Scrape:
    """scrape_until scrapes ``address`` until ``condition`` holds for a scrape, and returns
    that scrape (or fails the test, saying ``what`` it waited for)."""

    def ready() -> Scrape | None:
        got = scrape(address)
        return got if condition(got) else None

    found = wait_until(ready, timeout=timeout, what=what)
    assert found is not None
    return found
