"""What chaos.yaml may declare about probes, writers and load, checked when it loads (before anything
runs), each mistake named at its key; and the two small languages inside: JSONPath and `${name}`."""

from __future__ import annotations

from pathlib import Path

import pytest
from declared_support import SHOP_YAML, shop_topology

from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.probes.declared import plugin_for
from chaosgate.probes.jsonpath import JsonPath, JsonPathError
from chaosgate.probes.steps import RequestStep
from chaosgate.probes.template import TemplateError
from chaosgate.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def error_of(tmp_path: Path, text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        plugin_for(shop_topology(tmp_path, text))
    return caught.value


def test_the_shop_config_loads_and_a_step_keeps_its_shape_through_a_dump(tmp_path: Path) -> None:
    topology = shop_topology(tmp_path)
    moved = topology.with_port_offset(100)  # a dump validated again (JSONPaths, the `json` alias)
    assert moved.features["orders.create"].probe == topology.features["orders.create"].probe
    single = topology.features["orders.list"].probe
    assert single is not None and len(single) == 1  # one request is a probe of one step
    assert topology.probes.plugin is None  # no plugin unless chaos.yaml names one


def test_a_template_with_no_value_is_named_at_its_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, SHOP_YAML.replace("path: /orders/${order_id}", "path: /orders/${order}"))
    assert error.location is not None and error.location.key == "features.orders.create.probe[1]"
    assert "${order} has no value here" in str(error) and "${order_id}" in str(error)


def test_a_writer_neither_declared_nor_from_a_plugin_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, SHOP_YAML + "  orders.audit: {covers: [orders.create]}\n")
    assert error.location is not None and error.location.key == "writers.orders.audit"
    assert "no probe plugin is named" in str(error)


def test_a_writer_whose_plugin_lacks_it_is_refused_naming_the_plugins_writers(tmp_path: Path) -> None:
    text = SHOP_YAML.replace("probes:\n", "probes:\n  plugin: secureconnect\n")
    error = error_of(tmp_path, text + "  orders.audit: {covers: [orders.create]}\n")
    assert "writer 'orders.audit'" in str(error) and "chat.messages" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ('path: "/orders/${write_id}"', "path: /orders", "writers.orders.each.read_back.path", "${write_id}"),
        ('ids: "$.items[*].id"', 'ids: "items[*].id"', "writers.orders.read_back.ids", "starts with $"),
        ("capture: {order_id: $.id}", 'capture: {order_id: "$.items[*].id"}', "order_id", "one value"),
        ("capture: {token: $.token}", "capture: {uuid: $.token}", "uuid", "built-in"),
        (
            'ids: "$.items[*].id"}',
            'ids: "$.items[*].id", found: [200]}',
            "writers.orders.read_back",
            "exactly one",
        ),
    ],
    ids=["found-without-write-id", "path-without-dollar", "wildcard-capture", "builtin-capture", "two-forms"],
)
def test_declared_mistakes_are_named_at_their_key(
    tmp_path: Path, old: str, new: str, key: str, says: str
) -> None:
    assert old in SHOP_YAML
    error = error_of(tmp_path, SHOP_YAML.replace(old, new))
    assert error.location is not None and key in error.location.key, error
    assert says in str(error)


def test_a_feature_nobody_probes_is_refused_before_the_run(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, SHOP_YAML.replace("features:\n", "features:\n  orders.cancel: {depends_on: [shop]}\n")
    )
    assert error.location is not None and error.location.key == "features.orders.cancel"
    assert "has no probe" in str(error)


@pytest.mark.parametrize(
    ("load", "says"),
    [
        ("load: {users: 2}\n", "exactly one"),
        ("load: {locustfile: x.py, requests: [{path: /orders}]}\n", "exactly one"),
        ("load: {requests: [{path: /orders, headers: {A: '${nope}'}}]}\n", "${nope} has no value"),
    ],
)
def test_load_is_a_locustfile_or_declared_requests(tmp_path: Path, load: str, says: str) -> None:
    (tmp_path / "chaos.yaml").write_text(SHOP_YAML + load)
    with pytest.raises(ValidationError, match=r".*") as caught:
        load_topology(tmp_path / "chaos.yaml")
    assert says in str(caught.value)


def test_a_scenario_names_writers_of_chaos_yaml_with_a_did_you_mean(tmp_path: Path) -> None:
    topology = shop_topology(tmp_path)
    scenario = tmp_path / "shop-down.yaml"
    scenario.write_text(
        "name: shop-down\ntitle: t\ntarget: shop\n"
        "faults: [{injector: process, service: shop, duration: 1s}]\n"
        "workload: {writers: [orders, order.each]}\n"
    )
    with pytest.raises(ValidationError) as caught:
        load_scenario(scenario, topology)
    error = caught.value
    assert error.location is not None and error.location.key == "workload.writers[1]"
    assert "unknown ledger writer 'order.each' (did you mean 'orders.each'?)" in str(error)


def test_secureconnect_names_its_plugin_and_degraded_header_in_its_own_chaos_yaml() -> None:
    topology = load_topology(ROOT / "chaos.yaml")
    assert topology.probes.plugin == "secureconnect"
    assert topology.probes.degraded_header == "X-SecureConnect-Degraded"
    plugin = plugin_for(topology)
    assert set(plugin.probes) == set(topology.features) and set(plugin.writers) == set(topology.writers)


# -- the JSONPath subset and the templates -----------------------------------------------------------

ANSWER = {"id": 7, "items": [{"id": "a"}, {"id": "b", "tags": ["x"]}], "odd key": {"v": True}}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("$.id", [7]),
        ("$.items[0].id", ["a"]),
        ("$.items[-1].tags[0]", ["x"]),
        ("$.items[*].id", ["a", "b"]),
        ("$['odd key'].v", [True]),
        ("$.missing", []),
        ("$.items[5].id", []),
        ("$", [ANSWER]),
    ],
)
def test_the_jsonpath_subset_finds_what_it_names(path: str, found: list[object]) -> None:
    assert JsonPath.parse(path).find(ANSWER) == found


@pytest.mark.parametrize("path", ["id", "$..id", "$.items[?(@.id)]", "$.items[0:2]", "$.a b"])
def test_jsonpath_outside_the_subset_is_refused_saying_what_it_knows(path: str) -> None:
    with pytest.raises(JsonPathError, match=r"starts with \$|this subset knows"):
        JsonPath.parse(path)


def test_templates_keep_a_whole_value_typed_and_quote_what_goes_in_a_path() -> None:
    step = RequestStep.model_validate(
        {
            "method": "POST",
            "path": "/orders/${id}/items",
            "headers": {"X-N": "n=${n}"},
            "json": {"n": "${n}", "s": "#${n}"},
        }
    )
    prepared = step.prepare({"id": "a/b c", "n": 3})
    assert prepared.path == "/orders/a%2Fb%20c/items"
    assert prepared.headers == {"X-N": "n=3"}
    assert prepared.json == {"n": 3, "s": "#3"}
    with pytest.raises(TemplateError, match=r"\$\{n\} has no value"):
        step.prepare({"id": "x"})


def test_a_structured_body_is_sent_as_json_as_before() -> None:
    step = RequestStep.model_validate({"method": "POST", "path": "/x", "body": {"a": 1}})
    assert step.prepare({}).json == {"a": 1} and step.prepare({}).has_json
    raw = RequestStep.model_validate({"method": "POST", "path": "/x", "body": "id=${uuid}"})
    assert raw.prepare({}).content is not None and not raw.prepare({}).has_json
