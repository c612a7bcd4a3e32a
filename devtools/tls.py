"""A throw-away certificate authority for the secured dev broker (openssl):
a CA, a broker certificate for 127.0.0.1/localhost, and client certificates
whose CN is the principal (User:<CN> with the broker's mapping rule)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class TlsError(Exception):
    pass


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise TlsError("openssl is not on PATH; install it (apt-get install openssl)")
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TlsError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")


def make_ca(directory: Path) -> Path:
    """ca.pem (and its key), once."""
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "ca.pem").exists():
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=cdp-triggers dev CA",
            cwd=directory,
        )
    return directory / "ca.pem"


def issue(directory: Path, name: str, *, server: bool) -> tuple[Path, Path]:
    """<name>.pem (certificate) and <name>.key (PKCS#8, unencrypted), signed by the CA, once."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    if cert.exists() and key.exists():
        return cert, key
    ext = directory / f"{name}.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        if server
        else "extendedKeyUsage=clientAuth\n"
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key.name,
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={name}",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        cert.name,
        "-days",
        "30",
        "-extfile",
        ext.name,
        cwd=directory,
    )
    key.chmod(0o600)
    return cert, key


def keystore(directory: Path, name: str) -> Path:
    """The PEM keystore Kafka reads: the private key, then the certificate."""
    cert, key = issue(directory, name, server=True)
    store = directory / f"{name}.keystore.pem"
    store.write_text(key.read_text() + cert.read_text())
    store.chmod(0o600)
    return store
