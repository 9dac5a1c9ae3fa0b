"""Video reception signaling: relay latency and how many idle rooms one server process holds.

Starts ``intake serve`` in a child process on a loopback port (a fresh data directory), then from
this process:

1. **Latency.** Two participants join one room; the township screen sends a ``candidate`` message
   to the officer, who sends it straight back: ``--messages`` round trips through the server's
   relay (JSON parse, seat lookup, send). Prints p50/p99 of the round trip (two relays).
2. **Idle rooms.** ``--rooms`` rooms, each with both seats joined and then silent (the WebSocket
   heartbeat keeps running). Prints the server's resident memory before and after, per room, and
   checks the last room still relays. Tokens are signed here with the data directory's keyring,
   exactly as the server signs them (rooms need no booking to exist for the relay).

3. **Media rooms** (issue 20, :mod:`bench.reception_media`). ``--media-rooms`` walk-in sessions
   in as many township rooms of the city at once, each with two aiortc peers sending a synthetic
   camera and microphone on loopback and the server's recorder in the room; then the same with
   one room. Prints the server's CPU and memory per room, the signaling p99 under that load and
   the recorded bytes per minute per room. ``--seconds`` is the measured window of each.

    .venv/bin/python bench/reception_rooms.py [--rooms 1000] [--messages 2000] \
        [--media-rooms 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import reception_media as media  # noqa: E402
from intake.reception.tokens import RoomTokens  # noqa: E402
from storage import keys  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _join(http: aiohttp.ClientSession, url: str, room: str, token: str) -> Any:
    ws = await http.ws_connect(f"{url}/reception/ws/{room}", heartbeat=None)
    await ws.send_json({"type": "join", "token": token})
    welcome = await ws.receive_json()
    assert welcome["type"] == "welcome", welcome
    return ws


async def main(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    data: Path,
    port: int,
    hard: int,
    secrets: dict[str, str],
) -> None:
    tokens = RoomTokens(keys.load_or_create(data).mac, 3600)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            for _ in range(1200):  # a loaded machine: up to two minutes to start
                try:
                    async with http.get(f"{url}/healthz") as resp:
                        if resp.status == 200 and "reception" in (await resp.json())["channels"]:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("server did not start with the reception feature")
            now = datetime.now(UTC)

            def token(room: str, role: str) -> str:
                return tokens.issue(room, role, role, now)[0]

            # 1. latency
            host = await _join(http, url, "latency", token("latency", "host"))
            officer = await _join(http, url, "latency", token("latency", "officer"))
            await host.receive_json()  # peer-joined
            rtts = []
            for i in range(args.messages):
                started = time.perf_counter()
                await host.send_json({"type": "candidate", "to": "officer", "candidate": {"i": i}})
                got = await officer.receive_json()
                await officer.send_json({"type": "candidate", "to": "host", "candidate": got["candidate"]})
                back = await host.receive_json()
                assert back["candidate"] == {"i": i}
                rtts.append(time.perf_counter() - started)
            rtts.sort()
            p50 = statistics.median(rtts) * 1000
            p99 = rtts[int(len(rtts) * 0.99) - 1] * 1000
            print(f"signaling round trip (two relays): p50={p50:.3f} ms p99={p99:.3f} ms n={len(rtts)}")
            print(f"one relay hop ≈ {p50 / 2:.3f} ms (p50)")
            await host.close()
            await officer.close()

            # 3. media rooms: one, then --media-rooms at once (before the idle rooms: a clean server)
            if args.media_rooms:
                bench = media.Bench(http, url, server.pid, secrets)
                await bench.login()
                rooms = media.rooms_of_the_city(args.media_rooms + 1)
                media.report(await bench.run(rooms[:1], args.seconds, tokens))
                media.report(await bench.run(rooms[1:], args.seconds, tokens))

            # 2. idle rooms
            if not args.rooms:
                return
            await asyncio.sleep(0.5)
            before = _rss_kib(server.pid)
            sockets = []
            started = time.perf_counter()
            for n in range(args.rooms):
                room = f"idle-{n}"
                sockets.append(await _join(http, url, room, token(room, "host")))
                sockets.append(await _join(http, url, room, token(room, "officer")))
                await sockets[-2].receive_json()  # peer-joined
            took = time.perf_counter() - started
            await asyncio.sleep(1.0)
            after = _rss_kib(server.pid)
            await sockets[-2].send_json({"type": "ping", "t": 1})
            assert (await sockets[-2].receive_json())["type"] == "pong"
            per_room = (after - before) / args.rooms
            print(
                f"idle rooms held: {args.rooms} ({2 * args.rooms} WebSockets) joined in {took:.1f} s; "
                f"server RSS {before / 1024:.1f} MiB → {after / 1024:.1f} MiB, ≈ {per_room:.1f} KiB per room"
            )
            budget = 1024 * 1024  # KiB in 1 GiB
            print(
                f"≈ {int(budget / max(per_room, 0.1)):,} idle rooms per GiB of server memory; fd limit {hard}"
            )
            for ws in sockets:
                await ws.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--media-rooms", type=int, default=20, help="0: no media rooms")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per media run")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # two sockets per room, both ends here
    data = Path(tempfile.mkdtemp(prefix="reception-bench-"))
    port = _free_port()
    secrets: dict[str, str] = {}
    if args.media_rooms:
        media.loopback_ice()
        secrets = asyncio.run(media.make_accounts(data, media.rooms_of_the_city(args.media_rooms + 1)))
    env = {**os.environ, "INTAKE_DATA_DIR": str(data), "INTAKE_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-c", media.SERVER, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    asyncio.run(main(args, server, data, port, hard, secrets))


if __name__ == "__main__":
    run()
