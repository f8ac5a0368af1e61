"""ferry.v1.Connectors with nearly-valid requests: a valid generator spec, one field hostile.

Beyond "deliberate answers only": Create and Validate agree on every spec,
what Create accepts is stored exactly and has clean names, and accepted
offsets read back as written.
"""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.errors import MAX_STATUS_FIELD_BYTES, clip
from ferry.names import DNS1123_LABEL, INDEX_NAME
from ferry.specs import parse_specs
from ferry.v1 import connectors_pb2 as pb
from tests.fuzz.conftest import Services, fuzz_settings
from tests.fuzz.messages import as_json, dns_labels, nearly_valid
from tests.fuzz.outcome import Client
from tests.helpers import REPO

CONNECTORS = pb.DESCRIPTOR.services_by_name["Connectors"]
CREATE, GET, UPDATE, STOP, VALIDATE, GET_OFFSETS, ALTER_OFFSETS = (
    CONNECTORS.methods_by_name[m]
    for m in ("Create", "Get", "Update", "Stop", "Validate", "GetOffsets", "AlterOffsets")
)
DEMO = parse_specs((REPO / "examples" / "demo-connectors.yaml").read_text())[0].spec
UPDATE_TARGET = "fz-update-target"
OFFSETS_TARGET = "fz-offsets-target"

NEARLY_VALID_EXAMPLES = 200


def demo_spec(name: str) -> pb.ConnectorSpec:
    """demo_spec is the demo file's generator connector under another name."""
    spec = pb.ConnectorSpec()
    spec.CopyFrom(DEMO)
    spec.name = name
    return spec


creates = nearly_valid(
    dns_labels.map(
        lambda n: pb.CreateConnectorRequest(
            spec=demo_spec(f"fz-{n}"[:63].rstrip("-")), initial_state=pb.CONNECTOR_STATE_RUNNING
        )
    )
)
updates = nearly_valid(st.just(pb.UpdateConnectorRequest(spec=demo_spec(UPDATE_TARGET))))
alters = nearly_valid(
    st.just(
        pb.AlterOffsetsRequest(
            name=OFFSETS_TARGET,
            offsets=[
                pb.TaskOffset(partition="range-0", cursor={"next": 500}),
                pb.TaskOffset(partition="range-1", cursor={"next": 5000}),
            ],
        )
    )
)


@pytest.fixture(scope="module")
def targets(services: Services) -> Client:
    """targets are the connectors the nearly-valid Update and AlterOffsets aim at."""
    client = services.coordinator_client
    for name, state in (
        (UPDATE_TARGET, pb.CONNECTOR_STATE_PAUSED),
        (OFFSETS_TARGET, pb.CONNECTOR_STATE_STOPPED),
    ):
        created = client.call(
            CREATE, pb.CreateConnectorRequest(spec=demo_spec(name), initial_state=state)
        )
        assert created.ok, created
    return client


def _shown(fields: list[str]) -> set[str]:
    return {clip(f, MAX_STATUS_FIELD_BYTES) for f in fields}


@fuzz_settings(NEARLY_VALID_EXAMPLES)
@given(request=creates)
def test_create_agrees_with_validate_and_stores_exactly(
    targets: Client, request: pb.CreateConnectorRequest
) -> None:
    validated = targets.call(VALIDATE, pb.ValidateConnectorRequest(spec=request.spec))
    created = targets.call(CREATE, request)
    if request.initial_state not in pb.ConnectorState.values():
        assert created.fields() == ["initial_state"], created
        return
    if not request.HasField("spec"):
        assert created.fields() == ["spec"], created
        return
    assert validated.ok
    verdict = validated.response
    if created.ok:
        spec = created.response.spec
        assert DNS1123_LABEL.fullmatch(spec.name) and INDEX_NAME.fullmatch(spec.index), spec
        stored = targets.call(GET, pb.GetConnectorRequest(name=spec.name))
        assert as_json(stored.response.spec) == as_json(request.spec)
    if verdict.valid:
        assert created.ok or created.code == grpc.StatusCode.ALREADY_EXISTS, created
    else:
        assert created.code == grpc.StatusCode.INVALID_ARGUMENT, (verdict, created)
        assert set(created.fields()) <= _shown([e.field for e in verdict.errors]), verdict


@fuzz_settings(NEARLY_VALID_EXAMPLES // 2)
@given(request=updates)
def test_update_stores_exactly_what_it_accepts(
    targets: Client, request: pb.UpdateConnectorRequest
) -> None:
    updated = targets.call(UPDATE, request)
    if updated.ok:
        stored = targets.call(GET, pb.GetConnectorRequest(name=request.spec.name))
        assert as_json(stored.response.spec) == as_json(request.spec)
        assert stored.response.revision == updated.response.revision


@fuzz_settings(NEARLY_VALID_EXAMPLES // 2)
@given(request=alters)
def test_accepted_offsets_read_back_as_written(
    targets: Client, request: pb.AlterOffsetsRequest
) -> None:
    assert targets.call(STOP, pb.StopConnectorRequest(name=OFFSETS_TARGET)).ok
    altered = targets.call(ALTER_OFFSETS, request)
    if altered.ok:
        stored = {o.partition: as_json(o.cursor) for o in altered.response.offsets}
        for offset in request.offsets:
            assert stored[offset.partition] == as_json(offset.cursor)
        again = targets.call(GET_OFFSETS, pb.GetOffsetsRequest(name=request.name))
        assert list(again.response.offsets) == list(altered.response.offsets)
