"""``ferry backup DIR`` and ``ferry restore DIR``: a cluster's etcd keys and index store.

Both talk to etcd and the store directly (not to a coordinator). Settings come
from flags, else ``FERRY_ETCD_ENDPOINTS``, ``FERRY_ETCD_PREFIX`` and
``FERRY_STORE_URL`` as for the services, else ``--data-dir``: the data
directory of ``ferry up`` (its embedded etcd and SQLite store). Restoring into
a ``ferry up`` data directory starts its embedded etcd for the time of the
restore when it is not running. See docs/backup.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from ferry.backup import Manifest, backup, read_verified, restore
from ferry.cli.client import CommandError, usage_error
from ferry.cli.serve import add_etcd_flags, add_store_flag
from ferry.config import BackupConfig, load
from ferry.errors import FerryError
from ferry.etcd import EmbeddedEtcd


def _flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the backup directory")
    add_etcd_flags(parser)
    add_store_flag(parser)
    parser.add_argument(
        "--data-dir",
        help="a `ferry up` data directory: its embedded etcd and store unless flags say otherwise",
    )


def _config(args: argparse.Namespace, up_etcd: EmbeddedEtcd | None) -> BackupConfig:
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(BackupConfig)}
    if up_etcd:
        flags["etcd_endpoints"] = up_etcd.endpoint
    if args.data_dir and not flags["store_url"]:
        from ferry.cli.up import default_store_url

        flags["store_url"] = default_store_url(Path(args.data_dir).resolve())
    try:
        return load(BackupConfig, flags=flags, env=os.environ)
    except FerryError as exc:
        raise usage_error(exc.message) from exc


def _up_etcd(args: argparse.Namespace, *, create: bool) -> EmbeddedEtcd | None:
    """_up_etcd is the embedded etcd of the ``ferry up`` data dir of --data-dir (created
    when restoring), unless --etcd-endpoints names another."""
    if not args.data_dir or args.etcd_endpoints:
        return None
    from ferry.cli.up import embedded_etcd

    data_dir = Path(args.data_dir).resolve()
    if not create and not (data_dir / "etcd" / "ports.json").exists():
        raise usage_error(f"{data_dir} holds no etcd of `ferry up`")
    return embedded_etcd(data_dir)


def _run(work: Callable[[], Coroutine[Any, Any, Manifest]], done: str) -> int:
    try:
        manifest = asyncio.run(work())
    except FerryError as exc:
        raise CommandError(f"error: {exc.message}") from exc
    except OSError as exc:  # the backup directory: permissions, a full disk
        raise CommandError(f"error: {exc}") from exc
    docs = sum(i.docs for i in manifest.store.indices)
    print(
        f"{done}: etcd revision {manifest.etcd_revision}, {manifest.etcd_keys} keys under "
        f"{manifest.etcd_prefix}/ ({manifest.etcd_leased_keys_skipped} lease-bound left out); "
        f"{manifest.store.kind} store, {len(manifest.store.indices)} indices, {docs} documents"
    )
    return 0


def _backup(args: argparse.Namespace) -> int:
    config = _config(args, _up_etcd(args, create=False))
    return _run(lambda: backup(config, args.dir), f"backed up into {args.dir}")


def _restore(args: argparse.Namespace) -> int:
    etcd = _up_etcd(args, create=True)
    config = _config(args, etcd)
    if etcd is not None:
        if etcd.healthy():
            etcd = None  # already running: restore into it, leave it running
        else:
            try:
                etcd.start()
            except FerryError as exc:
                raise CommandError(f"error: {exc.message}") from exc
    try:
        return _run(lambda: restore(config, args.dir, force=args.force), f"restored {args.dir}")
    finally:
        if etcd is not None:
            etcd.stop()


def _show(args: argparse.Namespace) -> int:
    try:
        manifest = read_verified(Path(args.dir))
    except FerryError as exc:
        raise CommandError(f"error: {exc.message}") from exc
    print(json.dumps(json.loads(manifest.to_json()), indent=2))
    return 0


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``backup`` and ``restore`` to the ``ferry`` parser."""
    p = subparsers.add_parser(
        "backup",
        help="back up the cluster: etcd snapshot, Ferry's keys and the index store",
        description="Write a backup of the cluster into DIR (absent or empty). Safe while "
        "the cluster runs: syncs go on, and resume from their checkpoints after a restore.",
    )
    _flags(p)
    p.set_defaults(func=_backup)
    p = subparsers.add_parser(
        "restore",
        help="restore a backup into a fresh cluster (its services stopped)",
        description="Verify DIR's checksums, then load its keys into an empty etcd prefix and "
        "its store copy into an empty store. Start the services afterwards.",
    )
    _flags(p)
    p.add_argument(
        "--force", action="store_true", help="replace whatever the prefix and the store hold"
    )
    p.set_defaults(func=_restore)
    p = subparsers.add_parser(
        "backup-check",
        help="verify a backup's checksums and print its manifest",
    )
    p.add_argument("dir", metavar="DIR", help="the backup directory")
    p.set_defaults(func=_show)
