"""What the local image set is built from: this machine's apt and TLS settings, build contexts as tar
archives, and the digests of their inputs (an image whose label holds the same digest is not rebuilt)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

from chaosgate.errors import StackError

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


# -- the machine's apt and TLS settings ---------------------------------------------------------------


def apt_mirror(root: Path = Path("/")) -> str:
    """The Debian mirror this machine's apt uses (one-line or deb822 sources), else deb.debian.org."""
    files = [root / "etc/apt/sources.list", *sorted((root / "etc/apt/sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in (".list", ".sources", ""):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            match = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line)
            if match:
                return match.group(1)
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, flags=re.M))
            if "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split():
                uris = fields.get("URIs", "").split()
                if uris and "security" not in uris[0]:
                    return uris[0]
    return DEFAULT_MIRROR


def ca_bundle() -> Path:
    """The CA bundle this machine trusts (outbound TLS may be re-signed: the images must trust it too)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StackError("no CA bundle at /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)")


def host_files() -> dict[str, bytes]:
    """What the base image takes from this machine: the CA bundle, apt's sources and settings."""
    files = {"etc/chaosgate/ca-bundle.crt": ca_bundle().read_bytes()}
    apt = Path("/etc/apt")
    for folder, suffixes in (("sources.list.d", (".list", ".sources")), ("apt.conf.d", None)):
        for path in sorted((apt / folder).glob("*")):
            if path.is_file() and (suffixes is None or path.suffix in suffixes):
                files[f"etc/apt/{folder}/{path.name}"] = path.read_bytes()
    if (apt / "sources.list").is_file():
        files["etc/apt/sources.list"] = (apt / "sources.list").read_bytes()
    return files


# -- build contexts and their digests ------------------------------------------------------------------


def digest(*parts: bytes | str) -> str:
    """A short hash of the parts, in order (what an image's inputs label holds)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode() if isinstance(part, str) else part)
        hasher.update(b"\0")
    return hasher.hexdigest()[:16]


def tree(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under `path` (relative name, content), in a stable order."""
    for file in sorted(path.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            yield str(file.relative_to(path)), file.read_bytes()


def flat(files: dict[str, bytes]) -> Iterator[str | bytes]:
    """Names and contents in one sequence, for `digest`."""
    for name, data in files.items():
        yield name
        yield data


def tree_digest(path: Path) -> str:
    return digest(*(part for name, data in tree(path) for part in (name, data)))


def copied_folders(dockerfile: str) -> list[str]:
    """The folders a Dockerfile COPYs from its context (the target's own source)."""
    found = re.findall(r"^\s*COPY\s+(?:--\S+\s+)*(\S+)\s+\S+\s*$", dockerfile, flags=re.M)
    return [path.strip("/") for path in found if not path.startswith("--")]


def context_tar(files: dict[str, bytes]) -> io.BytesIO:
    """A build context as Docker takes it: a tar archive, the same bytes for the same files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith("chaosgate-store") else 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def run_checked(argv: list[str], what: str, timeout: float) -> None:
    """Run a command; a failure or a timeout is a StackError with the end of its output."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} gave no result within {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise StackError(f"{what} failed (exit {done.returncode}):\n{tail}")
