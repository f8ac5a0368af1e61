"""settings: is a ``ferry`` command line, with its FERRY_* variables, one Ferry accepts?

Used on every Ferry container of deploy/k8s and every Ferry service of deploy/compose.yaml,
so a misspelt flag or variable fails a test instead of being ignored at run time
(ferry.config reads only the variables of settings that exist).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import re
from collections.abc import Iterable, Sequence

import ferry.config
from ferry.cli.main import build_parser

ROLE_CONFIGS = {
    "coordinator": "CoordinatorConfig",
    "agent": "AgentConfig",
    "replicator": "ReplicatorConfig",
    "backup": "BackupConfig",
}
# FERRY_* variables read outside ferry.config: plugins to load, and the CLI's coordinator.
OTHER_VARIABLES = {
    "FERRY_CONNECTOR_PLUGINS": "ferry/connectors/registry.py",
    "FERRY_COORDINATOR": "ferry/cli/main.py",
}
VAR_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def commands() -> set[str]:
    """commands are the ``ferry`` subcommands of this tree."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def variables(role: str) -> set[str]:
    """variables are the FERRY_* names the settings of ``role`` are read from."""
    config = getattr(ferry.config, ROLE_CONFIGS[role])
    names = {f"FERRY_{f.name.upper()}" for f in dataclasses.fields(config)}
    return names | set(OTHER_VARIABLES)


def problems(args: Sequence[str], env_names: Iterable[str]) -> list[str]:
    """problems are what is wrong with ``ferry ARGS`` run with these variables: an unknown
    command or flag, a bad flag value, or a FERRY_* variable that is no setting of the
    command. Kubernetes' $(VAR) references count as plain words."""
    found = []
    words = [VAR_REF.sub("x", a) for a in args]
    if not words or words[0] not in ROLE_CONFIGS:
        return [f"{list(args)}: not a Ferry service or backup command"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(words)
        except SystemExit:
            found.append(f"ferry {' '.join(args)}: {err.getvalue().strip().splitlines()[-1]}")
    known = variables(words[0])
    found += [
        f"{name} is no setting of `ferry {words[0]}`"
        for name in env_names
        if name.startswith("FERRY_") and name not in known
    ]
    return found
