"""`ferry up` (what `make run` starts): etcd, coordinator, agent and replicator on one machine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from ferry.etcd import free_port
from tests.helpers import REPO, SERVING, ferry, health_status, wait_until


def test_ferry_up_runs_a_complete_cluster_and_stops_cleanly(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    out = tmp_path / "up.out"
    connectors_file = tmp_path / "connectors.yaml"
    connectors_file.write_text((REPO / "examples" / "demo-connectors.yaml").read_text())
    with open(out, "w") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "ferry.cli.main", "up", "--data-dir", str(tmp_path / "data"),
             "--listen", address, "--lease-ttl", "3", "--connectors-file", str(connectors_file)],
            stdout=sink, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    try:
        wait_until(
            lambda: health_status(address) == SERVING, timeout=60, what="coordinator serving"
        )

        def cluster() -> dict[str, object]:
            result = ferry("cluster", "status", "--coordinator", address, "-o", "json")
            assert result.returncode == 0, result.stderr
            return dict(json.loads(result.stdout))

        status = wait_until(
            lambda: (
                (s := cluster()).get("agents") and s.get("replicators") and s.get("leader") and s
            ),
            timeout=30,
            what="agent, replicator and leader registered",
        )
        assert status["etcd"]["healthy"]  # type: ignore[index]

        listed = ferry("connectors", "list", "--coordinator", address, "-o", "json")
        demo = ["demo-generator", "docs", "pgbench-accounts"]
        assert [c["spec"]["name"] for c in json.loads(listed.stdout)] == demo
        assert '"docs": 10000,' in listed.stdout  # whole numbers stay whole, as in the file
        table = ferry("connectors", "list", "--coordinator", address)
        assert "demo-generator" in table.stdout and "running" in table.stdout

        # SIGHUP to `ferry up` reaches the coordinator, which re-reads the file.
        connectors_file.write_text(
            connectors_file.read_text() + "  - {name: second, type: generator, index: second}\n"
        )
        up.send_signal(signal.SIGHUP)

        def names() -> list[str]:
            listed = ferry("connectors", "list", "--coordinator", address, "-o", "json")
            return [c["spec"]["name"] for c in json.loads(listed.stdout)]

        wait_until(lambda: names() == [*demo, "second"], what="file re-applied")
        assert up.poll() is None
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=60)
    assert code == 0, out.read_text()[-3000:]
    # etcd data persisted under the data dir for the next run.
    assert (tmp_path / "data" / "etcd" / "member-data").is_dir()
    assert (tmp_path / "data" / "logs" / "coordinator.log").stat().st_size > 0


def test_ferry_up_refuses_a_bad_connectors_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "connectors.yaml"
    bad.write_text("- {name: demo, type: generator, index: demo, config: {docs: lots}}\n")
    result = ferry("up", "--data-dir", str(tmp_path / "data"), "--connectors-file", str(bad))
    assert result.returncode == 1
    assert "connectors[0].config.docs" in result.stderr
    assert not (tmp_path / "data" / "etcd").exists()


def test_service_config_errors_are_one_line_naming_the_setting() -> None:
    result = ferry("agent", "--lease-ttl", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: lease_ttl:") and "Traceback" not in result.stderr
