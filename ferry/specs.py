"""Connector spec files: YAML (or JSON) documents in the API's ConnectorSpec shape.

One file may hold one spec, a list of specs, several YAML documents, or a
mapping ``{connectors: [...]}``. Each spec may carry ``state`` (running,
paused, stopped). Used by ``ferry connectors create -f`` and by the
coordinator's declarative ``--connectors-file``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from ferry.errors import InvalidArgument
from ferry.v1 import connectors_pb2 as pb

_SURROGATE = re.compile("[\ud800-\udfff]")
_STATES = {
    "running": pb.CONNECTOR_STATE_RUNNING,
    "paused": pb.CONNECTOR_STATE_PAUSED,
    "stopped": pb.CONNECTOR_STATE_STOPPED,
}


@dataclass(frozen=True)
class SpecEntry:
    """SpecEntry is one connector of a file with the state it should be in."""

    spec: pb.ConnectorSpec
    state: pb.ConnectorState


MAX_NESTING = 64
"""MAX_NESTING bounds how deeply a connector file may nest collections: PyYAML composes
them recursively, so a deeper file is refused before it is composed."""

_OPENS = (yaml.tokens.FlowSequenceStartToken, yaml.tokens.FlowMappingStartToken,
          yaml.tokens.BlockSequenceStartToken, yaml.tokens.BlockMappingStartToken)  # fmt: skip
_CLOSES = (yaml.tokens.FlowSequenceEndToken, yaml.tokens.FlowMappingEndToken,
           yaml.tokens.BlockEndToken)  # fmt: skip


def _too_deep(text: str) -> bool:
    """_too_deep says text nests collections past MAX_NESTING (the scanner does not recurse)."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENS):
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif isinstance(token, _CLOSES):
            depth -= 1
    return False


def parse_specs(text: str, *, source: str = "<input>") -> list[SpecEntry]:
    """parse_specs reads every connector spec in text; errors name the entry and field."""
    try:
        if _too_deep(text):
            raise InvalidArgument.field(
                "file", f"{source} nests collections deeper than {MAX_NESTING} levels"
            )
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidArgument.field("file", f"{source} is not valid YAML: {exc}") from exc
    except RecursionError:  # PyYAML composes nested collections recursively
        raise InvalidArgument.field("file", f"{source} nests collections too deeply") from None
    items: list[Any] = []
    for doc in documents:
        if isinstance(doc, dict) and set(doc) == {"connectors"}:
            doc = doc["connectors"] or []
        items.extend(doc if isinstance(doc, list) else [doc])
    entries: list[SpecEntry] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        where = f"connectors[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument.field(where, f"{source}: each connector must be a mapping")
        item = _unicode(item, where)
        state_name = str(item.pop("state", "running")).lower()
        if state_name not in _STATES:
            raise InvalidArgument.field(f"{where}.state", f"must be one of {', '.join(_STATES)}")
        spec = pb.ConnectorSpec()
        try:
            json_format.ParseDict(item, spec)
        except json_format.ParseError as exc:
            raise InvalidArgument.field(where, f"{source}: {exc}") from exc
        except OverflowError as exc:  # a YAML integer past any double, in a Struct
            raise InvalidArgument.field(where, f"{source}: a number is too large: {exc}") from exc
        if spec.name in names:
            raise InvalidArgument.field(f"{where}.name", f"{spec.name!r} appears twice in {source}")
        names.add(spec.name)
        entries.append(SpecEntry(spec, _STATES[state_name]))
    return entries


def _unicode(value: Any, where: str) -> Any:
    """_unicode is value with every string made proper Unicode text.

    PyYAML reads a JSON escape of a character beyond U+FFFF ("\\ud83d\\ude00")
    as two UTF-16 surrogates; they are joined here. A lone surrogate cannot be
    encoded at all, so it is refused naming where it is.
    """
    if isinstance(value, str):
        return _text(value, where)
    if isinstance(value, list):
        return [_unicode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        joined: dict[Any, Any] = {}
        for key, item in value.items():
            key = _unicode(key, where)
            joined[key] = _unicode(item, f"{where}.{key}")
        return joined
    return value


def _text(text: str, where: str) -> str:
    if not _SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise InvalidArgument.field(
            where, "holds a lone UTF-16 surrogate, not Unicode text"
        ) from None


def load_specs(path: str | Path) -> list[SpecEntry]:
    """load_specs reads a spec file from disk."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidArgument.field("file", f"cannot read {path}: {exc}") from exc
    return parse_specs(text, source=str(path))


def state_name(state: pb.ConnectorState) -> str:
    """state_name is the short lower-case name of a ConnectorState."""
    for name, value in _STATES.items():
        if value == state:
            return name
    return "unspecified"
