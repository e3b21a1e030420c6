"""The local image set: an image for every role of the compose runtime, built on this machine without
any registry (Debian's packages and PyPI only), and cached in Docker's own image store.

    debootstrap rootfs, cached as a tarball -> chaosgate-local/debian:bookworm (docker import)
      base     deploy/images/base: this machine's CA bundle and apt sources on top
        stores deploy/images/stores: Redis, PostgreSQL, Prometheus -> redis, cockroachdb, cassandra,
               prometheus
        python deploy/images/python: Debian's Python, all dependencies -> minio (moto), toxiproxy (ours)
          target  chaos.yaml's compose.dockerfile, BASE=python -> compose.image, tag `local`

Each image carries a label with the hash of what it is built from; `build` skips every image whose label
matches, so a second build costs a few inspections. Each store runs what the local runtime runs for its
`kind` (redis-server, PostgreSQL, an S3 API), listening on the upstream image's port with its data on
the upstream image's data dir, so the proxies and volumes of docker-compose.yml stay as they are;
`docker-compose.local.yml` (generated beside it, see `override_document`) swaps the images.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosgate import compose
from chaosgate.errors import StackError
from chaosgate.stack.image_context import (
    SUITE,
    apt_mirror,
    context_tar,
    copied_folders,
    digest,
    flat,
    host_files,
    run_checked,
    tree,
    tree_digest,
)
from chaosgate.topology import Store, StoreKind, Topology

REPOSITORY = "chaosgate-local"
TAG = "local"
INPUTS_LABEL = "org.chaosgate.inputs"
ROOTFS_IMAGE = f"{REPOSITORY}/debian:{SUITE}"
CONTEXTS = Path(__file__).resolve().parents[2] / "deploy" / "images"
DEBOOTSTRAP_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 900

Say = Callable[[str], None]


def image(name: str) -> str:
    return f"{REPOSITORY}/{name}:{TAG}"


def target_image(topology: Topology) -> str:
    """The services' image of the local set: compose.image with the tag `local`."""
    assert topology.compose is not None
    repository = re.sub(r":[^:/]+$", "", topology.compose.image)
    return f"{repository}:{TAG}"


# -- what stands in each role -------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalStore:
    """How the local set runs a store of one kind: image, command and health check (in compose terms)."""

    image: str  # stores | python
    command: list[str]
    healthcheck: list[str]
    backend: str  # for reports


def local_store(store: Store, port: int, data_dir: str) -> LocalStore:
    """The local runtime's server for the store's kind, on the upstream's port and data dir."""
    if store.kind is StoreKind.REDIS:
        return LocalStore(
            "stores",
            ["chaosgate-store", "redis", str(port), data_dir],
            ["CMD", "redis-cli", "-p", str(port), "ping"],
            "redis-server (Debian)",
        )
    if store.kind is StoreKind.POSTGRES:
        database = store.database or "postgres"
        return LocalStore(
            "stores",
            ["chaosgate-store", "postgres", str(port), data_dir, database],
            ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database],
            "PostgreSQL (Debian)",
        )
    return LocalStore(
        "python",
        ["python", "-m", "moto.server", "-H", "0.0.0.0", "-p", str(port)],
        ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/')"],
        "S3 API (moto server)",
    )


def role_image(role: str) -> str:
    """Every role gets its own tag, so `docker ps` says what plays what."""
    return image(re.sub(r"[^a-z0-9._-]", "-", role.lower()))


# -- the images ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """One image of the set: its name, whether this build made it, and how long that took."""

    name: str
    built: bool
    seconds: float


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "chaosgate" / "images"


