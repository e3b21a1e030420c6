"""The proxy API's HTTP/1.1 connections (h11 over asyncio streams), bounded in time and number.

The API shares its process, and so its file descriptors, with the data plane: an idle or slow API
client must not be able to hold a descriptor for long, nor many clients to hold many. Each request
must arrive whole within `idle_timeout` of the connection becoming ready for it (which covers
keep-alive idleness, slow headers and slow bodies alike), each answer must be taken within the same
time, and at most `max_connections` are open: at the cap, the connection that has waited longest
for a request is closed to make room (as nginx reuses keep-alive connections), so idle
connections cannot lock a legitimate client out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import h11

from chaosgate.proxy.api import Response, ToxiproxyApi
from chaosgate.proxy.guard import RequestGuard
from chaosgate.proxy.models import ApiError

IDLE_TIMEOUT = 30.0
MAX_CONNECTIONS = 256
MAX_BODY = 1 << 20


@dataclass
class _Client:
    writer: asyncio.StreamWriter
    # When it began waiting for its next request (monotonic); None while its request is answered.
    waiting_since: float | None


class ApiConnections:
    """Serves each API connection with keep-alive; tracks them all so that `close` can end them."""

    def __init__(
        self,
        api: ToxiproxyApi,
        *,
        guard: RequestGuard,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._api = api
        self._guard = guard
        self._idle_timeout = idle_timeout
        self._max_connections = max_connections
        self._clients: dict[asyncio.Task[None], _Client] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The `asyncio.start_server` callback: one client connection, until it or a limit ends it."""
        task = asyncio.current_task()
        assert task is not None
        if len(self._clients) >= self._max_connections and not self._make_room():
            self._refuse(writer)
            return
        client = _Client(writer, time.monotonic())
        self._clients[task] = client
        try:
            await self._serve(reader, writer, client)
        except TimeoutError:  # an answer not taken in time: drop it rather than wait to flush it
            writer.transport.abort()
        except (ConnectionError, h11.LocalProtocolError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), self._idle_timeout)

    async def close(self) -> None:
        """End every connection (an idle one sees EOF and returns), waiting a bounded time."""
        for client in self._clients.values():
            client.writer.close()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=2.0)

    def _make_room(self) -> bool:
        """Close the connection waiting longest for a request; False if every one is being answered."""
        waiting = [
            (client.waiting_since, task)
            for task, client in self._clients.items()
            if client.waiting_since is not None
        ]
        if not waiting:
            return False
        _, task = min(waiting, key=lambda item: item[0])
        self._clients.pop(task).writer.close()  # its handler sees EOF and returns
        return True

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        error = ApiError(503, f"too many API connections (limit {self._max_connections}); try again")
        with contextlib.suppress(Exception):
            writer.write(_encode(h11.Connection(h11.SERVER), Response.error(error)))
        writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: _Client
    ) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            client.waiting_since = time.monotonic()
            try:
                async with asyncio.timeout(self._idle_timeout):
                    got = await _read_request(reader, conn)
            except h11.RemoteProtocolError as exc:
                await self._answer_error(writer, conn, ApiError(exc.error_status_hint, f"bad request: {exc}"))
                return
            except TimeoutError:
                if conn.their_state is h11.SEND_BODY or conn.trailing_data[0]:  # a request had begun
                    message = f"request not received in full within {self._idle_timeout:g} s"
                    await self._answer_error(writer, conn, ApiError(408, message))
                return
            if got is None:
                return
            client.waiting_since = None
            request, body = got
            refusal = self._guard.refusal(request.headers)
            if refusal is not None:
                response = Response.error(refusal)
            else:
                method, target = request.method.decode(), request.target.decode("latin-1")
                response = await self._api.dispatch(method, target, body)
            await self._send(writer, conn, response)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    async def _answer_error(
        self, writer: asyncio.StreamWriter, conn: h11.Connection, error: ApiError
    ) -> None:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await self._send(writer, conn, Response.error(error))

    async def _send(self, writer: asyncio.StreamWriter, conn: h11.Connection, response: Response) -> None:
        writer.write(_encode(conn, response))
        async with asyncio.timeout(self._idle_timeout):
            await writer.drain()


def _encode(conn: h11.Connection, response: Response) -> bytes:
    body = response.body()
    headers: list[tuple[str, str]] = []
    if response.status != 204:  # a 204 carries neither a body nor its headers
        headers = [("Content-Length", str(len(body))), ("Content-Type", response.content_type)]
    data = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
    if body:
        data += conn.send(h11.Data(data=body)) or b""
    return data + (conn.send(h11.EndOfMessage()) or b"")


async def _read_request(
    reader: asyncio.StreamReader, conn: h11.Connection
) -> tuple[h11.Request, bytes] | None:
    """The next request and its body, or None when the client is gone."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            conn.receive_data(data)
            if not data and conn.their_state is not h11.SEND_BODY and request is None:
                return None
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise h11.RemoteProtocolError("request body too large", error_status_hint=413)
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            return None
