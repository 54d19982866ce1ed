"""A loopback TCP proxy in front of a Redis that loses one reply: the first command holding
`marker` runs on the server, then the client's connection is cut before the reply reaches it
(as when a primary dies between running a command and answering). Everything else passes."""
from __future__ import annotations

import asyncio
from typing import List, Optional


class ReplyLosingProxy:
    def __init__(self, redis_port: int, marker: bytes) -> None:
        self.redis_port = redis_port
        self.marker = marker
        self.lost = False  # a reply was lost (the command had run)
        self.port = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: List[asyncio.Task] = []

    async def start(self) -> "ReplyLosingProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.redis_port)
        waiting = {"marked": False}  # a marked command was forwarded; its reply is next

        async def upstream() -> None:
            while chunk := await client_in.read(65536):
                if not self.lost and self.marker in chunk:
                    waiting["marked"] = True
                server_out.write(chunk)
                await server_out.drain()

        async def downstream() -> None:
            while chunk := await server_in.read(65536):
                if waiting["marked"] and not self.lost:
                    waiting["marked"] = False
                    if not chunk.startswith(b"-NOSCRIPT"):  # the script ran: lose its reply
                        self.lost = True
                        client_out.close()
                        server_out.close()
                        return
                client_out.write(chunk)
                await client_out.drain()

        self._tasks += [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
