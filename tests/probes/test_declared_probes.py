"""Probes declared in chaos.yaml, run against a real HTTP shop: setup captures a token every probe
uses, a probe's steps carry headers and captures from one request to the next, `${uuid}` is fresh
per request, the degraded marker is the one chaos.yaml names, and an unexpected answer ends a probe
with its classified outcome."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from declared_support import SHOP_YAML, shop_topology
from declared_support import context as probe_context
from shop_app import Shop, serving

from chaosgate.errors import ProbeError
from chaosgate.probes.base import timed
from chaosgate.probes.declared import plugin_for
from chaosgate.samples import Phase, ProbeOutcome


def clock() -> float:
    return time.monotonic()


async def test_a_probe_creates_an_order_and_reads_it_back_by_the_id_it_captured(tmp_path: Path) -> None:
    shop = Shop()
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, probe_context(url) as ctx:
        await plugin.setup(ctx)
        sample = await timed("orders.create", plugin.probes["orders.create"], ctx, clock, phase=Phase.STEADY)

    assert sample.outcome is ProbeOutcome.SERVED, sample.detail
    token = ctx.vars["token"]
    assert token in shop.tokens  # captured by probes.setup, shared through the context
    (create, read) = shop.seen[-2:]
    assert create[0] == "POST" and create[2]["authorization"] == f"Bearer {token}"
    created_id = next(iter(shop.orders))
    assert read[:2] == ("GET", f"/orders/{created_id}")  # the id the first step captured
    assert read[2]["authorization"] == f"Bearer {token}"


async def test_uuid_is_fresh_for_every_request_and_one_value_within_a_request(tmp_path: Path) -> None:
    shop = Shop()
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, probe_context(url) as ctx:
        await plugin.setup(ctx)
        for _ in range(2):
            await plugin.probes["orders.create"](ctx)

    creates = [seen for seen in shop.seen if seen[:2] == ("POST", "/orders")]
    refs = [body["ref"] for _, _, _, body in creates]
    assert len(set(refs)) == 2
    for _, _, headers, body in creates:
        assert headers["x-request-id"] == body["ref"]  # the same ${uuid} throughout one request
        assert body["note"] == f"made by {body['ref']}"  # and inside longer text


async def test_answers_are_degraded_only_by_the_header_chaos_yaml_names(tmp_path: Path) -> None:
    shop = Shop(degraded=True)
    declared = plugin_for(shop_topology(tmp_path))
    undeclared = plugin_for(
        shop_topology(tmp_path, SHOP_YAML.replace("degraded_header: X-Shop-Degraded", ""))
    )
    async with serving(shop) as url, probe_context(url) as ctx:
        await declared.setup(ctx)
        marked = await timed(
            "orders.create", declared.probes["orders.create"], ctx, clock, phase=Phase.STEADY
        )
        await undeclared.setup(ctx)
        plain = await timed(
            "orders.create", undeclared.probes["orders.create"], ctx, clock, phase=Phase.STEADY
        )

    assert marked.outcome is ProbeOutcome.DEGRADED and "served from cache" in marked.detail
    assert plain.outcome is ProbeOutcome.SERVED  # no degraded_header: no answer counts as degraded


@pytest.mark.parametrize(
    ("break_it", "outcome"),
    [("down", ProbeOutcome.REJECTED), ("token", ProbeOutcome.ERROR)],
    ids=["503-with-a-body-is-rejected", "401-is-an-error"],
)
async def test_an_unexpected_answer_ends_the_probe_with_its_outcome(
    tmp_path: Path, break_it: str, outcome: ProbeOutcome
) -> None:
    shop = Shop()
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, probe_context(url) as ctx:
        await plugin.setup(ctx)
        if break_it == "down":
            shop.down = True
        else:
            shop.tokens.clear()
        before = len(shop.seen)
        sample = await timed("orders.create", plugin.probes["orders.create"], ctx, clock, phase=Phase.STEADY)

    assert sample.outcome is outcome
    assert sample.detail.startswith(("HTTP 503", "HTTP 401"))
    assert len(shop.seen) == before + 1, "the read-back step is not sent after a failed create"


async def test_a_capture_that_finds_nothing_is_an_error_saying_which(tmp_path: Path) -> None:
    text = SHOP_YAML.replace("capture: {order_id: $.id}", "capture: {order_id: $.order.id}")
    plugin = plugin_for(shop_topology(tmp_path, text))
    shop = Shop()
    async with serving(shop) as url, probe_context(url) as ctx:
        await plugin.setup(ctx)
        sample = await timed("orders.create", plugin.probes["orders.create"], ctx, clock, phase=Phase.STEADY)

    assert sample.outcome is ProbeOutcome.ERROR
    assert "capture failed: $.order.id names nothing" in sample.detail


async def test_a_failing_setup_step_names_itself(tmp_path: Path) -> None:
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(Shop(down=True)) as url, probe_context(url) as ctx:
        with pytest.raises(ProbeError, match=r"probes\.setup\[0\] POST /sessions: HTTP 503"):
            await plugin.setup(ctx)
