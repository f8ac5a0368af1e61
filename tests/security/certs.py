"""Certificates for TLS tests: a CA, and server and client certificates it signs.

Written as PEM files (the form Ferry reads); server certificates name
127.0.0.1 and localhost, which is what the tests dial.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pair:
    """Pair is a certificate file and its key file."""

    cert: Path
    key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Authority:
    """Authority is a throwaway CA under ``directory`` that issues certificates."""

    def __init__(self, directory: Path, name: str = "ferry-test-ca") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.name = name
        self._key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert = directory / f"{name}.pem"
        self.cert.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, *, into: Pair | None = None) -> Pair:
        """issue signs a certificate for ``common_name`` usable by servers on 127.0.0.1 and
        localhost and by clients; ``into`` overwrites an earlier pair's files (a renewal)."""
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        pair = into or Pair(
            self.directory / f"{common_name}.pem", self.directory / f"{common_name}-key.pem"
        )
        # Key first: a reader that sees the new certificate must not pair it with the old key.
        tmp_key, tmp_cert = pair.key.with_suffix(".tmp-key"), pair.cert.with_suffix(".tmp-cert")
        _write_key(key, tmp_key)
        tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tmp_key.replace(pair.key)
        tmp_cert.replace(pair.cert)
        return pair


def common_name(pem: bytes) -> str:
    """common_name is the subject CN of a PEM or DER certificate."""
    cert = (
        x509.load_pem_x509_certificate(pem)
        if pem.startswith(b"-----")
        else x509.load_der_x509_certificate(pem)
    )
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
