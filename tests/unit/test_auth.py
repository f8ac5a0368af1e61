"""Roles per RPC, the tokens file, bearer headers and the TLS settings' errors."""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from pathlib import Path

import pytest

import ferry.v1
from ferry import auth, reload
from ferry.auth import Role
from ferry.config import AgentConfig, load
from ferry.errors import InvalidArgument, PermissionDenied, Unauthenticated
from ferry.security import ClientTls, Security
from tests.security.certs import Authority


def _every_method() -> set[str]:
    """_every_method is every RPC of every service in ferry/v1 (found, not listed, so a new
    service cannot be forgotten)."""
    methods = set()
    for info in pkgutil.iter_modules(ferry.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"ferry.v1.{info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                methods.update(f"/{service.full_name}/{m.name}" for m in service.methods)
    return methods


def test_every_rpc_of_every_service_has_a_role_and_no_role_names_a_missing_rpc() -> None:
    every = _every_method()
    assert set(auth.METHOD_ROLES) == every


def test_deleting_and_creating_need_admin_running_needs_operator_reading_viewer() -> None:
    assert auth.required_role("/ferry.v1.Connectors/Delete") is Role.ADMIN
    assert auth.required_role("/ferry.v1.Connectors/Create") is Role.ADMIN
    assert auth.required_role("/ferry.v1.Jobs/Start") is Role.OPERATOR
    assert auth.required_role("/ferry.v1.Connectors/List") is Role.VIEWER
    assert auth.required_role("/ferry.v1.Unknown/Thing") is Role.ADMIN
    assert "/ferry.v1.Connectors/List" in auth.READ_METHODS
    assert "/ferry.v1.Jobs/Start" not in auth.READ_METHODS


def _tokens(tmp_path: Path, text: str) -> auth.TokenFile:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    return auth.TokenFile(path)


def test_check_tells_unknown_callers_from_weak_ones(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"operator-secret-123456").hexdigest()
    tokens = _tokens(
        tmp_path,
        "tokens:\n"
        "  - {name: v, role: viewer, token: viewer-secret-1234567}\n"
        f"  - {{name: o, role: operator, sha256: {digest}}}\n",
    )
    assert auth.check(tokens, "/ferry.v1.Jobs/List", "viewer-secret-1234567").name == "v"
    with pytest.raises(PermissionDenied, match=r"'v' has role viewer; .*needs operator"):
        auth.check(tokens, "/ferry.v1.Jobs/Start", "viewer-secret-1234567")
    assert auth.check(tokens, "/ferry.v1.Jobs/Start", "operator-secret-123456").role is (
        Role.OPERATOR
    )
    with pytest.raises(Unauthenticated, match="needs a bearer token"):
        auth.check(tokens, "/ferry.v1.Jobs/List", "")
    with pytest.raises(Unauthenticated, match="not known"):
        auth.check(tokens, "/ferry.v1.Jobs/List", "operator-secret-12345")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tokens: nope", "auth_tokens_file.tokens"),
        ("tokens: []\nextra: 1", "auth_tokens_file.extra"),
        ("tokens: [{name: a, role: king, token: aaaaaaaaaaaaaaaaaaaa}]", "tokens[0].role"),
        ("tokens: [{name: a, role: viewer, token: short}]", "tokens[0].token"),
        ("tokens: [{name: a, role: viewer}]", "tokens[0]"),
        ("tokens: [{name: a, role: viewer, sha256: abc}]", "tokens[0].sha256"),
        ("tokens: [{role: viewer, token: aaaaaaaaaaaaaaaaaaaa}]", "tokens[0].name"),
        ("tokens: [{name: a, role: viewer, token: aaaaaaaaaaaaaaaaaaaa, colour: red}]",
         "tokens[0].colour"),
        ("tokens:\n - {name: a, role: viewer, token: aaaaaaaaaaaaaaaaaaaa}\n"
         " - {name: a, role: admin, token: bbbbbbbbbbbbbbbbbbbbbb}", "tokens[1].name"),
        ("tokens: [{name: a, role: viewer, token: '${env:FERRY_TEST_UNSET_TOKEN}'}]",
         "tokens[0].token"),
    ],
)  # fmt: skip
def test_a_bad_tokens_file_names_the_entry_and_never_quotes_a_token(
    text: str, field: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgument) as err:
        _tokens(tmp_path, text)
    assert any(v.field == field for v in err.value.violations), err.value.violations
    assert "aaaaaaaaaaaaaaaaaaaa" not in err.value.message


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ([("authorization", "Bearer abc")], "abc"),
        ([("authorization", "bearer  abc ")], "abc"),
        ([("authorization", b"Bearer abc")], "abc"),
        ([("authorization", "Basic abc")], ""),
        ([("x-other", "Bearer abc")], ""),
        (None, ""),
    ],
)
def test_bearer_reads_only_a_bearer_authorization_header(
    metadata: list[tuple[str, object]] | None, token: str
) -> None:
    assert auth.bearer(metadata) == token


def test_tls_settings_that_go_together_are_checked_at_load() -> None:
    with pytest.raises(InvalidArgument) as err:
        load(AgentConfig, flags={"tls_cert_file": "/x.pem"})
    assert err.value.violations[0].field == "tls_key_file"
    with pytest.raises(InvalidArgument) as err:
        load(AgentConfig, flags={"tls_client_ca_file": "/ca.pem"})
    assert err.value.violations[0].field == "tls_cert_file"
    with pytest.raises(InvalidArgument) as err:
        load(AgentConfig, flags={"etcd_key_file": "/k.pem"})
    assert err.value.violations[0].field == "etcd_cert_file"


def test_security_reads_its_files_at_start_naming_the_setting(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")
    with pytest.raises(InvalidArgument) as err:
        Security.from_config(AgentConfig(tls_ca_file=str(not_pem)))
    assert err.value.violations[0].field == "tls_ca_file"
    with pytest.raises(InvalidArgument) as err:
        Security.from_config(AgentConfig(auth_token="${env:FERRY_TEST_UNSET_TOKEN}"))
    assert "FERRY_TEST_UNSET_TOKEN" in err.value.message
    assert Security.from_config(AgentConfig()) == Security()


def test_client_credentials_are_read_once_and_again_when_a_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = Authority(tmp_path)
    pair = ca.issue("client-1")
    tls = ClientTls(str(ca.cert), str(pair.cert), str(pair.key))
    first = tls.credentials()

    monkeypatch.setattr(reload, "RELOAD_CHECK_SECONDS", 0.0)  # look at the files every time
    assert tls.credentials() is first  # unchanged files: nothing read again
    ca.issue("client-2", into=pair)  # renewed in place
    renewed = tls.credentials()
    assert renewed is not first
    assert tls == ClientTls(str(ca.cert), str(pair.cert), str(pair.key))  # the cache is no setting

    monkeypatch.setattr(reload, "RELOAD_CHECK_SECONDS", 3600.0)
    pair.cert.unlink()  # within the check interval no file is even looked at
    assert tls.credentials() is renewed
    monkeypatch.setattr(reload, "RELOAD_CHECK_SECONDS", 0.0)
    # A file gone after a good read keeps the credentials in force, as a server keeps its
    # certificate; a client that never read them is refused, naming the setting.
    assert tls.credentials() is renewed
    with pytest.raises(InvalidArgument) as err:
        ClientTls(str(ca.cert), str(pair.cert), str(pair.key)).credentials()
    assert err.value.violations[0].field == "tls_cert_file"
