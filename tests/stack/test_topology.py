"""chaos.yaml loads into typed models; every kind of mistake is one message naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.topology import StoreKind

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
proxy:
  api_port: 8474
stores:
  redis: {kind: redis, role: redis, port: 16379}
  sql:
    kind: postgres
    role: cockroachdb
    port: 15432
    database: app
links:
  redis: {listen: 26379}
  sql: {listen: 26257}
  api: {listen: 28081}
services:
  api:
    port: 18081
    links: [redis, sql]
    env:
      SC_SQL_DSN: "postgresql://postgres@{link:sql}/app"
  front:
    port: 18080
    links: [redis, api]
    soft: [redis]
    env:
      SC_API_URL: "http://{link:api}"
service_defaults:
  command: ["{python}", "-m", "target_system", "{service}"]
gateway: front
features:
  read: {depends_on: [front]}
  cache: {depends_on: [redis]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chaos.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ValidationError:
    path = write(tmp_path, text)
    with pytest.raises(ValidationError) as caught:
        load_topology(path)
    error = caught.value
    assert error.location is not None
    assert str(error.location.file) == str(path)
    assert str(path) in str(error)
    return error


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_repository_topology_loads() -> None:
    topology = load_topology(ROOT / "chaos.yaml")
    assert topology.stores["cockroach"].kind is StoreKind.POSTGRES
    assert topology.start_order()[-1] == topology.gateway
    assert topology.link_address("redis") == f"127.0.0.1:{topology.links['redis'].listen}"
    assert topology.default_run_dir() == (ROOT / topology.run_dir).resolve()


def test_derived_queries(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, GOOD))
    assert topology.start_levels() == [["api"], ["front"]]
    # front's redis link is soft, but api's is hard: redis is still needed, through api.
    assert topology.dependencies_of("front") == {"api", "redis", "sql"}
    assert topology.feature_dependencies("read") == {"front", "api", "redis", "sql"}
    assert topology.features_affected_by("sql") == ["read"]
    assert topology.service_command("api", python="/py") == ["/py", "-m", "target_system", "api"]
    assert {"name": "sql", "listen": "127.0.0.1:26257", "upstream": "127.0.0.1:15432", "enabled": True} in (
        topology.proxies_config()
    )


def test_soft_links_are_not_dependencies(tmp_path: Path) -> None:
    text = GOOD.replace("    links: [redis, sql]\n", "    links: [redis, sql]\n    soft: [redis]\n")
    topology = load_topology(write(tmp_path, text))
    assert topology.dependencies_of("front") == {"api", "sql"}
    assert "redis" not in topology.feature_dependencies("read")


def test_a_feature_can_name_a_dependency_soft(tmp_path: Path) -> None:
    # `read` needs front -> api -> {redis, sql}; it names redis soft: a Redis fault must not break it.
    text = GOOD.replace("read: {depends_on: [front]}", "read: {depends_on: [front], soft: [redis]}")
    topology = load_topology(write(tmp_path, text))
    assert topology.feature_dependencies("read") == {"front", "api", "sql"}
    assert topology.features_affected_by("redis") == ["cache"]
    assert topology.features_soft_on("redis") == ["read"]
    assert topology.features_soft_on("sql") == []
    # without the feature's word, only front's own soft link is soft, and api's hard one wins
    plain = load_topology(write(tmp_path, GOOD))
    assert plain.features_affected_by("redis") == ["read", "cache"]
    assert plain.features_soft_on("redis") == []


def test_soft_feature_dependency_and_writer_coverage_must_name_known_things(tmp_path: Path) -> None:
    text = GOOD.replace("read: {depends_on: [front]}", "read: {depends_on: [front], soft: [redsi]}")
    error = load_error(tmp_path, text)
    assert error.location is not None and error.location.key == "features.read.soft[0]"
    text = GOOD + "writers:\n  orders: {covers: [raed]}\n"
    error = load_error(tmp_path, text)
    assert error.location is not None and error.location.key == "writers.orders.covers[0]"
    assert "read" in error.detail


def test_profiles_are_the_targets_own(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, GOOD + "profiles: [baseline, hardened, audited]\n"))
    topology.check_profile("audited")
    with pytest.raises(ValidationError) as caught:
        topology.check_profile("hardend")
    assert "baseline, hardened, audited" in str(caught.value)
    assert caught.value.location is not None and caught.value.location.key == "profiles"


def test_port_offset_moves_every_port(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, GOOD))
    moved = topology.with_port_offset(100)
    assert sorted(p + 100 for p, _ in topology.ports()) == sorted(p for p, _ in moved.ports())
    assert moved.source == topology.source


def test_unknown_key_names_line_key_and_valid_keys(tmp_path: Path) -> None:
    text = GOOD.replace("    database: app\n", "    database: app\n    prot: 1\n")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.line == line_of(text, "prot: 1")
    assert error.location.key == "stores.sql.prot"
    assert "unknown key 'prot'" in str(error)
    assert "port" in error.detail and "database" in error.detail


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD + "colour: blue\n")
    assert error.location is not None
    assert error.location.key == "colour"
    assert error.location.line == line_of(GOOD + "colour: blue\n", "colour")
    assert "services" in error.detail


def test_wrong_type(tmp_path: Path) -> None:
    text = GOOD.replace("port: 18081", "port: eighteen")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert (error.location.line, error.location.key) == (line_of(text, "eighteen"), "services.api.port")
    assert "integer" in error.detail and "eighteen" in error.detail


def test_port_out_of_range(tmp_path: Path) -> None:
    text = GOOD.replace("api_port: 8474", "api_port: 84740")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.key == "proxy.api_port"
    assert "65535" in error.detail


def test_missing_required_key(tmp_path: Path) -> None:
    text = GOOD.replace("gateway: front\n", "")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.key == "gateway"
    assert "missing" in error.detail


def test_link_template_naming_no_link(tmp_path: Path) -> None:
    text = GOOD.replace("{link:api}", "{link:apii}")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert (error.location.line, error.location.key) == (
        line_of(text, "apii"),
        "services.front.env.SC_API_URL",
    )
    assert "{link:apii}" in error.detail and "{link:api}" in error.detail


def test_link_without_a_component_of_the_same_name(tmp_path: Path) -> None:
    text = GOOD.replace("  api: {listen: 28081}\n", "  api: {listen: 28081}\n  ghost: {listen: 28099}\n")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert (error.location.line, error.location.key) == (line_of(text, "ghost"), "links.ghost")
    assert "no store or service" in error.detail and "redis" in error.detail


def test_service_linking_to_an_unknown_link(tmp_path: Path) -> None:
    text = GOOD.replace("links: [redis, api]", "links: [redis, api, mq]")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.key == "services.front.links[2]"
    assert error.location.line == line_of(text, "mq]")
    assert "'mq' names no link" in error.detail


def test_duplicate_port_names_both_places(tmp_path: Path) -> None:
    text = GOOD.replace("api: {listen: 28081}", "api: {listen: 16379}")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert (error.location.line, error.location.key) == (line_of(text, "listen: 16379"), "links.api.listen")
    assert "16379" in error.detail and "store redis" in error.detail
    assert f"line {line_of(text, 'port: 16379')}" in error.detail


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = GOOD.replace("gateway: front\n", "gateway: front\ngateway: api\n")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.line == line_of(text, "gateway: api")
    assert "duplicate key 'gateway'" in error.detail


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    text = GOOD.replace("  sql: {listen: 26257}", "  sql: {listen: 26257")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.line > 0
    assert "not valid YAML" in error.detail


def test_feature_depending_on_nothing_known(tmp_path: Path) -> None:
    text = GOOD.replace("depends_on: [redis]", "depends_on: [redsi]")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.key == "features.cache.depends_on[0]"
    assert "redis" in error.detail


def test_gateway_must_be_a_service(tmp_path: Path) -> None:
    error = load_error(tmp_path, GOOD.replace("gateway: front", "gateway: redis"))
    assert error.location is not None
    assert error.location.key == "gateway"
    assert "front" in error.detail


def test_postgres_store_needs_a_database(tmp_path: Path) -> None:
    text = GOOD.replace("    database: app\n", "")
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.key == "stores.sql"
    assert "database" in error.detail


def test_service_cycle(tmp_path: Path) -> None:
    text = GOOD.replace("links: [redis, sql]", "links: [redis, sql, front]").replace(
        "  api: {listen: 28081}\n", "  api: {listen: 28081}\n  front: {listen: 28080}\n"
    )
    error = load_error(tmp_path, text)
    assert "cycle" in error.detail


def test_missing_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        load_topology(tmp_path / "nope.yaml")


def test_remote_derives_every_url_from_the_host_and_the_topology_ports(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, GOOD + "remote:\n  host: chaos-host\n"))
    assert topology.remote is not None and topology.remote.profile == "remote"
    assert topology.host == "chaos-host"
    assert topology.proxy_api_url() == "http://chaos-host:8474"
    assert topology.service_url("front") == "http://chaos-host:18080"
    assert topology.service_url("api") == "http://chaos-host:18081"
    local = load_topology(write(tmp_path, GOOD))
    assert (local.host, local.proxy_api_url()) == ("127.0.0.1", "http://127.0.0.1:8474")


def test_remote_urls_can_be_given_one_by_one(tmp_path: Path) -> None:
    text = GOOD + (
        "remote:\n  host: 10.0.0.7\n  proxy_api: https://toxiproxy.example:9474/\n"
        "  gateway: http://edge.example\n  docker_host: ssh://ops@10.0.0.7\n  profile: hardened\n"
    )
    topology = load_topology(write(tmp_path, text))
    assert topology.proxy_api_url() == "https://toxiproxy.example:9474"
    assert topology.service_url("front") == "http://edge.example"  # the gateway
    assert topology.service_url("api") == "http://10.0.0.7:18081"  # the others: host and port
    assert topology.remote is not None and topology.remote.docker_host == "ssh://ops@10.0.0.7"


def test_remote_ipv6_host_is_bracketed_in_urls(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, GOOD + "remote:\n  host: '::1'\n"))
    assert topology.host == "::1"
    assert topology.proxy_api_url() == "http://[::1]:8474"


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ("  host: http://chaos-host:8474\n", "remote.host", "without scheme or port"),
        ("  host: h\n  proxy_api: chaos-host:8474\n", "remote.proxy_api", "http(s)://HOST[:PORT]"),
        ("  host: h\n  gateway: http://h:8080/v1\n", "remote.gateway", "http(s)://HOST[:PORT]"),
        ("  host: h\n  docker_host: h:2375\n", "remote.docker_host", "tcp://"),
        ("  host: h\n  proxy: http://h:8474\n", "remote.proxy", "unknown key 'proxy'"),
        ("  gateway: http://h:8080\n", "remote.host", "missing"),
    ],
)
def test_remote_mistakes_name_line_and_key(tmp_path: Path, entry: str, key: str, words: str) -> None:
    text = GOOD + "remote:\n" + entry
    error = load_error(tmp_path, text)
    assert error.location is not None
    assert error.location.key == key
    assert error.location.line >= line_of(text, "remote:")
    assert words in error.detail


# -- a topology asks only for what chaosgate uses ----------------------------------------------------

REMOTE_ONLY = """\
remote: {host: chaos-host, proxy_api: "http://chaos-host:9474", profile: prod}
stores:
  redis: {kind: redis}
  sql: {kind: postgres, database: app}
