"""Ledger writers declared in chaos.yaml, against a real HTTP shop that loses some acknowledged
orders: the runner's own writer loop counts what was lost, read back as a listing or per write id,
and a shop that cannot answer the read-back is retried, not taken for an empty one. A read-back
that answers but cannot see (a typo in its path, a listing of nothing, a refusal) says so
(ReadBackBlind: "cannot tell"), naming what it read, instead of reading as every write lost."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from declared_support import AUTH, SHOP_YAML, context, shop_topology
from shop_app import Shop, serving

from chaosgate.errors import ProbeError, ReadBackBlind
from chaosgate.probes.declared import DeclaredWriterFactory, plugin_for
from chaosgate.probes.plugin import ProbePlugin
from chaosgate.workload import WriterLoop

WRITES = 12


@pytest.mark.parametrize("writer", ["orders", "orders.each"], ids=["listing", "per-write-id"])
async def test_acknowledged_orders_the_shop_did_not_keep_are_counted_lost(
    tmp_path: Path, writer: str
) -> None:
    shop = Shop(lose_every=4)  # acknowledges every order, keeps three in four
    plugin = plugin_for(shop_topology(tmp_path))
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        loop = WriterLoop(writer, plugin.writers[writer](), ctx, rate=200, limit=WRITES)
        loop.start()
        while len(loop.acknowledged) < WRITES:  # the shop acknowledges every order
            await asyncio.sleep(0.02)
        await loop.stop()
        counts = (await loop.check(timeout_s=5)).counts

    assert (counts.attempted, counts.acknowledged) == (WRITES, WRITES)
    assert counts.lost == WRITES // 4  # exactly the ones the shop dropped
    assert counts.recovered == counts.unexpected == 0
    assert not counts.ephemeral
    creates = [body for method, path, _, body in shop.seen if (method, path) == ("POST", "/orders")]
    assert {body["id"] for body in creates} == loop.attempted  # ${write_id} in the JSON body


async def test_a_shop_that_cannot_answer_the_read_back_is_not_an_empty_one(tmp_path: Path) -> None:
    plugin = plugin_for(shop_topology(tmp_path))
    shop = Shop()
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        for name in ("orders", "orders.each"):
            writer = plugin.writers[name]()
            assert await writer.write(ctx, f"{name}-1")
            shop.down = True
            with pytest.raises(ProbeError, match="answered HTTP 503"):
                await writer.read_back(ctx)  # the writer loop retries this until its deadline
            shop.down = False
            assert await writer.read_back(ctx) >= {f"{name}-1"}


async def test_writes_that_were_not_acknowledged_are_not_counted_lost(tmp_path: Path) -> None:
    plugin = plugin_for(shop_topology(tmp_path))
    shop = Shop()
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        writer = plugin.writers["orders.each"]()
        shop.down = True
        assert not await writer.write(ctx, "refused-1")  # 503: not in acknowledged (any 2xx)
        shop.down = False
        assert await writer.write(ctx, "kept-1")
        assert await writer.read_back(ctx) == {"kept-1"}


LISTING = 'ids: "$.items[*].id"'


def with_read_back(folder: Path, listing: str = LISTING, each: str = "") -> ProbePlugin:
    """The shop's chaos.yaml with the `orders` listing's ids path (and `orders.each`'s read-back) changed."""
    text = SHOP_YAML.replace(LISTING, listing)
    if each:
        text = text.replace(
            f'read_back: {{path: "/orders/${{write_id}}", headers: {{{AUTH}}}, found: [200]}}', each
        )
    return plugin_for(shop_topology(folder, text))


@pytest.mark.parametrize(
    ("ids", "named"),
    [
        ('"$.ref[*]"', "$.ref[*] matches nothing in the answer: it has no .ref; the answer's top-level keys: "
         "items, refs"),
        ('"$.items[*].ref"', "$.items[*] (an object with keys id) has no .ref"),
        ('"$.items[*]"', "$.items[*] names an object with keys id, not ids"),
    ],
    ids=["missing-key", "missing-field", "objects"],
)  # fmt: skip
async def test_a_listing_path_that_does_not_fit_the_answer_cannot_tell(
    tmp_path: Path, ids: str, named: str
) -> None:
    plugin = with_read_back(tmp_path, f"ids: {ids}")
    shop = Shop()
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        writer = plugin.writers["orders"]()
        assert await writer.write(ctx, "kept-1")  # the shop keeps it: only the read-back is wrong

        with pytest.raises(ReadBackBlind) as blind:
            await writer.read_back(ctx)

    assert named in str(blind.value)
    assert str(blind.value).startswith("writer orders: reading back GET /orders: ")


async def test_the_flat_list_form_reads_the_ids(tmp_path: Path) -> None:
    plugin = with_read_back(tmp_path, 'ids: "$.refs[*]"')
    async with serving(Shop()) as url, context(url) as ctx:
        await plugin.setup(ctx)
        writer = plugin.writers["orders"]()
        assert await writer.write(ctx, "kept-1")
        assert await writer.read_back(ctx) == {"kept-1"}


async def test_a_listing_of_nothing_after_acknowledged_writes_cannot_tell(tmp_path: Path) -> None:
    plugin = plugin_for(shop_topology(tmp_path))
    shop = Shop(lose_every=1)  # acknowledges every order and keeps none
    async with serving(shop) as url, context(url) as ctx:
        await plugin.setup(ctx)
        durable = plugin.writers["orders"]()
        assert await durable.read_back(ctx) == set(), "nothing written yet: an empty listing is just empty"
        assert await durable.write(ctx, "gone-1")
        with pytest.raises(
            ReadBackBlind, match=r"the listing yielded no id \(\$\.items\[\*\]\.id\), though 1 "
        ):
            await durable.read_back(ctx)

        # Sessions stop before the fault: every one of them gone is a loss, not blindness.
        factory = plugin.writers["orders"]
        assert isinstance(factory, DeclaredWriterFactory)
        ephemeral = dataclasses.replace(factory, ephemeral=True)()
        assert await ephemeral.write(ctx, "session-1")
        assert await ephemeral.read_back(ctx) == set()


async def test_a_per_id_read_back_that_finds_anything_or_is_refused_cannot_tell(tmp_path: Path) -> None:
    anything = with_read_back(  # the listing answers 200 whatever the id: every write would be "found"
        tmp_path,
        each=f'read_back: {{path: "/orders?id=${{write_id}}", headers: {{{AUTH}}}, found: [200]}}',
    )
    (tmp_path / "refused").mkdir()
    refused = with_read_back(  # no Authorization header: 401 for every id
        tmp_path / "refused", each='read_back: {path: "/orders/${write_id}", found: [200]}'
    )
    async with serving(Shop()) as url, context(url) as ctx:
        await anything.setup(ctx)
        finds_all = anything.writers["orders.each"]()
        assert await finds_all.write(ctx, "kept-1")
        with pytest.raises(ReadBackBlind, match=r"cg-never-written-\w+, never written, is found"):
            await finds_all.read_back(ctx)

        no_token = refused.writers["orders.each"]()
        assert await no_token.write(ctx, "kept-2")
        with pytest.raises(ReadBackBlind, match="answered HTTP 401: not allowed to see"):
            await no_token.read_back(ctx)
