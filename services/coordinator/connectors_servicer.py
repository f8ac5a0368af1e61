"""ferry.v1.Connectors: translates protobuf to ConnectorStore calls."""

from __future__ import annotations

import grpc

from ferry.connectors import Registry
from ferry.errors import InvalidArgument
from ferry.v1 import connectors_pb2 as pb
from ferry.v1 import connectors_pb2_grpc
from services.coordinator.connectors import ConnectorStore
from services.coordinator.jobs import JobService
from services.coordinator.types import list_types
from services.coordinator.validation import validate_spec

Ctx = grpc.aio.ServicerContext


def _spec(
    request: pb.CreateConnectorRequest | pb.UpdateConnectorRequest | pb.ValidateConnectorRequest,
) -> pb.ConnectorSpec:
    if not request.HasField("spec"):
        raise InvalidArgument.field("spec", "is required")
    return request.spec


def _revision(expected_revision: int) -> int:
    if expected_revision < 0:
        raise InvalidArgument.field("expected_revision", "must not be negative (0 means any)")
    return expected_revision


class ConnectorsServicer(connectors_pb2_grpc.ConnectorsServicer):
    """ConnectorsServicer serves the connector control plane on every replica."""

    def __init__(self, store: ConnectorStore, registry: Registry, jobs: JobService) -> None:
        self._store = store
        self._registry = registry
        self._jobs = jobs

    async def Create(self, request: pb.CreateConnectorRequest, context: Ctx) -> pb.Connector:
        if request.initial_state not in pb.ConnectorState.values():
            raise InvalidArgument.field(
                "initial_state", f"unknown connector state {request.initial_state}"
            )
        return await self._store.create(_spec(request), request.initial_state)

    async def Get(self, request: pb.GetConnectorRequest, context: Ctx) -> pb.Connector:
        return await self._store.get(request.name)

    async def List(
        self, request: pb.ListConnectorsRequest, context: Ctx
    ) -> pb.ListConnectorsResponse:
        connectors, token = await self._store.list(
            type=request.type, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListConnectorsResponse(connectors=connectors, next_page_token=token)

    async def Update(self, request: pb.UpdateConnectorRequest, context: Ctx) -> pb.Connector:
        return await self._store.update(_spec(request), _revision(request.expected_revision))

    async def Delete(
        self, request: pb.DeleteConnectorRequest, context: Ctx
    ) -> pb.DeleteConnectorResponse:
        await self._store.delete(request.name, _revision(request.expected_revision))
        return pb.DeleteConnectorResponse()

    async def Pause(self, request: pb.PauseConnectorRequest, context: Ctx) -> pb.Connector:
        return await self._store.set_state(request.name, pb.CONNECTOR_STATE_PAUSED)

    async def Resume(self, request: pb.ResumeConnectorRequest, context: Ctx) -> pb.Connector:
        return await self._store.set_state(request.name, pb.CONNECTOR_STATE_RUNNING)

    async def Stop(self, request: pb.StopConnectorRequest, context: Ctx) -> pb.Connector:
        return await self._store.set_state(request.name, pb.CONNECTOR_STATE_STOPPED)

    async def Restart(
        self, request: pb.RestartConnectorRequest, context: Ctx
    ) -> pb.RestartConnectorResponse:
        restarted = await self._jobs.restart(request.name, request.only_failed)
        return pb.RestartConnectorResponse(restarted_task_ids=restarted)

    async def Validate(
        self, request: pb.ValidateConnectorRequest, context: Ctx
    ) -> pb.ValidateConnectorResponse:
        errors = validate_spec(_spec(request), self._registry)
        return pb.ValidateConnectorResponse(
            valid=not errors,
            errors=[pb.FieldError(field=e.field, description=e.description) for e in errors],
        )

    async def ListTypes(
        self, request: pb.ListConnectorTypesRequest, context: Ctx
    ) -> pb.ListConnectorTypesResponse:
        return pb.ListConnectorTypesResponse(types=list_types(self._registry))

    async def GetOffsets(self, request: pb.GetOffsetsRequest, context: Ctx) -> pb.ConnectorOffsets:
        return await self._store.get_offsets(request.name)

    async def AlterOffsets(
        self, request: pb.AlterOffsetsRequest, context: Ctx
    ) -> pb.ConnectorOffsets:
        return await self._store.alter_offsets(request.name, request.offsets)

    async def ResetOffsets(
        self, request: pb.ResetOffsetsRequest, context: Ctx
    ) -> pb.ConnectorOffsets:
        return await self._store.reset_offsets(request.name)
