"""A private CA and a server certificate for the sandbox's HTTPS endpoints.

EKS hands clients a cluster CA (base64 in DescribeCluster) and serves the API under a
certificate it signed; the sandbox does the same so that kubectl, helm and the Python
client verify TLS exactly as they would against a real cluster, with no "insecure" flag.
The files are made once per sandbox directory and reused, so a kubeconfig written earlier
stays valid across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_NAME = "ca.pem"
_CA_KEY_NAME = "ca.key"
_CERT_NAME = "server.pem"
_KEY_NAME = "server.key"
_VALIDITY = dt.timedelta(days=365)
# Renew a little before expiry so a long-lived sandbox directory never serves a dead cert.
_RENEW_MARGIN = dt.timedelta(days=7)


@dataclass(frozen=True)
class CertPaths:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def ensure_certificates(
    cert_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> CertPaths:
    """Return the CA and server certificate in ``cert_dir``, making them if missing or stale.

    The server certificate is remade (under the same CA) when it does not cover ``hosts``
    or is close to expiry; the CA is kept so that clients trusting it keep working.
    """
    cert_dir.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(cert_dir / _CA_NAME, cert_dir / _CERT_NAME, cert_dir / _KEY_NAME)
    ca_key_path = cert_dir / _CA_KEY_NAME
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = _load_ca(paths.ca_pem, ca_key_path, now)
    if ca_cert is None or ca_key is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key, now)
        _write(ca_key_path, _key_bytes(ca_key), private=True)
        _write(paths.ca_pem, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
        _remove(paths.cert_pem)
    if not _server_cert_ok(paths, ca_cert, hosts, now):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _make_server_cert(key, ca_cert, ca_key, hosts, now)
        _write(paths.key_pem, _key_bytes(key), private=True)
        _write(paths.cert_pem, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return paths


def host_certificate(cert_dir: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` (a DNS name the sandbox stands in for, such as a chart
    repository's), signed by the sandbox's CA; (certificate, key). Made on every call."""
    ensure_certificates(cert_dir)
    ca_cert, ca_key = _load_ca(
        cert_dir / _CA_NAME, cert_dir / _CA_KEY_NAME, dt.datetime.now(dt.UTC)
    )
    if ca_cert is None or ca_key is None:
        raise ValueError(f"the sandbox CA in {cert_dir} cannot be read")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _make_server_cert(key, ca_cert, ca_key, (host,), dt.datetime.now(dt.UTC), subject=host)
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    cert_path, key_path = cert_dir / f"host-{safe}.pem", cert_dir / f"host-{safe}.key"
    _write(key_path, _key_bytes(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return cert_path, key_path


# Where Linux distributions keep the system's trusted CAs, first found wins.
_SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # macOS, Alpine
)


def trust_bundle(cert_dir: Path) -> Path:
    """``DIR/certs/trust.pem``: the system's trusted CAs plus the sandbox CA, for
    ``SSL_CERT_FILE`` (Go's TLS on Linux and OpenSSL both read it), so tools verify the hosts
    the sandbox stands in for without an "insecure" flag and still trust everything else."""
    import ssl

    paths = ensure_certificates(cert_dir)
    candidates = [ssl.get_default_verify_paths().cafile, *_SYSTEM_BUNDLES]
    system = b""
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            system = Path(candidate).read_bytes()
            break
    bundle = cert_dir / "trust.pem"
    data = system.rstrip(b"\n") + b"\n" if system else b""
    _write(bundle, data + paths.ca_pem.read_bytes(), private=False)
    return bundle


def _load_ca(
    ca_path: Path, key_path: Path, now: dt.datetime
) -> tuple[x509.Certificate | None, ec.EllipticCurvePrivateKey | None]:
    if not ca_path.exists() or not key_path.exists():
        return None, None
    try:
        cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError:
        return None, None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None, None
    if cert.not_valid_after_utc - _RENEW_MARGIN < now:
        return None, None
    return cert, key


def _server_cert_ok(
    paths: CertPaths, ca_cert: x509.Certificate, hosts: tuple[str, ...], now: dt.datetime
) -> bool:
    if not paths.cert_pem.exists() or not paths.key_pem.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.cert_pem.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - _RENEW_MARGIN < now:
        return False
    covered = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    covered.update(san.get_values_for_type(x509.DNSName))
    return all(host in covered for host in hosts)


def _make_ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flexmigrate-sandbox-ca")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY * 5)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_server_cert(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: tuple[str, ...],
    now: dt.datetime,
    *,
    subject: str = "kube-apiserver",
) -> x509.Certificate:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
