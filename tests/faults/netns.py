"""Network namespaces for partition tests: a namespace joined to the root one by a veth pair.

A :class:`Namespace` holds one end of a veth pair (``10.213.X.Y+2/30``); the
other end stays in the root namespace (``10.213.X.Y+1/30``). A process run
inside (:meth:`Namespace.inside`) reaches the root namespace's servers only
through the root-side address, so a server the partitioned process must reach
listens there (etcd) — the root namespace itself still reaches it locally
while the link is down. :meth:`Namespace.cut` takes the root-side end down:
packets between the two namespaces are dropped, established connections stall
without being reset, as in a real partition. The file system is not
partitioned: a SQLite store on a shared file stays reachable from both sides.

:class:`Namespaces` creates them with unique names and subnets and removes
every namespace and veth it made in :meth:`Namespaces.close`, even after a
failure; namespaces left behind by a killed test run are removed on the next
creation.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ferry.children import exists
from tests.helpers import ServiceProcess, wait_until

PREFIX = "fy"
"""PREFIX starts every namespace and interface name made here: ``fy<pid>x<n>[hn]``."""
NETWORK = ipaddress.ip_network("10.213.0.0/16")
"""NETWORK is where each namespace's /30 comes from (a private range used for nothing else)."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """ip runs ``ip ARGS`` and raises with its stderr when it fails (unless check is False)."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def unavailable() -> str:
    """unavailable is why namespaces cannot be made here, or "" when they can."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"{PREFIX}probe{os.getpid()}"
    added = ip("netns", "add", probe, check=False)
    if added.returncode != 0:
        return f"ip netns add fails here: {added.stderr.strip() or added.returncode}"
    ip("netns", "del", probe, check=False)
    return ""


@dataclass(frozen=True)
class Namespace:
    """Namespace is one network namespace with a veth pair to the root namespace."""

    name: str
    host_if: str
    """host_if is the root-side end of the veth pair; :meth:`cut` takes it down."""
    ns_if: str
    host_address: str
    """host_address is the root side's address: what processes inside dial."""
    address: str
    """address is the namespace side's address: what processes inside listen on."""

    def exec_args(self, cmd: Sequence[str]) -> list[str]:
        """exec_args runs cmd inside the namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def inside(self, proc: ServiceProcess) -> ServiceProcess:
        """inside makes a not yet started ServiceProcess run in this namespace, listening
        on (and advertising) the namespace address; returns it."""
        assert proc.process is None, "inside() must come before start()"
        if proc.health_address == proc.address:
            proc.health_address = f"{self.address}:{proc.port}"
        proc.address = f"{self.address}:{proc.port}"
        cmd = list(proc.cmd)
        cmd[cmd.index("--listen") + 1] = proc.address
        proc.cmd = self.exec_args([*cmd, "--advertise", proc.address])
        return proc

    def cut(self) -> None:
        """cut drops every packet between this namespace and the root namespace."""
        ip("link", "set", self.host_if, "down")

    def heal(self) -> None:
        """heal brings the link back and returns once both ends are up again."""
        ip("link", "set", self.host_if, "up")
        wait_until(self.linked, timeout=10, what=f"{self.name} link up")

    def linked(self) -> bool:
        """linked says both ends of the veth pair are up (carrier included)."""
        host = ip("-o", "link", "show", self.host_if).stdout
        inner = ip("-n", self.name, "-o", "link", "show", self.ns_if).stdout
        return "state UP" in host and "state UP" in inner


class Namespaces:
    """Namespaces makes namespaces with unique names and /30 subnets; close removes them."""

    def __init__(self) -> None:
        self.made: list[Namespace] = []

    def create(self) -> Namespace:
        """create makes a namespace (loopback up) and its veth pair, both ends up."""
        if not self.made:
            remove_stale()
        n = len(self.made)
        base = f"{PREFIX}{os.getpid()}x{n}"
        subnet = _free_subnet(os.getpid() * 8 + n)
        host, inner = list(subnet.hosts())
        ns = Namespace(base, f"{base}h", f"{base}n", str(host), str(inner))
        ip("netns", "add", ns.name)
        self.made.append(ns)  # from here on, close() removes it
        ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
        ip("link", "set", ns.ns_if, "netns", ns.name)
        ip("addr", "add", f"{host}/30", "dev", ns.host_if)
        ip("link", "set", ns.host_if, "up")
        ip("-n", ns.name, "addr", "add", f"{inner}/30", "dev", ns.ns_if)
        ip("-n", ns.name, "link", "set", ns.ns_if, "up")
        ip("-n", ns.name, "link", "set", "lo", "up")
        wait_until(ns.linked, timeout=10, what=f"{ns.name} link up")
        return ns

    def close(self) -> None:
        """close removes every namespace and veth pair made here; idempotent.

        Run it once the processes inside have exited: a namespace lives on while a
        process is in it (the veth pair is deleted here all the same).
        """
        while self.made:
            ns = self.made.pop()
            ip("link", "del", ns.host_if, check=False)
            ip("netns", "del", ns.name, check=False)


def _free_subnet(seed: int) -> ipaddress.IPv4Network:
    """_free_subnet is a /30 of NETWORK that no interface of the root namespace uses."""
    used = ip("-o", "-4", "addr", "show").stdout
    subnets = list(NETWORK.subnets(new_prefix=30))
    for step in range(len(subnets)):
        candidate = subnets[(seed + step * 7919) % len(subnets)]
        if f" {candidate.network_address + 1}/" not in used:
            return candidate
    raise RuntimeError(f"no free /30 left in {NETWORK}")


def remove_stale() -> None:
    """remove_stale deletes namespaces (and their veths) of test processes that are gone."""
    listed = ip("netns", "list", check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ", 1)[0]
        digits = name[len(PREFIX) :].split("x", 1)[0]
        if name.startswith(PREFIX) and digits.isdigit() and not exists(int(digits)):
            ip("link", "del", f"{name}h", check=False)
            ip("netns", "del", name, check=False)
