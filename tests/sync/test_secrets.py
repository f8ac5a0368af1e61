"""Secrets (SPEC §5.4): resolved on the agent, never in the API, logs, task errors or spans."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from ferry.connectors.registry import PLUGINS_ENV
from ferry.v1 import connectors_pb2, jobs_pb2
from tests.connectors.sources import PLUGINS
from tests.helpers import wait_until
from tests.sync.support import QUICK_RETRY, SyncCluster, bad_fields

SECRET = "tok-5f1d9c2e-never-print-me"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process gets the test sources, the secret in its environment, and exports
    its spans to its own output (so the captured log holds logs and spans alike)."""
    monkeypatch.setenv(PLUGINS_ENV, PLUGINS)
    monkeypatch.setenv("FERRY_TEST_TOKEN", SECRET)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")


@pytest.mark.parametrize(
    "isolation", [connectors_pb2.ISOLATION_NONE, connectors_pb2.ISOLATION_PROCESS]
)
def test_secret_never_leaves_the_agent(cluster: SyncCluster, isolation: int) -> None:
    agent = cluster.agent()
    cluster.create(
        "leaky",
        "test-indiscreet",
        {"token": "${env:FERRY_TEST_TOKEN}", "docs": 5},
        error_policy=QUICK_RETRY,
        isolation=isolation,
    )
    got = cluster.connectors.Get(connectors_pb2.GetConnectorRequest(name="leaky"), timeout=5)
    assert got.spec.config["token"] == "${env:FERRY_TEST_TOKEN}"

    job = cluster.wait_job(cluster.sync("leaky").id)
    # The source was given the real token, and quoted it in its error: "[redacted]"
    # stands only where a resolved secret stood.
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    error = job.tasks[0].error
    assert "server refused token [redacted]" in error, error
    # Spans are batched: wait for the task span, then look at everything the agent wrote.
    wait_until(lambda: '"name": "task"' in agent.log(), what="the task span exported")
    output = agent.log()
    assert "connecting with token [redacted]" in output
    assert SECRET not in output
    for coordinator in cluster.coordinators:
        assert SECRET not in coordinator.log()
    listed = cluster.jobs.List(jobs_pb2.ListJobsRequest(), timeout=5)
    assert SECRET not in str(listed)


def test_secret_field_refuses_a_literal_value(cluster: SyncCluster) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        cluster.create("literal", "test-indiscreet", {"token": SECRET})
    problems = bad_fields(raised.value)
    assert set(problems) == {"spec.config.token"}
    assert "${env:NAME} or ${file:PATH}" in problems["spec.config.token"]
    assert SECRET not in str(problems)


def test_unset_variable_fails_the_task_naming_the_field(cluster: SyncCluster) -> None:
    cluster.agent()
    cluster.create("unset", "test-indiscreet", {"token": "${env:FERRY_NO_SUCH_VARIABLE}"})
    job = cluster.wait_job(cluster.sync("unset").id)
    assert job.state == jobs_pb2.JOB_STATE_FAILED
    assert job.tasks[0].error == (
        "config.token: environment variable FERRY_NO_SUCH_VARIABLE"
        " is not set in this process's environment"
    )


def test_file_reference_is_read_on_the_agent(cluster: SyncCluster, tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET + "\n")
    agent = cluster.agent()
    cluster.create(
        "filed", "test-indiscreet", {"token": f"${{file:{secret_file}}}"}, error_policy=QUICK_RETRY
    )
    job = cluster.wait_job(cluster.sync("filed").id)
    assert "server refused token [redacted]" in job.tasks[0].error
    assert SECRET not in agent.log()
