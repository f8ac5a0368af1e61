"""A process that holds one etcd Session and reports its events as JSON lines.

Run by test_session_pause.py, which SIGSTOPs it: on SIGCONT it must report the
session lost (its local deadline passed) without renewing the lease.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from ferry import etcd


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, "at": time.time(), **fields}), flush=True)


async def main(endpoint: str, ttl: float) -> None:
    client = etcd.connect(endpoint)
    session = await etcd.Session(
        client, ttl=ttl, on_renewal=lambda latency: emit("renewed", latency=latency)
    ).start()
    emit("started", lease_id=session.lease_id, deadline=session.deadline)
    await session.done.wait()
    emit("lost", reason=session.lost_reason, lease_id=session.lease_id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
