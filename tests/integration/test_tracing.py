"""Tracing through a real coordinator: W3C context crosses gRPC, failures show, etcd stays out.

The global tracer provider can be installed once per process, so one module
fixture installs it (through :func:`ferry.telemetry.setup_tracing`) with an
in-memory exporter, and each test starts from an empty exporter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence

import aetcd
import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ferry import security, telemetry
from ferry.config import CoordinatorConfig
from ferry.connectors import load_registry
from ferry.errors import InvalidArgument
from ferry.etcd import EmbeddedEtcd, Keys
from ferry.sync import records
from ferry.sync.state import SyncState
from ferry.v1 import (
    cluster_pb2,
    cluster_pb2_grpc,
    connectors_pb2,
    connectors_pb2_grpc,
    indices_pb2,
    indices_pb2_grpc,
    jobs_pb2,
)
from services.coordinator.coordinator import Coordinator
from services.coordinator.scheduler import Planner, Put
from tests.helpers import eventually

CREATE = "/ferry.v1.Connectors/Create"
STATUS = "/ferry.v1.Cluster/Status"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """exporter collects every span of this process once setup_tracing has run."""
    exporter = InMemorySpanExporter()
    provider = telemetry.setup_tracing(
        "test", extra_processors=[SimpleSpanProcessor(exporter)], env={}
    )
    installed = trace.get_tracer_provider()
    if installed is not provider:
        # Another test of this process installed a provider first; it cannot be
        # replaced, so listen on it instead.
        assert isinstance(installed, TracerProvider), installed
        installed.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    """spans is the exporter, emptied for this test."""
    exporter.clear()
    return exporter


@pytest.fixture
async def coordinator(
    spans: InMemorySpanExporter, etcd_server: EmbeddedEtcd, keys: Keys
) -> AsyncIterator[Coordinator]:
    """coordinator runs in-process, built after the provider so its interceptors trace."""
    config = CoordinatorConfig(
        etcd_endpoints=etcd_server.endpoint,
        listen="127.0.0.1:0",
        etcd_prefix=keys.root,
        lease_ttl=3,
        grace_period=1,
    )
    coordinator = Coordinator(config)
    await coordinator.start()
    yield coordinator
    await coordinator.stop()


def _one(spans: Sequence[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    found = [s for s in spans if s.name == name and s.kind == kind]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]


async def _finished(
    exporter: InMemorySpanExporter, trace_id: int, count: int
) -> tuple[ReadableSpan, ...]:
    """_finished waits until ``count`` spans of the trace have ended (server spans end last)."""

    async def ended() -> tuple[ReadableSpan, ...]:
        found = tuple(
            s
            for s in exporter.get_finished_spans()
            if s.context is not None and s.context.trace_id == trace_id
        )
        return found if len(found) >= count else ()

    return await eventually(ended, what=f"{count} finished spans of the trace")


async def test_context_propagates_from_client_to_server_span(
    coordinator: Coordinator, spans: InMemorySpanExporter, etcd_client: aetcd.Client, keys: Keys
) -> None:
    tracer = trace.get_tracer(__name__)
    spec = connectors_pb2.ConnectorSpec(name="traced", type="generator", index="traced")
    async with security.channel(coordinator.server.address) as channel:
        connectors = connectors_pb2_grpc.ConnectorsStub(channel)
        cluster = cluster_pb2_grpc.ClusterStub(channel)
        with tracer.start_as_current_span("operator") as parent:
            created = await connectors.Create(
                connectors_pb2.CreateConnectorRequest(spec=spec), timeout=5
            )
            status = await cluster.Status(cluster_pb2.ClusterStatusRequest(), timeout=5)
    trace_id = parent.get_span_context().trace_id

    # Both calls really went to etcd: the record is there and etcd answered.
    assert created.revision > 0
    assert await etcd_client.get(keys.connector("traced").encode()) is not None
    assert status.etcd.healthy and status.etcd.revision >= created.revision

    # operator + (client, server) for each of the two calls.
    finished = await _finished(spans, trace_id, 5)
    client = _one(finished, CREATE, SpanKind.CLIENT)
    server = _one(finished, CREATE, SpanKind.SERVER)
    assert client.parent is not None and server.parent is not None
    assert client.parent.span_id == parent.get_span_context().span_id
    assert server.parent.span_id == client.context.span_id
    assert server.parent.is_remote, "the server's parent came through gRPC metadata"
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]
    status_server = _one(finished, STATUS, SpanKind.SERVER)
    assert status_server.parent is not None
    assert status_server.parent.span_id == _one(finished, STATUS, SpanKind.CLIENT).context.span_id

    # The coordinator's etcd channel carries no tracing interceptors.
    etcd_spans = [s.name for s in spans.get_finished_spans() if "etcdserverpb" in s.name.lower()]
    assert etcd_spans == []


async def test_failed_calls_are_recorded_on_server_spans(
    coordinator: Coordinator, spans: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer(__name__)
    bad = connectors_pb2.ConnectorSpec(name="Bad_Name", type="generator", index="x")
    async with security.channel(coordinator.server.address) as channel:
        with tracer.start_as_current_span("operator") as parent:
            with pytest.raises(grpc.aio.AioRpcError) as invalid:
                await connectors_pb2_grpc.ConnectorsStub(channel).Create(
                    connectors_pb2.CreateConnectorRequest(spec=bad), timeout=5
                )
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                negated = indices_pb2.Filter(field="qty", exists=True, negate=True)
                await indices_pb2_grpc.IndicesStub(channel).Search(
                    indices_pb2.SearchRequest(index="orders", filters=[negated]), timeout=5
                )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED

    finished = await _finished(spans, parent.get_span_context().trace_id, 5)
    create = _one(finished, CREATE, SpanKind.SERVER)
    assert create.attributes is not None
    assert create.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert any(e.name == "exception" for e in create.events)
    # OpenTelemetry's gRPC conventions leave a server span's status unset for
    # the caller's mistakes (INVALID_ARGUMENT) and mark server faults as errors.
    assert _one(finished, CREATE, SpanKind.CLIENT).status.status_code == StatusCode.ERROR
    unimplemented = _one(finished, "/ferry.v1.Indices/Search", SpanKind.SERVER)
    assert unimplemented.status.status_code == StatusCode.ERROR
    assert "UNIMPLEMENTED" in (unimplemented.status.description or "")
    assert unimplemented.attributes is not None
    assert (
        unimplemented.attributes["rpc.grpc.status_code"] == (grpc.StatusCode.UNIMPLEMENTED.value[0])
    )


@pytest.mark.parametrize(
    ("env", "choices"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": " OTLP , console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, []),
    ],
)
def test_exporter_choices_follow_otel_variables(env: dict[str, str], choices: list[str]) -> None:
    assert telemetry.exporter_choices(env) == choices


def test_unknown_exporter_is_an_error_naming_the_variable() -> None:
    with pytest.raises(InvalidArgument) as raised:
        telemetry.exporter_choices({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert raised.value.violations[0].field == "OTEL_TRACES_EXPORTER"
    assert "zipkin" in raised.value.message


def test_a_scheduled_job_records_the_context_of_the_schedulers_schedule_span(
    spans: InMemorySpanExporter,
) -> None:
    connector = connectors_pb2.Connector(
        spec=connectors_pb2.ConnectorSpec(
            name="nightly",
            type="generator",
            index="nightly",
            schedule=connectors_pb2.Schedule(full="* * * * *"),
        ),
        state=connectors_pb2.CONNECTOR_STATE_RUNNING,
        revision=1,
    )
    now = 1_800_000_000.0
    state = SyncState(
        revision=3, connectors={"nightly": connector}, schedules={"nightly/full": now - 120}
    )
    decision = Planner(Keys("/t"), load_registry()).decide(state, now)
    [job] = [
        records.decode_job(op.value)
        for change in decision.changes
        for op in change.ops
        if isinstance(op, Put) and op.key.startswith(Keys("/t").job(""))
    ]
    assert job.trigger == jobs_pb2.JOB_TRIGGER_SCHEDULED
    [schedule] = [s for s in spans.get_finished_spans() if s.name == "schedule"]
    assert schedule.attributes is not None and schedule.attributes["ferry.job"] == job.id
    linked = telemetry.stored_span_context(job.traceparent, job.tracestate)
    assert linked is not None
    assert (linked.trace_id, linked.span_id) == (
        schedule.context.trace_id,
        schedule.context.span_id,
    )


def test_a_stored_context_names_the_span_it_was_taken_in(spans: InMemorySpanExporter) -> None:
    with trace.get_tracer(__name__).start_as_current_span("trigger") as trigger:
        traceparent, tracestate = telemetry.current_trace_context()
    linked = telemetry.stored_span_context(traceparent, tracestate)
    assert linked is not None and linked.span_id == trigger.get_span_context().span_id
    assert linked.is_remote
    assert telemetry.current_trace_context() == ("", "")  # no active span
    assert telemetry.stored_span_context("") is None
    assert telemetry.stored_span_context("00-not-a-trace-context-01") is None
