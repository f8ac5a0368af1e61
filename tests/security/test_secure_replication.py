"""A follower cluster replicates from a leader whose replicator serves mutual TLS and checks
tokens: the follower dials with its CA and certificate and the remote's token, on unary calls
and on the ReadOperations / Bootstrap streams."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ferry.etcd import EmbeddedEtcd, free_port
from ferry.store import IndexOp
from tests.helpers import ServiceProcess, ferry
from tests.replication.clusters import Cluster
from tests.security.conftest import Pki

TOKEN = "follower-token-0123456789"


def test_a_follower_replicates_over_mutual_tls_with_the_remotes_token(
    services: Callable[..., ServiceProcess],
    etcd_server: EmbeddedEtcd,
    follower_etcd: EmbeddedEtcd,
    tmp_path: Path,
    pki: Pki,
) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"tokens: [{{name: dc2, role: operator, token: {TOKEN}}}]\n")
    token_file = tmp_path / "dc2-token"
    token_file.write_text(TOKEN + "\n")

    leader = Cluster("leader", services, etcd_server.endpoint, tmp_path)
    replicator = leader.replicator(
        "--tls-cert-file", str(pki.server.cert),
        "--tls-key-file", str(pki.server.key),
        "--tls-client-ca-file", str(pki.ca.cert),
        "--auth-tokens-file", str(tokens),
        "--health-listen", f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    leader.create_index("orders", shards=2)
    leader.run(lambda store: store.bulk("orders", [IndexOp(f"o{i}", {"n": i}) for i in range(500)]))

    # The follower cluster serves TLS too (a process's certificate is also its client
    # certificate); towards the remote it shows that certificate and the remote's token,
    # read from a file.
    tls = ["--tls-ca-file", str(pki.ca.cert)]
    cert = ["--tls-cert-file", str(pki.client.cert), "--tls-key-file", str(pki.client.key)]

    def client() -> list[str]:
        return [*tls, *cert, "--health-listen", f"127.0.0.1:{free_port()}"]

    follower = Cluster("follower", services, follower_etcd.endpoint, tmp_path)
    try:
        coordinator = follower.coordinator(*client())
        added = ferry(
            "remote", "add", "dc1", replicator.address,
            "--tls", "--token", f"${{file:{token_file}}}",
            "--coordinator", coordinator.address, *tls, *cert,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        follower.replicator(*client())
        followed = ferry(
            "follow", "orders-copy", "--remote", "dc1", "--leader", "orders",
            "--coordinator", coordinator.address, *tls, *cert,
        )  # fmt: skip
        assert followed.returncode == 0, followed.stderr
        follower.wait_caught_up(leader, "orders", "orders-copy")
        leader.run(
            lambda store: store.bulk("orders", [IndexOp(f"o{i}", {"n": -i}) for i in range(100)])
        )  # streamed, not bootstrapped
        follower.wait_caught_up(leader, "orders", "orders-copy")
        follower.assert_equal(leader, "orders", "orders-copy")
        listed = ferry(
            "remote", "list", "--coordinator", coordinator.address, *tls, *cert, "-o", "json"
        )  # fmt: skip
        assert json.loads(listed.stdout)[0]["connected"] is True, listed
        assert "rpc refused" not in replicator.log()
    finally:
        follower.close()
        leader.close()
