"""Key material is left out of folder backups by content as well as by name, and the operator is told.

The backup issue's finding: ``server.pem`` and ``nested/tls-key.pem`` went into folder archives. Real keys are
made here with ``cryptography``: a PEM bundle of certificate and key, a bare PEM key, an OpenSSH key under an
innocent name, a PKCS#12 store under an innocent name; a certificate alone stays in the backup.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import tarfile
from pathlib import Path

import zstandard
from aide_testing import run_aide
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from pytest_aide.backup.folder_source import key_material

KEY_FILES = ["server.pem", "nested/tls-key.pem", "nested/deploy_material", "store.bin", "id_ed25519", "tls.key"]


def make_site(conf: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ssh_key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    (conf / "nested").mkdir(parents=True)
    (conf / "server.pem").write_bytes(cert_pem + key_pem)  # a bundle: harmless by name
    (conf / "nested" / "tls-key.pem").write_bytes(key_pem)
    (conf / "nested" / "deploy_material").write_bytes(ssh_key)
    store = pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.NoEncryption())
    (conf / "store.bin").write_bytes(store)
    (conf / "id_ed25519").write_bytes(ssh_key)
    (conf / "tls.key").write_bytes(key_pem)
    (conf / "cert.pem").write_bytes(cert_pem)
    (conf / "app.ini").write_text("# the key lives in server.pem\nport = 8000\n")


def archived_names(archive: Path) -> set[str]:
    content = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive.read_bytes())).read()
    with tarfile.open(fileobj=io.BytesIO(content)) as tar:
        return {m.name for m in tar.getmembers() if m.isfile()}


def test_keys_are_left_out_listed_and_kept_on_restore(tmp_path: Path) -> None:
    make_site(tmp_path / "conf")
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "conf"\nkind = "folder"\nsource = "conf"\n'
    )
    backup = run_aide(tmp_path, "backup")
    assert backup.returncode == 0, backup.stderr
    (set_dir,) = [d for d in (tmp_path / "backups").iterdir() if (d / "manifest.json").is_file()]

    assert archived_names(set_dir / "conf.tar.zst") == {"app.ini", "cert.pem"}
    entry = json.loads((set_dir / "manifest.json").read_text())["components"][0]
    assert sorted(entry["summary"]["left_out"]) == sorted(KEY_FILES)
    assert "BEGIN" not in (set_dir / "manifest.json").read_text(), "names only, never contents"
    assert "conf: left out 6 secret or key file(s), listed in the manifest" in backup.stdout

    (tmp_path / "conf" / "app.ini").write_text("port = 9000\n")
    restore = run_aide(tmp_path, "restore", set_dir.name, "--yes")
    assert restore.returncode == 0, restore.stderr
    assert (tmp_path / "conf" / "app.ini").read_text().endswith("port = 8000\n")
    for name in KEY_FILES:
        assert (tmp_path / "conf" / name).read_bytes(), f"{name}: the live key is carried over, not deleted"


def test_key_material_by_content(tmp_path: Path) -> None:
    make_site(tmp_path / "conf")
    found = {
        path.relative_to(tmp_path / "conf").as_posix()
        for path in (tmp_path / "conf").rglob("*")
        if path.is_file() and key_material(path)
    }
    assert found == set(KEY_FILES), "every key file, whatever its name"
    note = tmp_path / "README.txt"
    note.write_text("Paste the key (-----BEGIN PRIVATE KEY) into the vault.\n")
    assert key_material(note) is None, "a mention is not a key block"
    os.mkfifo(tmp_path / "fifo")
    assert key_material(tmp_path / "fifo") is None, "a FIFO is neither read nor waited on"
