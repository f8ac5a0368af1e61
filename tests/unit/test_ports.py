"""free_ports: ports chosen together are distinct (etcd's client and peer ports once were not)."""

from __future__ import annotations

from ferry.etcd.embedded import free_ports


def test_ports_chosen_together_are_distinct() -> None:
    for _ in range(20):
        ports = free_ports(8)
        assert len(set(ports)) == 8
