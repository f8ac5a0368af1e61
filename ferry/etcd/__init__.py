"""Ferry's etcd vocabulary: sessions, elections, fenced claims and the key layout.

Nothing outside this package talks to etcd's concurrency primitives directly
or spells a key by hand.
"""

from ferry.etcd.claim import Claim, ClaimTaken, acquire, holder
from ferry.etcd.client import (
    CONNECTIVITY_ERRORS,
    EtcdStatus,
    cancel_watch,
    connect,
    parse_endpoints,
    probe,
)
from ferry.etcd.election import Election, Leader, NotLeader, current_leader, observe_leader
from ferry.etcd.embedded import EmbeddedEtcd, free_port
from ferry.etcd.keys import Keys, prefix_end
from ferry.etcd.session import Session

__all__ = [
    "CONNECTIVITY_ERRORS",
    "Claim",
    "ClaimTaken",
    "Election",
    "EmbeddedEtcd",
    "EtcdStatus",
    "Keys",
    "Leader",
    "NotLeader",
    "Session",
    "acquire",
    "cancel_watch",
    "connect",
    "current_leader",
    "free_port",
    "holder",
    "observe_leader",
    "parse_endpoints",
    "prefix_end",
    "probe",
]
