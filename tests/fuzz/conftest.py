"""One server for the schema fuzzer: the whole application on a real socket, with a fixed clock
(so the document's example case number is a real case), staff accounts logged in, and a few cases
in every state the staff API shows (filed, triaged for review, accepted with deadlines).

PostgreSQL when ``INTAKE_TEST_DATABASE_URL`` is set (as in CI), else SQLite."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import channels
from intake.clock import CHINA
from intake.domain import Accused, Reporter, Submission
from intake.staff import totp_now
from intake.workflow import Action
from server.app import build_app, services_of
from server.config import Settings
from tests.conftest import COUNTY_JURISDICTION, PG_URL, fresh_pg_database
from tests.fuzz.server import ThreadedServer
from tests.workflow.conftest import PASSWORD, SetClock

# The fuzz user (a supervisor: files, triages, acts) and one whose token only logout may spend.
FUZZ_USER, LOGOUT_USER = "fuzz_sup", "fuzz_leaver"


@dataclass
class FuzzServer:
    url: str
    app: Any
    tokens: dict[str, str]
    case_nos: list[str]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    def answers(self) -> dict[str, dict[int, int]]:
        """What the server answered, by route and status (its own request counter)."""
        out: dict[str, dict[int, int]] = {}
        for metric in services_of(self.app).metrics.http_requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    by_status = out.setdefault(sample.labels["route"], {})
                    by_status[int(sample.labels["status"])] = int(sample.value)
        return out

    def server_errors(self) -> dict[str, dict[int, int]]:
        return {
            route: {s: n for s, n in by_status.items() if s >= 500}
            for route, by_status in self.answers().items()
            if any(s >= 500 for s in by_status)
        }


async def _seed(app: Any, clock: SetClock) -> tuple[dict[str, str], list[str]]:
    services = services_of(app)
    tokens = {}
    for name, role in ((FUZZ_USER, "supervisor"), (LOGOUT_USER, "handler")):
        _, secret = await services.staff.add(name, "430121", role, PASSWORD)
        tokens[name], _, _ = await services.staff.login(
            name, PASSWORD, totp_now(secret, clock.now()), client="fuzz-seed"
        )
    case_nos = []
    for i, real_name in enumerate((True, False, False)):
        sub = Submission(
            channel="web",
            content=f"村支书张三在低保评定中优亲厚友（第{i + 1}件）。",
            accused=Accused("张三", "黄兴镇某村", "村支书"),
            reporter=Reporter("李四", None, "13800000000", None) if real_name else Reporter(),
            anonymous=not real_name,
            handles={"ip": "203.0.113.9"},
        )
        case_nos.append((await services.pipeline.accept(sub)).case_no)
    # The first case triaged for review (the queue and the triage decision have work), the second
    # accepted (deadlines on the board).
    report = await services.db.reports.get(case_nos[0])
    triage = {
        "category": "群众纪律",
        "scope": "accusation",
        "level": "county",
        "unit": {"id": "430121", "name": "长沙县纪委监委"},
        "priority": "normal",
        "confidence": 0.4,
        "evidence": ["优亲厚友"],
        "duplicate_of": None,
        "needs_review": True,
        "sealed": False,
    }
    columns = {k: triage[k] for k in ("scope", "level", "priority", "confidence", "duplicate_of")}
    await services.db.reports.set_triage(report.id, {**columns, "triage": triage}, clock.now())
    member = await services.staff.authenticate(tokens[FUZZ_USER])
    await services.workflow.act(member, case_nos[1], Action("accept"))
    return tokens, case_nos


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    data_dir.mkdir()
    server = ThreadedServer()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop_loop)  # last: the database is dropped from this loop
        env = {
            "INTAKE_DATA_DIR": str(data_dir),
            "INTAKE_LOG_LEVEL": "WARNING",
            # The county the seed's staff and cases belong to (the embedded default is now the
            # whole city: its receiving unit would own the cases, out of the county's sight).
            "INTAKE_JURISDICTION_FILE": str(COUNTY_JURISDICTION),
            # The fuzzer is one client sending thousands of requests: the per-client limits are
            # raised so that it reaches the handlers (429 stays a documented answer).
            "INTAKE_STATUS_ATTEMPTS_PER_MINUTE": "1000000",
            "INTAKE_REPORTS_PER_INFORMANT_PER_HOUR": "1000000",
        }
        if PG_URL:
            pg = fresh_pg_database()
            env["INTAKE_DATABASE_URL"] = server.run(pg.__aenter__())
            stack.callback(lambda: server.run(pg.__aexit__(None, None, None)))
        clock = SetClock(datetime(2025, 9, 26, 10, 0, tzinfo=CHINA))
        app = build_app(Settings.from_env(env), channels.REGISTRY, clock=clock, run_worker=False)
        server.serve(app)
        stack.callback(server.stop_app)
        tokens, case_nos = server.run(_seed(app, clock))
        fuzz = FuzzServer(server.url, app, tokens, case_nos)
        yield fuzz
        if os.environ.get("INTAKE_FUZZ_REPORT"):  # the figures, for a person reading along (-s)
            _print_figures(fuzz)


def _print_figures(fuzz: FuzzServer) -> None:
    answered = fuzz.answers()
    api = {r: s for r, s in answered.items() if r.startswith("/api/")}
    requests = sum(sum(s.values()) for s in api.values())
    print(f"\nfuzz: {requests} requests to {len(api)} API routes, 5xx: {fuzz.server_errors() or 0}")
    for name, report in fuzz.reports.items():
        tested, cases = report["operations"]["tested"], report["test_cases"]["generated"]
        print(f"  {name}: {tested} operations, {cases} cases, {report['running_time']:.1f} s")
        print(f"    warnings: { ({k: v for k, v in report['warnings'].items() if v}) }")
    for route, by_status in sorted(api.items()):
        print(f"  {route}: {dict(sorted(by_status.items()))}")
