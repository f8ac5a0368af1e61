"""The etcd key layout: the one place where Ferry's keys are spelled.

Everything lives under a root prefix (``/ferry`` by default) so that several
Ferry clusters can share one etcd. Nobody else builds keys by hand: call the
methods of :class:`Keys`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ROOT = "/ferry"


def prefix_end(prefix: str) -> bytes:
    """prefix_end returns the smallest key greater than every key starting with prefix."""
    raw = prefix.encode()
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            return raw[:i] + bytes([raw[i] + 1])
    return b"\0"


@dataclass(frozen=True)
class Keys:
    """Keys spells every etcd key of one Ferry cluster.

    Segments taken from users (connector names, ids) are never allowed to
    contain "/" by validation elsewhere, so a prefix never matches a sibling.
    """

    root: str = DEFAULT_ROOT

    def _k(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    # Leader election among coordinators.
    def election(self, name: str = "coordinator") -> str:
        """election is the prefix under which candidates of an election queue."""
        return self._k("election", name) + "/"

    # Members, each registered under its own session lease.
    def members(self, role: str) -> str:
        """members is the prefix of a role's registrations (coordinators, agents, ...)."""
        return self._k("members", role) + "/"

    def member(self, role: str, member_id: str) -> str:
        return self.members(role) + member_id

    def coordinators(self) -> str:
        return self.members("coordinators")

    def coordinator(self, member_id: str) -> str:
        return self.member("coordinators", member_id)

    def agents(self) -> str:
        return self.members("agents")

    def agent(self, member_id: str) -> str:
        return self.member("agents", member_id)

    def replicators(self) -> str:
        return self.members("replicators")

    def replicator(self, member_id: str) -> str:
        return self.member("replicators", member_id)

    # Connectors and their desired state.
    def connectors(self) -> str:
        return self._k("connectors") + "/"

    def connector(self, name: str) -> str:
        return self.connectors() + name

    # Connector types published by the leader from the agents' plugins.
    def connector_types(self) -> str:
        return self._k("types") + "/"

    def connector_type(self, name: str) -> str:
        return self.connector_types() + name

    # Checkpoints (source cursors) per connector and partition.
    def checkpoints(self, connector: str) -> str:
        return self._k("checkpoints", connector) + "/"

    def checkpoint(self, connector: str, partition: str) -> str:
        return self.checkpoints(connector) + partition

    # Fenced ownership claims: the claim key's create revision is the token.
    def claims(self, kind: str) -> str:
        return self._k("claims", kind) + "/"

    def claim(self, kind: str, resource: str) -> str:
        return self.claims(kind) + resource

    # Drain markers set by operators for agents.
    def drains(self) -> str:
        return self._k("drain") + "/"

    def drain(self, agent_id: str) -> str:
        return self.drains() + agent_id

    # Maintenance mode: present while on.
    def maintenance(self) -> str:
        return self._k("maintenance")

    # Sync jobs, their tasks, and the leader's assignments of tasks to agents.
    def jobs(self) -> str:
        return self._k("jobs") + "/"

    def job(self, job_id: str) -> str:
        return self.jobs() + job_id

    def all_tasks(self) -> str:
        return self._k("tasks") + "/"

    def tasks(self, job_id: str) -> str:
        return self.all_tasks() + job_id + "/"

    def task(self, job_id: str, task_id: str) -> str:
        return self.tasks(job_id) + task_id

    def all_assignments(self) -> str:
        return self._k("assign") + "/"

    def assignments(self, agent_id: str) -> str:
        return self.all_assignments() + agent_id + "/"

    def assignment(self, agent_id: str, task_id: str) -> str:
        return self.assignments(agent_id) + task_id

    # Idempotent Jobs.Start: request id -> job id, per connector.
    def job_request(self, connector: str, request_id: str) -> str:
        return self._k("job-requests", connector, request_id)

    # The last cron tick the leader acted on, per connector and job kind.
    def schedules(self) -> str:
        return self._k("schedule") + "/"

    def schedule(self, connector: str, kind: str) -> str:
        return self.schedules() + f"{connector}/{kind}"

    # Replication (follower side): remote clusters, follower indices, their shard
    # tasks' state, auto-follow patterns and what each pattern has followed.
    def remotes(self) -> str:
        return self._k("remotes") + "/"

    def remote(self, name: str) -> str:
        return self.remotes() + name

    def followers(self) -> str:
        return self._k("followers") + "/"

    def follower(self, index: str) -> str:
        return self.followers() + index

    def all_follow_shards(self) -> str:
        return self._k("follow-shards") + "/"

    def follow_shards(self, index: str) -> str:
        return self.all_follow_shards() + index + "/"

    def follow_shard(self, index: str, shard: int) -> str:
        return self.follow_shards(index) + str(shard)

    def auto_follow_patterns(self) -> str:
        return self._k("auto-follow", "patterns") + "/"

    def auto_follow_pattern(self, name: str) -> str:
        return self.auto_follow_patterns() + name

    def auto_followed(self, pattern: str) -> str:
        """auto_followed is the prefix of leader indices a pattern has followed (or tried)."""
        return self._k("auto-follow", "followed", pattern) + "/"

    def auto_follow_stats(self) -> str:
        return self._k("auto-follow", "stats")
