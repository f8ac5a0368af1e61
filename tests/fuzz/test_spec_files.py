"""Connector files fuzzed: malformed text, structured garbage and invalid cron.

Reading a file (``ferry.specs``) and validating it (what the coordinator's
``--connectors-file`` and ``ferry connectors create -f`` do) may only ever
raise InvalidArgument, naming the entry and field, whatever the file holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from ferry.connectors import load_registry
from ferry.errors import InvalidArgument
from ferry.specs import SpecEntry, parse_specs
from services.coordinator.declarative import DeclarativeConnectors
from services.coordinator.validation import check_spec
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.messages import PIECES, characters, huge_text
from tests.helpers import REPO

REGISTRY = load_registry()
DEMO = yaml.safe_load((REPO / "examples" / "demo-connectors.yaml").read_text())["connectors"][0]
SPEC_KEYS = [
    "name", "type", "index", "config", "tasks_max", "agent_selector", "schedule", "rules",
    "error_policy", "isolation", "memory_limit_bytes", "state", "connectors", "docs", "full",
]  # fmt: skip

TEXT_EXAMPLES = 200
STRUCTURED_EXAMPLES = 200
CRON_EXAMPLES = 200

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(10**300, 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(characters, max_size=12),
    st.sampled_from(PIECES),
    st.dates(),
    st.sampled_from(["running", "PAUSED", "ISOLATION_PROCESS", "generator", "*/5 * * * *", "1s"]),
)
structures = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(SPEC_KEYS), yaml_scalars), inner, max_size=5)
    ),
    max_leaves=12,
)


def read(text: str) -> list[SpecEntry]:
    """read parses and validates like the coordinator; only InvalidArgument may escape."""
    try:
        entries = parse_specs(text, source="fuzz.yaml")
        for entry in entries:
            check_spec(entry.spec, REGISTRY)
    except InvalidArgument as exc:
        assert exc.violations and all(v.field for v in exc.violations), exc
        return []
    return entries


def _dump(document: Any, as_json: bool) -> str:
    if as_json:
        try:  # ensure_ascii: characters beyond U+FFFF become surrogate-pair escapes
            return json.dumps(document, default=str)
        except (TypeError, ValueError):
            pass  # keys JSON cannot hold (dates): YAML can
    return yaml.safe_dump(document, allow_unicode=True)


@fuzz_settings(TEXT_EXAMPLES)
@given(
    text=st.one_of(
        st.text(characters),
        st.lists(
            st.sampled_from([*PIECES, ":", "- ", "{", "}", "&a ", "*a", "!!", "---\n", "#"])
        ).map("".join),
        huge_text,
        st.integers(300, 1200).map(lambda n: "[" * n),
        st.integers(300, 1000).map(lambda n: "a:\n" + "".join(" " * i + "- \n" for i in range(n))),
    )
)
def test_malformed_text_is_invalid_argument(text: str) -> None:
    read(text)


@fuzz_settings(STRUCTURED_EXAMPLES)
@given(
    document=st.one_of(
        structures,
        st.builds(lambda k, v: {**DEMO, k: v}, st.sampled_from(SPEC_KEYS), structures),
        st.builds(
            lambda k, v: {"connectors": [{**DEMO, k: v}]}, st.sampled_from(SPEC_KEYS), structures
        ),
    ),
    as_json=st.booleans(),
)
def test_structured_garbage_is_invalid_argument(document: Any, as_json: bool) -> None:
    read(_dump(document, as_json))


CRON_TOKENS = ["*", "*/5", "*/0", "0", "5", "59", "60", "61", "-1", "31", "30", "29", "2", "12",
               "13", "1-5", "5-1", "1,2,3", ",", "L", "?", "#", "MON", "MON-FRI", "SUN#6", "JAN",
               "FEB", "99999999999999999999", "1-31/999999999999999999", "\u0661", "\x00",
               "*/-1"]  # fmt: skip
cron_fields = st.one_of(
    st.sampled_from(CRON_TOKENS),
    st.text(characters, min_size=1, max_size=4).filter(lambda t: not t.isspace()),
)
crons = st.one_of(
    st.lists(cron_fields, min_size=5, max_size=5).map(" ".join),
    st.lists(cron_fields, min_size=1, max_size=7).map(" ".join),
    st.text(characters, max_size=20),
)


@pytest.mark.parametrize("kind", ["full", "incremental"])
@fuzz_settings(CRON_EXAMPLES // 2)
@given(expr=crons)
def test_invalid_cron_names_the_schedule_field(kind: str, expr: str) -> None:
    text = yaml.safe_dump([{**DEMO, "schedule": {kind: expr}}], allow_unicode=True)
    try:
        [entry] = parse_specs(text)
        check_spec(entry.spec, REGISTRY)
    except InvalidArgument as exc:
        assert [v.field for v in exc.violations] == [f"spec.schedule.{kind}"], exc
        return
    # Accepted: five fields that really name a future minute.
    assert not expr.strip() or len(expr.split()) == 5
    if expr.strip():
        assert math.isfinite(croniter(expr).get_next(float))


@fuzz_settings(CRON_EXAMPLES // 4)
@given(expr=crons.filter(lambda e: e.strip()), kind=st.sampled_from(["full", "incremental"]))
def test_connectors_file_names_entry_and_schedule(tmp_path: Path, expr: str, kind: str) -> None:
    path = tmp_path / "connectors.yaml"
    other = {**DEMO, "name": "other"}
    path.write_text(yaml.safe_dump({"connectors": [other, {**DEMO, "schedule": {kind: expr}}]}))
    loader = DeclarativeConnectors(None, REGISTRY, path)  # type: ignore[arg-type] — load only
    try:
        loader.load()
    except InvalidArgument as exc:
        assert [v.field for v in exc.violations] == [f"connectors[1].schedule.{kind}"], exc
