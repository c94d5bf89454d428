"""Browsers attacking the line, in a process of their own so they do not slow the drill's clocks.

    python -m drills.attackers PORT ANONYMOUS FLOOD SECONDS

``ANONYMOUS`` clients with no sign-in keep opening engine.io websockets to the front from
ten loopback addresses (127.0.0.2-11): when one is accepted it stays open and answers
every ping, as the attack in issue 12 did; when it is refused it keeps its connection
idle as long as the server allows, then asks again. ``FLOOD`` clients (each from its own
address, 127.0.0.12 on) keep failing to sign in with a fresh username each time. After
``SECONDS`` it prints what happened as JSON.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import re
import resource
import sys
import threading
import time
import uuid
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ADDRESSES = [f"127.0.0.{n}" for n in range(2, 12)]
FLOOD_ADDRESSES = [f"127.0.0.{n}" for n in range(12, 42)]


class _From(HTTPAdapter):
    """Connect from a given loopback address, so the flood comes from many addresses."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Bind every connection's source address."""
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


class Tally:
    """Counts shared by the attackers."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.open_websockets = 0
        self.most_open = 0
        self.lock = threading.Lock()

    def add(self, name: str) -> None:
        """Count one ``name``."""
        with self.lock:
            self.counts[name] += 1


def _frame(text: bytes) -> bytes:
    """A masked websocket text frame (clients must mask), for short payloads."""
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    )


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tally: Tally) -> None:
    """Keep an accepted websocket open, answering each engine.io ping ("2") with a pong."""
    with tally.lock:
        tally.open_websockets += 1
        tally.most_open = max(tally.most_open, tally.open_websockets)
    try:
        while True:
            head = await reader.readexactly(2)
            length = head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(length)
            if head[0] & 0x0F == 0x8:
                return
            if payload == b"2":
                writer.write(_frame(b"3"))
                await writer.drain()
    finally:
        with tally.lock:
            tally.open_websockets -= 1


async def _anonymous(port: int, source: str, tally: Tally, stop: asyncio.Event) -> None:
    """One anonymous client: ask for a websocket, hold it if given, idle if refused."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
        except OSError:
            tally.add("connection failed")
            await asyncio.sleep(1)
            continue
        try:
            while not stop.is_set():
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write(
                    f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                status = int(head.split()[1])
                tally.add(f"websocket answer {status}")
                if status == 101:
                    await _hold(reader, writer, tally)
                    break
                length = re.search(r"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if await reader.read(1) == b"":  # idle until the server hangs up
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            tally.add("connection dropped")
        finally:
            writer.close()
        await asyncio.sleep(1)  # a browser's reconnection delay


def _flood(base: str, source: str, tally: Tally, stopping: threading.Event) -> None:
    """One client failing to sign in, a fresh username each time."""
    while not stopping.is_set():
        browser = requests.Session()
        browser.mount("http://", _From(source))
        try:
            page = browser.get(f"{base}/login", timeout=30).text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            answer = browser.post(
                f"{base}/login",
                data={
                    "username": f"nobody-{uuid.uuid4().hex[:12]}",
                    "password": uuid.uuid4().hex,
                    "csrf_token": token.group(1) if token else "",
                },
                allow_redirects=False,
                timeout=30,
            )
            tally.add(f"sign-in answer {answer.status_code}")
        except requests.RequestException:
            tally.add("sign-in failed")
            time.sleep(0.5)


async def attack(port: int, anonymous: int, flood: int, seconds: float) -> dict[str, Any]:
    """Run both attacks for ``seconds``; return the tally."""
    tally, stop, stopping = Tally(), asyncio.Event(), threading.Event()
    floods = [
        threading.Thread(
            target=_flood,
            args=(
                f"http://127.0.0.1:{port}",
                FLOOD_ADDRESSES[n % len(FLOOD_ADDRESSES)],
                tally,
                stopping,
            ),
        )
        for n in range(flood)
    ]
    for thread in floods:
        thread.start()
    clients = [
        asyncio.create_task(_anonymous(port, ADDRESSES[n % len(ADDRESSES)], tally, stop))
        for n in range(anonymous)
    ]
    await asyncio.sleep(seconds)
    stop.set()
    stopping.set()
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    for thread in floods:
        thread.join(timeout=35)
    return {"counts": dict(tally.counts), "most_open_websockets": tally.most_open}


def main() -> None:
    """Attack, then print the tally as one JSON line."""
    port, anonymous, flood, seconds = sys.argv[1:5]
    _, most = resource.getrlimit(resource.RLIMIT_NOFILE)  # a socket each, and then some
    wanted = 65536 if most == resource.RLIM_INFINITY else most
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, most))
    print(f"attacking {anonymous} websockets + {flood} sign-in flooders", flush=True)
    result = asyncio.run(attack(int(port), int(anonymous), int(flood), float(seconds)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