class ImageSet:
    """Builds the local image set for one topology (its store kinds and its services' image)."""

    def __init__(self, topology: Topology, *, say: Say = print, client: Any = None) -> None:
        self.topology = topology
        self.say = say
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from chaosgate.stack.engine import docker_client

            self._client = docker_client()
        return self._client

    # -- queries ----------------------------------------------------------------------------------

    def role_tags(self) -> dict[str, list[str]]:
        """image of the set (stores, python) -> the role tags it carries."""

        tags: dict[str, list[str]] = {
            "stores": [role_image("prometheus")],
            "python": [role_image("toxiproxy")],
        }
        for name, store in self.topology.stores.items():
            upstream = compose.upstream_for(name, store)
            local = local_store(store, upstream.port, upstream.data_dir)
            tags[local.image].append(role_image(self.topology.role_of(name)))
        return {key: sorted(set(value)) for key, value in tags.items()}

    def missing(self) -> list[str]:
        """The set's images that Docker's store lacks (any tag), without building anything."""
        wanted = [ROOTFS_IMAGE, image("base"), *(t for tags in self.role_tags().values() for t in tags)]
        wanted.append(target_image(self.topology))
        return [name for name in wanted if self._inputs_of(name) is None]

    def _inputs_of(self, name: str) -> str | None:
        import docker.errors

        try:
            found = self.client.images.get(name)
        except docker.errors.ImageNotFound:
            return None
        return str((found.labels or {}).get(INPUTS_LABEL, ""))

    # -- building ----------------------------------------------------------------------------------

    def build(self) -> list[Built]:
        """Every image of the set, each built only when its inputs changed; returns what was done."""
        done = [self._rootfs()]
        host = host_files()
        base_inputs = digest(self._inputs_of(ROOTFS_IMAGE) or "", tree_digest(CONTEXTS / "base"), *flat(host))
        done.append(
            self._build(image("base"), CONTEXTS / "base", {"ROOTFS": ROOTFS_IMAGE}, base_inputs, extra=host)
        )
        base_id = self._inputs_of(image("base")) or ""
        tags = self.role_tags()
        parent = {"BASE": image("base")}
        stores_inputs = digest(base_id, tree_digest(CONTEXTS / "stores"))
        done.append(
            self._build(image("stores"), CONTEXTS / "stores", parent, stores_inputs, also=tags["stores"])
        )
        source = Path(__file__).resolve().parents[1]
        python_files = {f"chaosgate/{name}": data for name, data in tree(source)}
        python_inputs = digest(base_id, tree_digest(CONTEXTS / "python"), *flat(python_files))
        done.append(
            self._build(
                image("python"),
                CONTEXTS / "python",
                parent,
                python_inputs,
                extra=python_files,
                also=tags["python"],
            )
        )
        done.append(self._target(python_inputs))
        return done

    def _target(self, python_inputs: str) -> Built:
        settings = self.topology.compose
        if settings is None or settings.dockerfile is None:
            raise StackError(
                "the local image set builds the services' image from chaos.yaml's compose.dockerfile; "
                "set it (the upstream set may pull compose.image instead)"
            )
        root = self.topology.source.parent
        dockerfile = root / settings.dockerfile
        files = {"Dockerfile": dockerfile.read_bytes()}
        for folder in copied_folders(dockerfile.read_text(encoding="utf-8")):
            files.update({f"{folder}/{name}": data for name, data in tree(root / folder)})
        inputs = digest(python_inputs, *flat(files))
        return self._build(target_image(self.topology), None, {"BASE": image("python")}, inputs, extra=files)

    def _rootfs(self) -> Built:
        tarball = cache_dir() / f"debian-{SUITE}-minbase.tar"
        started = time.monotonic()
        if not tarball.is_file():
            self._debootstrap(tarball)
        inputs = digest(str(tarball.stat().st_size), str(int(tarball.stat().st_mtime)))
        if self._inputs_of(ROOTFS_IMAGE) == inputs:
            return Built(ROOTFS_IMAGE, False, 0.0)
        self.say(f"importing {tarball} as {ROOTFS_IMAGE}")
        repository, tag = ROOTFS_IMAGE.rsplit(":", 1)
        self.client.api.import_image_from_file(
            str(tarball), repository=repository, tag=tag, changes=[f"LABEL {INPUTS_LABEL}={inputs}"]
        )
        return Built(ROOTFS_IMAGE, True, time.monotonic() - started)

    def _debootstrap(self, tarball: Path) -> None:
        """debootstrap a minimal Debian into a folder, and keep it as a tarball for the next builds."""
        tool = shutil.which("debootstrap") or (
            "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
        )
        if tool is None:
            raise StackError(
                "debootstrap is not installed (apt-get install debootstrap; scripts/docker-engine does)"
            )
        if os.geteuid() != 0:
            raise StackError("debootstrap needs root to build the local image set's Debian base")
        mirror = apt_mirror()
        tarball.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"debootstrap --variant=minbase {SUITE} from {mirror} (about a minute, once)")
        with tempfile.TemporaryDirectory(prefix="chaosgate-rootfs-", dir=tarball.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            run_checked(
                [tool, "--variant=minbase", SUITE, str(rootfs), mirror],
                "debootstrap",
                DEBOOTSTRAP_TIMEOUT_S,
            )
            for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (rootfs / leftover).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = tarball.with_suffix(".partial")
            run_checked(["tar", "-C", str(rootfs), "-cf", str(partial), "."], "tar", DEBOOTSTRAP_TIMEOUT_S)
            partial.replace(tarball)  # only a whole tarball is ever taken for the cache

    def _build(
        self,
        name: str,
        context: Path | None,
        buildargs: dict[str, str],
        inputs: str,
        *,
        extra: dict[str, bytes] | None = None,
        also: list[str] | None = None,
    ) -> Built:
        if self._inputs_of(name) == inputs and all(self._inputs_of(t) == inputs for t in also or []):
            return Built(name, False, 0.0)
        started = time.monotonic()
        self.say(f"building {name}")
        files = dict(tree(context)) if context is not None else {}
        for relative, data in (extra or {}).items():
            files[f"host/{relative}" if relative.startswith("etc/") else relative] = data
        archive = context_tar(files)
        stream = self.client.api.build(
            fileobj=archive,
            custom_context=True,
            tag=name,
            buildargs=buildargs,
            labels={INPUTS_LABEL: inputs},
            rm=True,
            forcerm=True,
            decode=True,
            timeout=BUILD_TIMEOUT_S,
        )
        last: list[str] = []
        for chunk in stream:
            if "error" in chunk:
                tail = "".join(last[-15:])
                raise StackError(f"building {name} failed: {chunk['error'].strip()}\n{tail}")
            text = chunk.get("stream", "")
            if text:
                last.append(text)
        built = self.client.images.get(name)
        for tag in also or []:
            repository, version = tag.rsplit(":", 1)
            built.tag(repository, version)
        return Built(name, True, time.monotonic() - started)


# -- docker-compose.local.yml ---------------------------------------------------------------------------

LOCAL_FILE = "docker-compose.local.yml"
LOCAL_HEADER = (
    "# The local image set (built here without a registry by `chaosgate stack images build`) in every\n"
    "# role: `docker compose -f docker-compose.yml -f docker-compose.local.yml up --no-build`, or\n"
    "# `chaosgate stack up --runtime compose --images local`.\n"
)


def override_document(topology: Topology) -> dict[str, Any]:
    """docker-compose.local.yml as data: what changes when the local image set stands in for the
    upstream images (images, commands, health checks, and the services' store settings that an
    upstream's rewrite made; a variable only the upstream needs is set empty)."""

    services: dict[str, Any] = {}
    for name, store in topology.stores.items():
        upstream = compose.upstream_for(name, store)
        local = local_store(store, upstream.port, upstream.data_dir)
        services[name] = {
            "image": role_image(topology.role_of(name)),
            "command": local.command,
            "healthcheck": {"test": local.healthcheck},
        }
    upstreams = sorted(topology.links)  # a link leads to the component of its name (compose DNS)
    services["toxiproxy"] = {
        "image": role_image("toxiproxy"),
        "command": [
            "python", "-m", "chaosgate", "proxy", "serve",
            "--host", "0.0.0.0", "--port", str(topology.proxy_port()),
            "--config", "/config/toxiproxy.json", "--allow-remote",
            *(arg for host in upstreams for arg in ("--upstream-allow", host)),
        ],
    }  # fmt: skip
    for name in topology.start_order():
        spec: dict[str, Any] = {"image": target_image(topology)}
        environment = _local_environment(topology, name)
        if environment:
            spec["environment"] = environment
        services[name] = spec
    services["prometheus"] = {
        "image": role_image("prometheus"),
        "command": ["chaosgate-store", "prometheus", "/etc/prometheus/prometheus.yml"],
    }
    return {"services": services}


def _local_environment(topology: Topology, name: str) -> dict[str, str]:
    """What differs in a service's environment when each store is the local runtime's server (its
    chaos.yaml env with links through the proxies, no upstream rewrite, no compose.upstream_env)."""

    upstream = compose.service_environment(topology, name)
    local = compose.service_environment(topology, name, upstream=False)
    changed = {key: value for key, value in local.items() if upstream.get(key) != value}
    dropped = {key: "" for key in upstream if key not in local}
    return {**changed, **dropped}
