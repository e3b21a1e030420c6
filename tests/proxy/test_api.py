"""The HTTP API: every endpoint, Toxiproxy's status codes and error bodies, and the safety rules."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from .kit import connect, free_port, listen_port, make_proxy, recv_exactly


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status"}
    assert body["status"] == status
    for word in words:
        assert word in body["error"]


def test_version_is_a_toxiproxy_2_version(api: httpx.Client) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["version"].startswith("2.")


def test_create_list_get_and_delete_a_proxy(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "redis", echo_port)
    assert proxy["name"] == "redis"
    assert proxy["upstream"] == f"127.0.0.1:{echo_port}"
    assert proxy["enabled"] is True
    assert proxy["toxics"] == []
    assert listen_port(proxy) > 0  # port 0 was replaced by the real port

    listing = api.get("/proxies").json()
    assert listing == {"redis": proxy}
    assert api.get("/proxies/redis").json() == proxy

    with connect(listen_port(proxy)) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"

    response = api.delete("/proxies/redis")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get("/proxies/redis"), 404, "proxy not found")
    with pytest.raises(OSError):
        connect(listen_port(proxy), timeout=1).recv(1)


def test_listen_without_host_means_loopback(api: httpx.Client, echo_port: int) -> None:
    port = free_port()
    proxy = make_proxy(api, "bare", echo_port, listen=str(port))
    assert proxy["listen"] == f"127.0.0.1:{port}"
    port2 = free_port()
    proxy2 = make_proxy(api, "colon", echo_port, listen=f":{port2}")
    assert proxy2["listen"] == f"127.0.0.1:{port2}"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, ("bad request body",)),
        (b"", 400, ("bad request body",)),
        (b'{"upstream": "127.0.0.1:1"}', 400, ("name",)),
        (b'{"name": "x"}', 400, ("upstream",)),
        (b'{"name": 5, "upstream": "127.0.0.1:1"}', 400, ("name",)),
        (b'{"name": "x", "upstream": "127.0.0.1:1", "enabled": "yes"}', 400, ("enabled",)),
        (b'{"name": "x", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:99999"}', 400, ("port",)),
        (b"[1, 2]", 400, ("bad request body",)),
    ],
)
def test_bad_proxy_bodies_are_400(
    api: httpx.Client, body: bytes, status: int, words: tuple[str, ...]
) -> None:
    assert_error(api.post("/proxies", content=body), status, *words)
    assert api.get("/proxies").json() == {}


def test_non_loopback_listen_is_refused_without_allow_remote(api: httpx.Client, echo_port: int) -> None:
    response = api.post(
        "/proxies", json={"name": "remote", "listen": "0.0.0.0:0", "upstream": f"127.0.0.1:{echo_port}"}
    )
    assert_error(response, 400, "loopback", "--allow-remote")
    for host in ("localhost", "127.0.0.2", "[::1]"):
        response = api.post(
            "/proxies",
            json={"name": f"ok{host}", "listen": f"{host}:0", "upstream": f"127.0.0.1:{echo_port}"},
        )
        if host == "[::1]" and response.status_code == 500:
            continue  # no IPv6 on this machine: the rule still let it through to bind
        assert response.status_code == 201, response.text


def test_duplicate_proxy_is_409(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "dup", echo_port)
    response = api.post("/proxies", json={"name": "dup", "upstream": f"127.0.0.1:{echo_port}"})
    assert_error(response, 409, "already exists")


def test_listen_port_in_use_is_500_and_server_stays_up(api: httpx.Client, echo_port: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        response = api.post(
            "/proxies",
            json={"name": "busy", "listen": f"127.0.0.1:{port}", "upstream": f"127.0.0.1:{echo_port}"},
        )
        assert_error(response, 500, str(port))
    assert api.get("/version").status_code == 200
    assert api.get("/proxies").json() == {}


def test_unknown_routes_and_names_are_404(api: httpx.Client, echo_port: int) -> None:
    assert_error(api.get("/nothing"), 404)
    assert_error(api.get("/proxies/ghost"), 404, "proxy not found")
    assert_error(api.delete("/proxies/ghost"), 404, "proxy not found")
    assert_error(api.post("/proxies/ghost", json={"enabled": False}), 404, "proxy not found")
    assert_error(api.get("/proxies/ghost/toxics"), 404, "proxy not found")
    assert_error(api.post("/proxies/ghost/toxics", json={"type": "latency"}), 404, "proxy not found")
    make_proxy(api, "real", echo_port)
    assert_error(api.get("/proxies/real/toxics/ghost"), 404, "toxic not found")
    assert_error(api.delete("/proxies/real/toxics/ghost"), 404, "toxic not found")
    assert_error(api.post("/proxies/real/toxics/ghost", json={}), 404, "toxic not found")


def test_update_proxy_partially_with_post_and_patch(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "upd", echo_port)
    response = api.post("/proxies/upd", json={"enabled": False})
    assert response.status_code == 200
    assert response.json() == {**proxy, "enabled": False}
    response = api.patch("/proxies/upd", json={"enabled": True})
    assert response.json() == proxy  # same listen address again
    new_port = free_port()
    moved = api.patch("/proxies/upd", json={"listen": f"127.0.0.1:{new_port}"}).json()
    assert moved["listen"] == f"127.0.0.1:{new_port}"
    with connect(new_port) as sock:
        sock.sendall(b"moved")
        assert recv_exactly(sock, 5) == b"moved"
    assert_error(api.patch("/proxies/upd", json={"enabled": "no"}), 400, "enabled")
    assert_error(api.patch("/proxies/upd", content=b"{"), 400, "bad request body")


def test_toxic_crud_with_defaults(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "tox", echo_port)
    response = api.post("/proxies/tox/toxics", json={"type": "latency"})
    assert response.status_code == 200
    toxic = response.json()
    assert toxic == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 0, "jitter": 0},
    }
    assert api.get("/proxies/tox/toxics").json() == [toxic]
    assert api.get("/proxies/tox/toxics/latency_downstream").json() == toxic
    assert api.get("/proxies/tox").json()["toxics"] == [toxic]

    updated = api.post("/proxies/tox/toxics/latency_downstream", json={"attributes": {"latency": 50}}).json()
    assert updated["attributes"] == {"latency": 50, "jitter": 0}
    updated = api.patch("/proxies/tox/toxics/latency_downstream", json={"attributes": {"jitter": 5}}).json()
    assert updated["attributes"] == {"latency": 50, "jitter": 5}  # attributes merge
    updated = api.patch("/proxies/tox/toxics/latency_downstream", json={"toxicity": 0.5}).json()
    assert updated["toxicity"] == 0.5
    assert updated["attributes"] == {"latency": 50, "jitter": 5}

    response = api.delete("/proxies/tox/toxics/latency_downstream")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get("/proxies/tox/toxics").json() == []


DEFAULTS: dict[str, dict[str, Any]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}


def test_every_toxic_type_shows_its_default_attributes(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "types", echo_port, enabled=False)
    for kind, defaults in DEFAULTS.items():
        toxic = api.post("/proxies/types/toxics", json={"type": kind, "stream": "upstream"}).json()
        assert toxic["name"] == f"{kind}_upstream"
        assert toxic["attributes"] == defaults


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"type": "nope"}, ("invalid toxic type",)),
        ({"type": "latency", "stream": "sideways"}, ("stream",)),
        ({"type": "latency", "attributes": {"latency": "abc"}}, ("latency",)),
        ({"type": "latency", "attributes": {"latency": 1.5}}, ("latency",)),
        ({"type": "bandwidth", "attributes": {"rate": -1}}, ("rate",)),
        ({"type": "latency", "toxicity": 1.5}, ("toxicity",)),
        ({"type": "latency", "toxicity": -0.1}, ("toxicity",)),
        ({"type": "latency", "toxicity": "high"}, ("toxicity",)),
        ({"type": "latency", "attributes": [1]}, ("attributes",)),
    ],
)
def test_bad_toxics_are_400(
    api: httpx.Client, echo_port: int, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    make_proxy(api, "badtox", echo_port)
    assert_error(api.post("/proxies/badtox/toxics", json=body), 400, *words)
    assert api.get("/proxies/badtox/toxics").json() == []


def test_bad_toxic_updates_are_400_and_change_nothing(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "badupd", echo_port)
    toxic = api.post("/proxies/badupd/toxics", json={"type": "latency", "attributes": {"latency": 5}}).json()
    path = "/proxies/badupd/toxics/latency_downstream"
    assert_error(api.patch(path, json={"attributes": {"latency": "abc"}}), 400, "latency")
    assert_error(api.patch(path, json={"toxicity": 2}), 400, "toxicity")
    assert_error(api.patch(path, content=b"nope"), 400, "bad request body")
    assert api.get(path).json() == toxic


def test_duplicate_toxic_is_409(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "duptox", echo_port)
    assert api.post("/proxies/duptox/toxics", json={"type": "latency", "name": "lag"}).status_code == 200
    assert_error(api.post("/proxies/duptox/toxics", json={"type": "bandwidth", "name": "lag"}), 409, "exists")


def test_reset_enables_everything_and_removes_toxics(api: httpx.Client, echo_port: int) -> None:
    proxy = make_proxy(api, "r1", echo_port)
    make_proxy(api, "r2", echo_port)
    api.post("/proxies/r1/toxics", json={"type": "latency"})
    api.post("/proxies/r2", json={"enabled": False})
    response = api.post("/reset")
    assert response.status_code == 204
    assert response.content == b""
    listing = api.get("/proxies").json()
    assert all(p["enabled"] and p["toxics"] == [] for p in listing.values())
    with connect(listen_port(proxy)) as sock:
        sock.sendall(b"back")
        assert recv_exactly(sock, 4) == b"back"


def test_populate_creates_and_replaces_only_when_changed(api: httpx.Client, echo_port: int) -> None:
    first = make_proxy(api, "p1", echo_port)
    api.post("/proxies/p1/toxics", json={"type": "latency"})
    body = [
        {"name": "p1", "listen": first["listen"], "upstream": f"127.0.0.1:{echo_port}"},
        {"name": "p2", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
    ]
    response = api.post("/populate", json=body)
    assert response.status_code == 201
    proxies = response.json()["proxies"]
    assert [p["name"] for p in proxies] == ["p1", "p2"]
    assert api.get("/proxies/p1").json()["toxics"] != []  # unchanged: kept, toxics and all

    body[0]["upstream"] = "127.0.0.1:1"
    response = api.post("/populate", json=body[:1])
    assert response.status_code == 201
    replaced = api.get("/proxies/p1").json()
    assert replaced["upstream"] == "127.0.0.1:1"
    assert replaced["toxics"] == []

    assert_error(api.post("/populate", json={"proxies": []}), 400, "array")
    assert_error(api.post("/populate", json=[{"name": "p3"}]), 400, "upstream")
    assert "p3" not in api.get("/proxies").json()


def test_metrics_are_prometheus_text(api: httpx.Client, echo_port: int) -> None:
    make_proxy(api, "m", echo_port)
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'chaosgate_proxy_connections{proxy="m"} 0' in response.text


def test_malformed_http_gets_400_and_server_keeps_serving(api: httpx.Client, proxy_server: Any) -> None:
    with socket.create_connection(("127.0.0.1", proxy_server.server.api_port), timeout=5) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        assert b" 400 " in sock.recv(4096).split(b"\r\n", 1)[0] + b" "
    assert api.get("/version").status_code == 200
    assert_error(api.request("PUT", "/proxies"), 405)
