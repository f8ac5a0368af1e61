"""Servicers for capabilities this build does not have yet.

Every RPC of the contract is served; one whose capability has not landed
answers UNIMPLEMENTED naming that capability — never a fake success.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from ferry.errors import Unimplemented


def unimplemented_servicer(base: type, service: ServiceDescriptor, capability: str) -> Any:
    """unimplemented_servicer returns an instance of ``base`` whose every RPC is UNIMPLEMENTED."""
    methods: dict[str, Any] = {}
    for method in service.methods:
        what = f"{service.full_name}/{method.name} ({capability})"
        methods[method.name] = _streaming(what) if method.server_streaming else _unary(what)
    return type(f"Unimplemented{service.name}", (base,), methods)()


def _unary(what: str) -> Any:
    async def rpc(self: Any, request: Any, context: Any) -> Any:
        raise Unimplemented(what)

    return rpc


def _streaming(what: str) -> Any:
    async def rpc(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        raise Unimplemented(what)
        yield  # pragma: no cover — makes this an async generator

    return rpc
