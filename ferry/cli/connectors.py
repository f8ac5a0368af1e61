"""``ferry connectors ...``: create, inspect and steer connectors through the coordinator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ferry.cli import output
from ferry.cli.client import (
    EXIT_FAILURE,
    EXIT_OK,
    Coordinator,
    RpcFailed,
    add_command,
    client_command,
    usage_error,
)
from ferry.errors import InvalidArgument
from ferry.specs import SpecEntry, load_specs
from ferry.v1 import connectors_pb2 as pb

_SPEC_FILE_HELP = (
    "YAML or JSON file with one connector, a list, several documents or {connectors: [...]}; "
    "each entry is a ConnectorSpec plus an optional state (running, paused, stopped)"
)


def add_commands(subparsers: Any) -> None:
    """add_commands adds ``connectors`` and its subcommands to the ``ferry`` parser."""
    text = "create, inspect and steer connectors through the coordinator"
    group = subparsers.add_parser("connectors", help=text, description=text)
    verbs = group.add_subparsers(dest="connectors_command", metavar="COMMAND", required=True)
    one = "one Connector object"
    validated = 'an array of {"name", "valid", "errors": [{"field", "description"}]}'

    p = add_command(verbs, "create", "create every connector in a spec file")
    p.add_argument("-f", "--file", required=True, help=_SPEC_FILE_HELP)
    p.add_argument("--dry-run", action="store_true", help="only validate each spec (as validate)")
    output.add_output_option(p, f"an array of the created Connectors; with --dry-run {validated}")
    p.set_defaults(func=client_command(_create))

    p = add_command(verbs, "list", "list connectors", json_shape="an array of Connector")
    p.add_argument("--type", default="", help="only connectors of this type")
    p.set_defaults(func=client_command(_list))

    p = add_command(verbs, "get", "show one connector", json_shape=one)
    p.add_argument("name")
    p.set_defaults(func=client_command(_get))

    text = "replace the spec of every connector in a file (its state is left as it is)"
    p = add_command(verbs, "update", text, json_shape="an array of the updated Connectors")
    p.add_argument("-f", "--file", required=True, help=_SPEC_FILE_HELP + "; state is ignored")
    p.add_argument(
        "--revision",
        type=int,
        default=0,
        help="expected revision (file must hold one connector); a stale one fails with ABORTED",
    )
    p.set_defaults(func=client_command(_update))

    p = add_command(verbs, "delete", "delete a connector")
    p.add_argument("name")
    p.add_argument("--revision", type=int, default=0, help="delete only at this revision")
    p.set_defaults(func=client_command(_delete))

    for verb, text in (
        ("pause", "keep a connector's tasks assigned but idle (persistent)"),
        ("resume", "let a paused or stopped connector run again"),
        ("stop", "release every task of a connector; its checkpoints stay"),
    ):
        p = add_command(verbs, verb, text, json_shape=one)
        p.add_argument("name")
        p.set_defaults(func=client_command(_set_state), verb=verb)

    text = "restart a connector's tasks"
    p = add_command(verbs, "restart", text, json_shape="one RestartConnectorResponse object")
    p.add_argument("name")
    p.add_argument("--only-failed", action="store_true", help="restart failed tasks only")
    p.set_defaults(func=client_command(_restart))

    text = "list connector types and their config fields (* marks a required field)"
    p = add_command(verbs, "types", text, json_shape="an array of ConnectorType")
    p.set_defaults(func=client_command(_types))

    text = "check every spec in a file without storing it; exit status 1 if one is invalid"
    p = add_command(verbs, "validate", text, json_shape=validated)
    p.add_argument("-f", "--file", required=True, help=_SPEC_FILE_HELP)
    p.set_defaults(func=client_command(_validate))


def _read_specs(path: str) -> list[SpecEntry]:
    """_read_specs loads a spec file; an unreadable or malformed one is a usage error."""
    try:
        entries = load_specs(path)
    except InvalidArgument as exc:
        raise usage_error(exc.message) from None
    if not entries:
        raise usage_error(f"{path} holds no connectors")
    return entries


async def _create(coordinator: Coordinator, args: argparse.Namespace) -> int:
    if args.dry_run:
        return await _validate(coordinator, args)
    return await _each_spec(
        coordinator,
        args,
        _read_specs(args.file),
        coordinator.connectors.Create,
        lambda entry: pb.CreateConnectorRequest(spec=entry.spec, initial_state=entry.state),
        "created",
    )


async def _each_spec(
    coordinator: Coordinator,
    args: argparse.Namespace,
    entries: list[SpecEntry],
    rpc: Any,
    request: Callable[[SpecEntry], Any],
    verb: str,
) -> int:
    """_each_spec sends one request per spec; one rejected spec does not stop the others."""
    done: list[pb.Connector] = []
    failed = False
    for entry in entries:
        try:
            connector = await coordinator.call(rpc, request(entry))
        except RpcFailed as exc:
            # An unreachable coordinator still stops the whole command (not RpcFailed).
            _error(exc.describe(entry.spec.name))
            failed = True
            continue
        done.append(connector)
        if not output.wants_json(args):
            print(_summary(connector, verb))
    if output.wants_json(args):
        output.print_messages(done)
    return EXIT_FAILURE if failed else EXIT_OK


async def _list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    connectors: list[pb.Connector] = await coordinator.all_pages(
        coordinator.connectors.List,
        lambda token: pb.ListConnectorsRequest(type=args.type, page_token=token),
        lambda page: page.connectors,
    )
    if output.wants_json(args):
        output.print_messages(connectors)
        return EXIT_OK
    rows = [
        (
            c.spec.name,
            c.spec.type,
            c.spec.index,
            output.enum_label(pb.ConnectorState, c.state),
            c.spec.tasks_max,
            c.revision,
        )
        for c in connectors
    ]
    print(output.table(["NAME", "TYPE", "INDEX", "STATE", "TASKS_MAX", "REVISION"], rows))
    return EXIT_OK


async def _get(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.GetConnectorRequest(name=args.name)
    connector = await coordinator.call(coordinator.connectors.Get, request)
    output.print_message(args, connector, describe(connector))
    return EXIT_OK


def describe(connector: pb.Connector) -> str:
    """describe is a connector as a ``key: value`` block; config and rules as one-line JSON."""
    spec = connector.spec
    memory = spec.memory_limit_bytes or "agent default"
    return output.key_values(
        [
            ("name", spec.name),
            ("type", spec.type),
            ("index", spec.index),
            ("state", output.enum_label(pb.ConnectorState, connector.state)),
            ("revision", connector.revision),
            ("tasks_max", spec.tasks_max),
            ("agent_selector", output.labels(spec.agent_selector)),
            ("schedule.full", spec.schedule.full),
            ("schedule.incremental", spec.schedule.incremental),
            ("isolation", output.enum_label(pb.Isolation, spec.isolation)),
            ("memory_limit_bytes", memory),
            ("created", _time(connector, "create_time")),
            ("updated", _time(connector, "update_time")),
            ("config", output.compact_json(spec.config)),
            ("rules", output.compact_json(spec.rules) if spec.HasField("rules") else ""),
            (
                "error_policy",
                output.compact_json(spec.error_policy) if spec.HasField("error_policy") else "",
            ),
        ]
    )


def _time(connector: pb.Connector, field: str) -> str:
    return getattr(connector, field).ToJsonString() if connector.HasField(field) else ""


async def _update(coordinator: Coordinator, args: argparse.Namespace) -> int:
    entries = _read_specs(args.file)
    if args.revision and len(entries) != 1:
        raise usage_error(
            f"--revision needs one connector in the file; {args.file} has {len(entries)}"
        )
    return await _each_spec(
        coordinator,
        args,
        entries,
        coordinator.connectors.Update,
        lambda entry: pb.UpdateConnectorRequest(spec=entry.spec, expected_revision=args.revision),
        "updated",
    )


async def _delete(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.DeleteConnectorRequest(name=args.name, expected_revision=args.revision)
    await coordinator.call(coordinator.connectors.Delete, request)
    print(f"{args.name} deleted")
    return EXIT_OK


async def _set_state(coordinator: Coordinator, args: argparse.Namespace) -> int:
    stub = coordinator.connectors
    if args.verb == "pause":
        connector = await coordinator.call(stub.Pause, pb.PauseConnectorRequest(name=args.name))
    elif args.verb == "resume":
        connector = await coordinator.call(stub.Resume, pb.ResumeConnectorRequest(name=args.name))
    else:
        connector = await coordinator.call(stub.Stop, pb.StopConnectorRequest(name=args.name))
    output.print_message(args, connector, _summary(connector, _DONE[args.verb]))
    return EXIT_OK


async def _restart(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.RestartConnectorRequest(name=args.name, only_failed=args.only_failed)
    response = await coordinator.call(coordinator.connectors.Restart, request)
    if output.wants_json(args):
        output.print_json(output.to_json(response))
    else:
        ids = list(response.restarted_task_ids)
        print(f"{args.name}: restarted {len(ids)} task(s){': ' + ', '.join(ids) if ids else ''}")
    return EXIT_OK


async def _types(coordinator: Coordinator, args: argparse.Namespace) -> int:
    request = pb.ListConnectorTypesRequest()
    response = await coordinator.call(coordinator.connectors.ListTypes, request)
    if output.wants_json(args):
        output.print_messages(response.types)
        return EXIT_OK
    rows = [
        (
            t.name,
            "yes" if t.incremental else "no",
            output.join((f.name + ("*" if f.required else "") for f in t.fields), ", "),
            t.description,
        )
        for t in response.types
    ]
    print(output.table(["TYPE", "INCREMENTAL", "FIELDS", "DESCRIPTION"], rows))
    return EXIT_OK


async def _validate(coordinator: Coordinator, args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    for entry in _read_specs(args.file):
        request = pb.ValidateConnectorRequest(spec=entry.spec)
        response = await coordinator.call(coordinator.connectors.Validate, request)
        errors = [output.to_json(e) for e in response.errors]
        results.append({"name": entry.spec.name, "valid": response.valid, "errors": errors})
        if not output.wants_json(args):
            print(f"{entry.spec.name}: {'valid' if response.valid else 'invalid'}")
            for e in response.errors:
                print(f"  {e.field}: {e.description}")
    if output.wants_json(args):
        output.print_json(results)
    return EXIT_OK if all(r["valid"] for r in results) else EXIT_FAILURE


_DONE = {"pause": "paused", "resume": "resumed", "stop": "stopped"}


def _summary(connector: pb.Connector, done: str) -> str:
    state = output.enum_label(pb.ConnectorState, connector.state)
    return f"{connector.spec.name} {done} (state {state}, revision {connector.revision})"


def _error(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)
