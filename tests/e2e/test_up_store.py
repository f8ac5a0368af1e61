"""`ferry up` gives every service an index store: SQLite under its data dir by default."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from ferry.etcd import free_port
from tests.helpers import REPO, SERVING, ferry, health_status, wait_until


def test_ferry_up_stores_indices_in_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    data = tmp_path / "data"
    with open(tmp_path / "up.out", "w") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "ferry.cli.main", "up", "--data-dir", str(data),
             "--listen", address, "--lease-ttl", "3"],
            stdout=sink, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    try:
        wait_until(
            lambda: health_status(address) == SERVING, timeout=60, what="coordinator serving"
        )
        assert (data / "store" / "ferry.db").is_file()

        created = ferry("index", "create", "notes", "--shards", "2", "--coordinator", address)
        assert created.returncode == 0, created.stderr
        listed = ferry("index", "list", "--coordinator", address, "-o", "json")
        assert listed.returncode == 0, listed.stderr
        assert [(i["name"], i["shard_count"]) for i in json.loads(listed.stdout)] == [("notes", 2)]
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=60)
    assert code == 0, (tmp_path / "up.out").read_text()[-3000:]


def test_ferry_up_refuses_a_bad_store_url_before_starting_anything(tmp_path: Path) -> None:
    result = ferry("up", "--data-dir", str(tmp_path / "data"), "--store-url", "mysql://db/x")
    assert result.returncode == 1
    assert result.stderr.startswith("error: store_url:") and "sqlite or postgresql" in result.stderr
    assert not (tmp_path / "data" / "etcd").exists()
