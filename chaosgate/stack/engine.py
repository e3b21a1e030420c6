"""The Docker engine the compose runtime and the container injectors talk to, reached once per use."""

from __future__ import annotations

import os
from typing import Any

from chaosgate.errors import StackError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# `auto`: Debian's Engine 20.10 speaks API 1.41 at most, newer engines refuse very old versions.
API_VERSION = "auto"


class NoDockerEngine(StackError):
    """No Docker engine answers: there is nothing to run the compose stack on."""


def engine_url(docker_host: str | None = None) -> str:
    """chaos.yaml's remote.docker_host, else DOCKER_HOST, else the local socket (as the docker CLI)."""
    return docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def is_local_engine(docker_host: str | None = None) -> bool:
    """Whether the engine runs on this machine (its containers' processes are ours to enter)."""
    return engine_url(docker_host).startswith("unix://")


def docker_client(docker_host: str | None = None, *, timeout: float = 30.0) -> Any:
    """A docker SDK client that has answered a ping; NoDockerEngine (one line) otherwise."""
    import docker  # imported here: only the compose runtime and container faults need the SDK

    url = engine_url(docker_host)
    try:
        client = docker.DockerClient(base_url=url, timeout=int(timeout), version=API_VERSION)
        client.ping()
    except Exception:
        shown = os.environ.get("DOCKER_HOST") if docker_host is None else docker_host
        raise NoDockerEngine(
            "no Docker engine is reachable (is the docker daemon running? "
            f"DOCKER_HOST={shown or '(unset: the default socket)'}; scripts/docker-engine starts one)"
        ) from None
    return client