links:
  redis: {listen: 26379}
  sql: {listen: 26257}
services:
  api: {port: 18081, links: [redis, sql]}
gateway: api
features:
  read: {depends_on: [api], probe: {path: /v1/read}}
"""


def test_a_stack_chaosgate_does_not_start_needs_no_launcher_keys(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, REMOTE_ONLY))
    assert topology.proxy is None and topology.service_defaults.command is None
    assert topology.proxy_api_url() == "http://chaos-host:9474"
    assert topology.role_of("sql") == "sql"  # no role: the store's own name
    assert [owner for _, owner in topology.ports()] == ["proxy redis", "proxy sql", "service api"]
    topology.check_profile("prod")  # what runs there is the only profile it takes
    with pytest.raises(ValidationError, match=r"runs 'prod' \(chaos.yaml's remote.profile\)") as caught:
        topology.check_profile("hardened")
    assert caught.value.location is not None and caught.value.location.line == 1


def test_without_remote_proxy_api_a_remote_stack_needs_the_proxy_port(tmp_path: Path) -> None:
    text = REMOTE_ONLY.replace(', proxy_api: "http://chaos-host:9474"', "")
    error = load_error(tmp_path, text)
    assert error.location is not None and error.location.key == "proxy"
    assert "missing required key 'proxy'" in error.detail and "remote.proxy_api" in error.detail
    assert load_topology(write(tmp_path, text + "proxy: {api_port: 8474}\n")).proxy_api_url() == (
        "http://chaos-host:8474"
    )


def test_the_local_runtime_asks_for_what_it_starts_all_at_once(tmp_path: Path) -> None:
    text = REMOTE_ONLY.split("\n", 1)[1]  # the same stack, started here
    error = load_error(tmp_path, text)
    found = sorted((p.location.key if p.location else "", p.message.split(":")[0]) for p in error.problems)
    assert found == [
        ("proxy", "missing required key 'proxy'"),
        ("service_defaults.command", "missing required key 'command'"),
        ("stores.redis.port", "missing required key 'port'"),
        ("stores.sql.port", "missing required key 'port'"),
    ]
    assert "the local runtime starts store 'redis' listening on it" in str(error)
    redis = next(p.location for p in error.problems if p.location and p.location.key == "stores.redis.port")
    assert redis.line == line_of(text, "redis:")


def test_the_compose_runtime_needs_the_proxy_port_but_no_launcher_command(tmp_path: Path) -> None:
    text = "runtime: compose\n" + REMOTE_ONLY.split("\n", 1)[1]
    error = load_error(tmp_path, text)
    assert [p.location.key for p in error.problems if p.location] == ["proxy"]
    assert "the compose runtime publishes Toxiproxy's API on proxy.api_port" in error.detail
    topology = load_topology(write(tmp_path, text + "proxy: {api_port: 8474}\n"))
    assert topology.stores["redis"].port is None  # reached inside the compose network only


def test_every_reference_problem_is_reported_at_once_with_a_did_you_mean(tmp_path: Path) -> None:
    text = (
        GOOD.replace("gateway: front", "gateway: frnt")
        .replace("links: [redis, sql]", "links: [redis, sqll]")
        .replace("cache: {depends_on: [redis]}", "cache: {depends_on: [rediss]}")
        + "switches:\n  components: {apii: [retry]}\n  injectors: {toxiproxi: [retry]}\n"
    )
    error = load_error(tmp_path, text)
    assert [(p.location.key if p.location else "") for p in error.problems] == [
        "services.api.links[1]",
        "services.api.env.SC_SQL_DSN",  # {link:sql}: no longer one of api's links
        "gateway",
        "features.cache.depends_on[0]",
        "switches.components.apii",
        "switches.injectors.toxiproxi",
    ]
    assert "'sqll' names no link (did you mean 'sql'?)" in str(error)
    assert "'frnt' is no service (did you mean 'front'?)" in str(error)
    assert "'rediss' is no store or service (did you mean 'redis'?)" in str(error)
    assert "'toxiproxi' is no injector (did you mean 'toxiproxy'?)" in str(error)


def test_the_shipped_chaos_yaml_json_schema_matches_the_models() -> None:
    import json

    from chaosgate.scenario.schema import render_topology_schema, shipped_topology_schema

    assert shipped_topology_schema() == render_topology_schema(), "run `python -m chaosgate.scenario.schema`"
    schema = json.loads(shipped_topology_schema())
    assert set(schema["required"]) == {"services", "gateway"}  # nothing the local runtime alone needs
    assert {"name", "compose", "switches", "proxy", "service_defaults"} <= set(schema["properties"])


def test_features_name_their_route_where_a_service_says_what_every_route_needs() -> None:
    # rules v3, on the repository's own chaos.yaml: a message-store fault breaks the message features
    # only, not presence or polls; auth.login has no path at all to the object store.
    topology = load_topology(ROOT / "chaos.yaml")
    assert topology.features_affected_by("cassandra") == [
        "chat.send",
        "chat.history",
        "chat.ws",
        "push.notify",
    ]
    assert "presence" in topology.features_apart_from("cassandra")
    assert "chat.poll" in topology.features_apart_from("cassandra")
    assert "auth.login" in topology.features_apart_from("objectstore")
    assert "auth.refresh" not in topology.features_affected_by("cockroach")  # sessions live in Redis
    assert topology.callers_of("objectstore") == ["storage", "gateway"]
    assert topology.caller_chain("objectstore", {"gateway"}) == ["objectstore", "storage", "gateway"]


def test_needs_must_be_hard_links_of_the_service(tmp_path: Path) -> None:
    text = GOOD.replace("    links: [redis, sql]\n", "    links: [redis, sql]\n    needs: [sqll]\n")
    error = load_error(tmp_path, text)
    assert "needs 'sqll'" in str(error) and "did you mean 'sql'" in str(error)
    fine = load_topology(
        write(
            tmp_path, GOOD.replace("    links: [redis, sql]\n", "    links: [redis, sql]\n    needs: [sql]\n")
        )
    )
    assert fine.feature_dependencies("read") == {"front", "api", "sql"}  # redis: no longer inherited
