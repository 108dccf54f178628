"""The broker's TLS material: a private CA and a server certificate it signs.

A milk association runs its own small CA: the stations trust exactly this
CA (not the whole public web PKI), and no outside service is needed on a
network that may have no internet. Keys are EC P-256 (fast on a Pi, small).
"""

from __future__ import annotations

import ipaddress
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "milk-collection"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key, mode: int = 0o600) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)


def _load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def alt_names(names: list[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses for the certificate's subjectAltName."""
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def make_ca(out: Path, *, days: int = 3650, now: datetime | None = None) -> None:
    """A CA key and self-signed certificate in `out` (kept when present)."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / CA_CERT).exists() and (out / CA_KEY).exists():
        return
    now = now or datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("milk-collection CA")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_key(out / CA_KEY, key)
    (out / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_server_cert(out: Path, names: list[str], *, days: int = 825,
                     now: datetime | None = None) -> None:
    """The broker's key and certificate for `names` (host names and IPs), signed by the CA in `out`."""
    now = now or datetime.now(timezone.utc)
    ca_key = _load_key(out / CA_KEY)
    ca_cert = x509.load_pem_x509_certificate((out / CA_CERT).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt_names(names)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(out / SERVER_KEY, key, 0o640)     # group `mosquitto` reads it (docs/security.md)
    (out / SERVER_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def certificate_names(path: Path) -> list[str]:
    """The subjectAltName entries of a certificate, as text (for messages and tests)."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + \
        [str(v) for v in san.get_values_for_type(x509.IPAddress)]
