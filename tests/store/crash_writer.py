"""A writer process for the crash test: bulk batches until it is killed.

``python -m tests.store.crash_writer URL INDEX DOCS_PER_BATCH`` writes batch
0, 1, 2, ... of DOCS_PER_BATCH documents each, every document carrying its
batch number, and prints ``start k`` before and ``done k`` after batch k.
"""

from __future__ import annotations

import asyncio
import sys

from ferry.store import IndexOp, open_store

MAX_BATCHES = 10_000


def batch_ops(batch: int, size: int) -> list[IndexOp]:
    """batch_ops is batch ``batch``: ids b<batch>-<i>, each source naming its batch."""
    return [
        IndexOp(f"b{batch}-{i}", {"batch": batch, "i": i, "pad": "p" * 200}) for i in range(size)
    ]


async def main(url: str, index: str, size: int) -> None:
    async with open_store(url) as store:
        for batch in range(MAX_BATCHES):
            ops = batch_ops(batch, size)
            print(f"start {batch}", flush=True)
            await store.bulk(index, ops)
            print(f"done {batch}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
