"""The local image set without an engine: what it builds from (this machine's apt mirror, the target's
Dockerfile) and what stands in each role. Building and running it: tests/compose."""

from __future__ import annotations

from pathlib import Path

from chaosgate import compose
from chaosgate.config import load_topology
from chaosgate.stack import image_context, images

ROOT = Path(__file__).resolve().parents[2]


def test_the_mirror_comes_from_one_line_or_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    assert image_context.apt_mirror(tmp_path) == image_context.DEFAULT_MIRROR
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert image_context.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "etc/apt/sources.list").write_text(
        "deb [arch=amd64] http://old.example/debian bookworm main\n"
    )
    assert image_context.apt_mirror(tmp_path) == "http://old.example/debian"


def test_the_target_image_takes_what_its_dockerfile_copies() -> None:
    dockerfile = (ROOT / "target_system/Dockerfile").read_text(encoding="utf-8")
    assert image_context.copied_folders(dockerfile) == ["target_system"]
    assert "ARG BASE=python:3.11-slim" in dockerfile and "FROM ${BASE}" in dockerfile


def test_each_store_runs_its_kinds_local_server_on_the_upstream_port() -> None:
    topology = load_topology(ROOT / "chaos.yaml")
    kinds = {}
    for name, store in topology.stores.items():
        upstream = compose.upstream_for(name, store)
        local = images.local_store(store, upstream.port, upstream.data_dir)
        kinds[name] = (local.image, local.backend)
        assert str(upstream.port) in local.command
    assert kinds["redis"] == ("stores", "redis-server (Debian)")
    assert kinds["cockroach"] == kinds["cassandra"] == ("stores", "PostgreSQL (Debian)")
    assert kinds["objectstore"] == ("python", "S3 API (moto server)")
    tags = images.ImageSet(topology, client=object()).role_tags()
    assert tags["stores"] == [
        "chaosgate-local/cassandra:local", "chaosgate-local/cockroachdb:local",
        "chaosgate-local/prometheus:local", "chaosgate-local/redis:local",
    ]  # fmt: skip
    assert tags["python"] == ["chaosgate-local/minio:local", "chaosgate-local/toxiproxy:local"]
    assert images.target_image(topology) == "secureconnect/target-system:local"
