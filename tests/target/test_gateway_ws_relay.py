"""The gateway's WebSocket relay in process, against a scripted backend: both ways, close codes kept."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from target_system.gateway.app import create_app
from target_system.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Backend:
    """Echoes frames; `close:<code>` makes it close with that code; records the codes clients close with."""

    def __init__(self) -> None:
        self.client_close_codes: list[int | None] = []
        self.paths: list[str] = []

    async def handle(self, connection: ServerConnection) -> None:
        self.paths.append(connection.request.path if connection.request else "")
        try:
            async for frame in connection:
                if isinstance(frame, str) and frame.startswith("close:"):
                    await connection.close(code=int(frame.removeprefix("close:")), reason="backend says bye")
                    return
                await connection.send(frame)
        except ConnectionClosed:
            pass
        self.client_close_codes.append(connection.close_code)


@pytest.fixture
async def relay() -> AsyncIterator[tuple[str, Backend]]:
    backend = Backend()
    backend_port, gateway_port = free_port(), free_port()
    settings = Settings.from_env(
        {
            "SC_CHAT_URL": f"http://127.0.0.1:{backend_port}",
            "SC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # down: rate limiting fails open
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=gateway_port, log_level="warning")
    )
    async with serve(backend.handle, "127.0.0.1", backend_port):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield f"ws://127.0.0.1:{gateway_port}", backend
        finally:
            server.should_exit = True
            await serving


async def test_frames_flow_both_ways_and_the_backend_close_code_reaches_the_client(
    relay: tuple[str, Backend],
) -> None:
    base, backend = relay
    async with connect(f"{base}/v1/chat/ws?token=t") as client:
        await client.send("hello")
        assert await asyncio.wait_for(client.recv(), 5) == "hello"
        await client.send(b"\x00\x01")
        assert await asyncio.wait_for(client.recv(), 5) == b"\x00\x01"
        await client.send("close:4001")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "backend says bye"
    assert backend.paths == ["/v1/chat/ws?token=t"]


async def test_the_client_close_code_reaches_the_backend(relay: tuple[str, Backend]) -> None:
    base, backend = relay
    async with connect(f"{base}/v1/chat/ws") as client:
        await client.send("ping")
        assert await asyncio.wait_for(client.recv(), 5) == "ping"
        await client.close(code=4002, reason="client leaves")
    for _ in range(100):
        if backend.client_close_codes:
            break
        await asyncio.sleep(0.02)
    assert backend.client_close_codes == [4002]


async def test_unknown_backend_is_refused_with_404(relay: tuple[str, Backend]) -> None:
    base, _ = relay
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{base}/v1/video/ws")
    assert refused.value.response.status_code == 404
