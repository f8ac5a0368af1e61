"""ferry.v1.Jobs: translates protobuf to JobService calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from ferry.v1 import jobs_pb2 as pb
from ferry.v1 import jobs_pb2_grpc
from services.coordinator.jobs import JobService

Ctx = grpc.aio.ServicerContext


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
        interval = (
            request.interval.ToTimedelta().total_seconds() if request.HasField("interval") else 0
        )
        async for progress in self._jobs.watch(request.id, interval):
            yield progress
