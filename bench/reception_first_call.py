"""Video reception: the first booking and walk-in after server start, against the warm ones.

Builds the application as ``intake serve`` does (job worker and start-up warm-up on; SQLite in a
fresh data directory, the Changsha county test jurisdiction), serves it on a loopback port in
this process, signs in township staff, waits ``--settle`` seconds (the start-up warm-up runs in
the background meanwhile), then times, one after another:

* a bare walk-in (``POST /reception/api/sessions {"unit", "walk_in": true}``; no triage),
* ``--bookings`` bookings (``POST /reception/api/bookings``, facts, accused, a sealed identity),
* two walk-ins with facts and an accused (routed by triage, like a booking).

Prints each call's time and the first call of each kind against the same run's warm calls (the
baseline: the later calls of that kind). Issue 20: the first booking took ≈ 2 s because
``intake.services.triage_text`` loaded triage (jieba's dictionary, the gazetteer, the
jurisdiction's index) in the request; the server now loads it at start-up.

    .venv/bin/python bench/reception_first_call.py [--settle 10] [--bookings 3]

``--settle 0`` shows a booking sent while the warm-up is still running (it waits for it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

import channels  # noqa: E402
from intake.staff import totp_now  # noqa: E402
from server.app import build_app, services_of  # noqa: E402
from server.config import Settings  # noqa: E402
from video_reception import feature  # noqa: E402

JURISDICTION = ROOT / "tests" / "fixtures" / "jurisdiction" / "changsha_county.json"
TOWNSHIPS = ("430121102", "430121104", "430121106", "430121001")  # 黄兴镇 and three more rooms
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway bench account)
FACTS = "反映黄兴镇某村党支部书记张某侵占集体土地补偿款。"
ACCUSED = {"name": "张某", "unit": "黄兴镇某村", "position": "村党支部书记"}


def _rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


async def run(settle: float, bookings: int) -> None:
    data = tempfile.mkdtemp(prefix="reception-first-")
    settings = Settings.from_env(
        {
            "INTAKE_DATA_DIR": data,
            "INTAKE_LOG_LEVEL": "WARNING",
            "INTAKE_JURISDICTION_FILE": str(JURISDICTION),
            "INTAKE_RECEPTION_SERVER_RECORDING": "0",
        }
    )
    started = time.perf_counter()
    app = build_app(settings, channels.REGISTRY, run_worker=True, features=[feature])
    client = TestClient(TestServer(app))
    await client.start_server()
    print(f"server up in {time.perf_counter() - started:.2f} s, RSS {_rss_mib()} MiB")
    services = services_of(app)
    assert services.staff is not None
    tokens: dict[str, str] = {}
    for i, unit in enumerate(TOWNSHIPS):
        _, secret = await services.staff.add(f"town{i}", unit, "registrar", PASSWORD)
        tokens[unit], _, _ = await services.staff.login(
            f"town{i}", PASSWORD, totp_now(secret, services.clock.now()), client="bench"
        )
    await asyncio.sleep(settle)
    print(f"after {settle:.0f} s settling: RSS {_rss_mib()} MiB")
    times: dict[str, list[float]] = {}

    async def timed(kind: str, path: str, unit: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {tokens[unit]}"}
        t = time.perf_counter()
        if body is None:
            resp = await client.get(path, headers=headers)
        else:
            resp = await client.post(path, json=body, headers=headers)
        elapsed = time.perf_counter() - t
        doc = await resp.json()
        assert resp.status in (200, 201), doc
        times.setdefault(kind, []).append(elapsed)
        print(f"  {kind:22s} #{len(times[kind])}  {elapsed * 1000:8.1f} ms")
        return doc

    sessions = "/reception/api/sessions"
    await timed("walk-in (bare)", sessions, TOWNSHIPS[0], {"unit": TOWNSHIPS[0], "walk_in": True})
    await timed("walk-in (bare)", sessions, TOWNSHIPS[1], {"unit": TOWNSHIPS[1], "walk_in": True})
    for _ in range(bookings):
        town = TOWNSHIPS[2]
        slots = (await timed("slots", f"/reception/api/slots?township={town}", town))["slots"]
        body = {
            "township": town,
            "slot": next(s["start"] for s in slots if s["free"]),
            "facts": FACTS,
            "accused": ACCUSED,
            "reporter": {"name": "李秀英", "id_number": "430121198001011234", "phone": "13812345678"},
        }
        await timed("booking", "/reception/api/bookings", town, body)
    # Walk-ins with facts and an accused are routed by triage too (warm by now, in any case).
    for town in TOWNSHIPS[2:]:
        await timed(
            "walk-in (facts)",
            sessions,
            town,
            {"unit": town, "walk_in": True, "facts": FACTS, "accused": ACCUSED},
        )
    await client.close()
    print(f"RSS at the end {_rss_mib()} MiB")
    print("first call against the same run's warm calls (baseline: median of the later ones):")
    for kind, spent in times.items():
        if len(spent) < 2:
            continue
        warm = statistics.median(spent[1:])
        first = spent[0]
        print(f"  {kind:22s} first {first * 1000:8.1f} ms  warm {warm * 1000:7.1f} ms  ×{first / warm:6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds between start and the first call")
    parser.add_argument("--bookings", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.settle, max(2, args.bookings)))


if __name__ == "__main__":
    main()
