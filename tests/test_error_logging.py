"""What an error leaves behind: in the log the exception's type, a stable code and its frames,
never its message, a chained exception's message, an SQL parameter or a client's address; in the
answer no server version, and a 405 that names the allowed methods; from a command without its
database, one sentence."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

import channels
from server.app import build_app, services_of
from server.config import Settings
from storage.db import Batch
from tests.test_durability import free_port, intake_cli, server_env

NAME, ID_NUMBER, PHONE = "欧阳振华", "430121199001011234", "13907317788"
ADDRESS = "203.0.113.77"


async def _boom(_request: web.Request) -> web.Response:
    # As a parser would fail on a hostile part: the identity in the message, and in the cause's.
    try:
        raise KeyError(f"证件_{NAME}_{ID_NUMBER}.png")
    except KeyError as exc:
        raise ValueError(f"bad identity proof {NAME} {PHONE}") from exc


async def _boom_sql(request: web.Request) -> web.Response:
    # A real statement of the product's writer failing, with identity among its parameters.
    async def insert(batch: Batch) -> None:
        await batch.conn.execute(
            sa.text("INSERT INTO no_such_table (name, id_number) VALUES (:name, :id)"),
            {"name": NAME, "id": ID_NUMBER},
        )

    await services_of(request.app).db.writer.run(insert)
    return web.Response()


def _log_lines(data_dir: Path) -> list[dict[str, Any]]:
    text = (data_dir / "logs" / "intake.log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.usefixtures("file_logs")
async def test_an_unhandled_error_logs_its_type_and_frames_only(
    aiohttp_client: Any, settings: Settings, data_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    app = build_app(settings, channels.REGISTRY, run_worker=False)
    app.router.add_get("/test/boom", _boom)
    app.router.add_get("/test/boom-sql", _boom_sql)
    client = await aiohttp_client(app)
    for path in ("/test/boom", "/test/boom-sql"):
        resp = await client.get(path, headers={"X-Forwarded-For": ADDRESS})
        assert resp.status == 500
        assert (await resp.json())["error"]["code"] == "internal_error"
    # A library's own log line with a client's address among its arguments (aiohttp's "Error
    # handling request from %s" after a protocol error).
    logging.getLogger("aiohttp.server").error("Error handling request from %s", ADDRESS)

    written = (data_dir / "logs" / "intake.log").read_text(encoding="utf-8") + capfd.readouterr().err
    for needle in (NAME, ID_NUMBER, PHONE, ADDRESS, "bad identity proof", "Traceback"):
        assert needle not in written, needle
    errors = [line for line in _log_lines(data_dir) if line.get("reason") == "internal_error"]
    assert [(e["route"], e["error"]) for e in errors] == [
        ("/test/boom", "ValueError"),
        ("/test/boom-sql", "OperationalError"),
    ]
    # What is written still finds the fault: each exception of the chain, with its frames.
    assert errors[0]["trace"][0].startswith("KeyError at tests/test_error_logging.py:")
    assert errors[0]["trace"][1].startswith("ValueError at tests/test_error_logging.py:")
    assert ":_boom" in errors[0]["trace"][1]
    assert any(":_boom_sql" in part for part in errors[1]["trace"])


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/api/v1/reports", {"POST"}), ("POST", "/healthz", {"GET", "HEAD"})],
)
async def test_405_names_the_allowed_methods(client: Any, method: str, path: str, allowed: set[str]) -> None:
    resp = await client.request(method, path)
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed


async def test_the_server_header_names_no_software_version(
    client: Any, make_settings: Callable[..., Settings]
) -> None:
    answers = [
        await client.get("/healthz"),
        await client.post("/api/v1/reports", json={"content": "反映问题"}),
        await client.get("/no/such/page"),
        await client.put("/api/v1/reports"),
        await client.get("/", headers={"Accept": "text/html"}),
        await client.get("/no/such/page", headers={"Accept": "text/html"}),
    ]
    assert [r.status for r in answers] == [200, 201, 404, 405, 200, 404]
    for resp in answers:
        server = resp.headers.get("Server", "")
        assert "aiohttp" not in server.lower() and "python" not in server.lower(), server


def test_a_command_without_its_database_says_so_without_a_traceback(tmp_path: Path) -> None:
    # Nothing listens on this port: the connection is refused, as with PostgreSQL stopped.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/intake"
    done = intake_cli(server_env(tmp_path / "data", url), "reports", "list")
    assert done.returncode == 3, done.stderr
    assert "the database cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr
