"""ferry.v1.Jobs: translates protobuf to JobService calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from ferry.errors import InvalidArgument
from ferry.v1 import jobs_pb2 as pb
from ferry.v1 import jobs_pb2_grpc
from services.coordinator.jobs import JobService

Ctx = grpc.aio.ServicerContext
MAX_WATCH_INTERVAL = 3600.0


class JobsServicer(jobs_pb2_grpc.JobsServicer):
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    async def Start(self, request: pb.StartJobRequest, context: Ctx) -> pb.Job:
        return await self._jobs.start(request.connector, request.kind, request.request_id)

    async def Get(self, request: pb.GetJobRequest, context: Ctx) -> pb.Job:
        return await self._jobs.get(request.id)

    async def List(self, request: pb.ListJobsRequest, context: Ctx) -> pb.ListJobsResponse:
        jobs, token = await self._jobs.list_jobs(request)
        return pb.ListJobsResponse(jobs=jobs, next_page_token=token)

    async def Cancel(self, request: pb.CancelJobRequest, context: Ctx) -> pb.Job:
        return await self._jobs.cancel(request.id, request.reason)

    async def Watch(
        self, request: pb.WatchJobRequest, context: Ctx
    ) -> AsyncIterator[pb.JobProgress]:
        interval = 0.0
        if request.HasField("interval"):
            seconds = request.interval.seconds + request.interval.nanos / 1e9
            if not 0 <= seconds <= MAX_WATCH_INTERVAL:
                raise InvalidArgument.field(
                    "interval", f"must be between 0 and {MAX_WATCH_INTERVAL:g} seconds"
                )
            interval = seconds
        async for progress in self._jobs.watch(request.id, interval):
            yield progress
