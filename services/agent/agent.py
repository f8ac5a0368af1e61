"""The agent process: registers with its capacity and labels, runs the tasks assigned to it.

The agent follows its assignment prefix (``assign/{agent}/``) in etcd: a new
assignment starts a :class:`TaskRunner` (at most ``max_concurrent_tasks`` at
once; the rest wait), a deleted one asks the runner to checkpoint and hand
the task back. Losing the etcd session cancels every runner at once, before
the lease can expire and another agent take the tasks over (self-fencing).
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from ferry.config import AgentConfig
from ferry.connectors import Registry, load_registry
from ferry.etcd import Session, cancel_watch
from ferry.member import encode_info, now_timestamp
from ferry.process import MemberProcess, Registration
from ferry.tasks import cancel_and_wait, raise_if_cancelling
from ferry.v1 import agent_pb2, agent_pb2_grpc, common_pb2
from ferry.version import VERSION
from services.agent.runner import RunnerContext, TaskRunner

log = logging.getLogger(__name__)


class AgentServicer(agent_pb2_grpc.AgentServicer):
    """AgentServicer answers about this agent."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def Status(
        self, request: agent_pb2.AgentStatusRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentStatus:
        return self._agent.status()

    async def Drain(
        self, request: agent_pb2.AgentDrainRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.AgentStatus:
        await self._agent.drain()
        return self._agent.status()


class Agent(MemberProcess):
    """Agent registers under its session lease and runs its assigned tasks."""

    role = "agent"

    def __init__(self, config: AgentConfig, *, registry: Registry | None = None) -> None:
        self.agent_config = config
        self.registry = registry or load_registry()
        self.started = now_timestamp()
        self.runners: dict[str, tuple[TaskRunner, asyncio.Task[None]]] = {}
        self.wanted: dict[str, str] = {}
        """wanted maps each task assigned to this agent to its job."""
        self.draining = False
        self._follower: asyncio.Task[None] | None = None
        self._context: RunnerContext | None = None
        """What every runner shares; set once the store is open."""
        super().__init__(config)

    def info(self, session: Session | None) -> common_pb2.AgentInfo:
        return common_pb2.AgentInfo(
            id=self.id,
            address=self.address,
            max_concurrent_tasks=self.agent_config.max_concurrent_tasks,
            labels=self.agent_config.labels,
            connector_types=list(self.registry.types),
            state=common_pb2.AGENT_STATE_ACTIVE,
            start_time=self.started,
            version=VERSION,
            lease_id=session.lease_id if session else 0,
        )

    def registration(self, session: Session) -> bytes:
        return encode_info(self.info(session))

    def status(self) -> agent_pb2.AgentStatus:
        info = self.info(self.membership.session)
        info.running_tasks = len(self.runners)
        if self.draining:
            info.state = (
                common_pb2.AGENT_STATE_DRAINING if self.runners else common_pb2.AGENT_STATE_DRAINED
            )
        status = agent_pb2.AgentStatus(info=info, session_alive=self.membership.alive)
        for runner, _ in self.runners.values():
            run = status.tasks.add(
                task_id=runner.task_id,
                job_id=runner.job_id,
                connector=runner.connector,
                docs_indexed=runner.task.counters.docs_indexed,
            )
            run.fencing_token.CopyFrom(runner.task.fencing_token)
        return status

    def servicers(self) -> list[Registration]:
        return [
            (
                agent_pb2_grpc.add_AgentServicer_to_server,
                AgentServicer(self),
                agent_pb2.DESCRIPTOR.services_by_name["Agent"].full_name,
            )
        ]

    async def drain(self) -> None:
        """drain asks the leader to move every task away and assign this agent none."""
        self.draining = True
        await self.client.put(self.keys.drain(self.id).encode(), b"drain")

    # Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        if self.store is None:
            log.warning("no --store-url: this agent registers but runs no tasks")
            return
        self._context = RunnerContext(
            client=self.client,
            keys=self.keys,
            store=self.store,
            registry=self.registry,
            agent_id=self.id,
            settings=self.agent_config,
        )
        self._follower = asyncio.create_task(self._follow_assignments(), name="assignments")

    async def stop(self) -> None:
        """stop hands every task back (checkpointed) within the grace period, then exits."""
        follower, self._follower = self._follower, None
        await cancel_and_wait(follower)
        self.wanted.clear()
        for runner, _ in self.runners.values():
            runner.revoke()
        tasks = [task for _, task in self.runners.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.config.grace_period)
            for task in pending:
                await cancel_and_wait(task)
        await super().stop()

    async def on_session_lost(self, session: Session) -> None:
        """on_session_lost stops every task at once, writing nothing (self-fencing)."""
        await super().on_session_lost(session)
        running = list(self.runners.values())
        for _, task in running:
            task.cancel()
        if running:
            log.warning("session lost: stopped every task", extra={"tasks": len(running)})

    # Following assignments ------------------------------------------------------------

    async def _follow_assignments(self) -> None:
        await self.membership.each_session(self._follow, "assignment watch")

    async def _follow(self, session: Session) -> None:
        prefix = self.keys.assignments(self.id)
        got = await self.client.get_prefix(prefix.encode())
        self.wanted = {kv.key.decode()[len(prefix) :]: kv.value.decode() for kv in got}
        self._reconcile(session)
        watch = await self.client.watch_prefix(
            prefix.encode(), start_revision=got.header.revision + 1
        )

        async def listen() -> None:
            async for event in watch:
                task_id = event.kv.key.decode()[len(prefix) :]
                if event.kind == "PUT":
                    self.wanted[task_id] = event.kv.value.decode()
                else:
                    self.wanted.pop(task_id, None)
                self._reconcile(session)

        listener = asyncio.create_task(listen(), name="assignment-watch")
        lost = asyncio.create_task(session.done.wait(), name="assignment-session")
        try:
            await asyncio.wait([listener, lost], return_when=asyncio.FIRST_COMPLETED)
            if listener.done():
                listener.result()
        finally:
            listener.cancel()
            lost.cancel()
            await asyncio.gather(listener, lost, return_exceptions=True)
            await cancel_watch(watch)

    def _reconcile(self, session: Session) -> None:
        """_reconcile revokes runners no longer assigned and starts assigned ones up to capacity."""
        for task_id, (runner, _) in self.runners.items():
            if task_id not in self.wanted:
                runner.revoke()
        if not session.alive or self._context is None:
            return
        for task_id, job_id in sorted(self.wanted.items()):
            if len(self.runners) >= self.agent_config.max_concurrent_tasks:
                break
            if task_id in self.runners:
                continue
            runner = TaskRunner(self._context, job_id, task_id)
            task = asyncio.create_task(self._run(runner, session), name=f"task {task_id}")
            self.runners[task_id] = (runner, task)

    async def _run(self, runner: TaskRunner, session: Session) -> None:
        try:
            await runner.run(session)
            if runner.task_id in self.wanted:
                await asyncio.sleep(1.0)  # still assigned but could not run: do not spin
        except asyncio.CancelledError:
            log.info("task stopped", extra={"task": runner.task_id})
            raise
        except Exception:
            raise_if_cancelling()
            log.exception("task runner crashed", extra={"task": runner.task_id})
            await asyncio.sleep(1.0)
        finally:
            self.runners.pop(runner.task_id, None)
            if self._follower is not None and session.alive:
                self._reconcile(session)


async def serve(config: AgentConfig) -> None:
    """serve runs an agent until SIGTERM/SIGINT."""
    await Agent(config).serve()
