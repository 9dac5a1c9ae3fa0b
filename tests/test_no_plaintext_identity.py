"""No informant identity at rest in plaintext: file reports through the real server with
distinctive identity values, then read every byte the system wrote and find none of them.

On SQLite that is every file under the data directory (the database and its ``-wal``/``-shm``,
encrypted attachments, key files, ``logs/intake.log``), read raw; on PostgreSQL a plain
``pg_dump`` of the database (bytea columns appear there as hex, so values are looked for as hex
too). The accused's name and the report text *must* be found, which proves the scan can see what
is stored in the clear.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.scan import pg_dump
from tests.test_durability import ServerProcess, running_server, server_env

# The informant: none of these may be stored or logged in the clear.
REPORTER = {
    "name": "甄宝琮",
    "id_number": "430121199001011234",
    "phone": "13912345678",
    "address": "长沙县黄兴镇甄家湾村十七组8号",
}
CLIENT_IP = "127.45.67.89"  # a loopback address of its own, so it cannot be confused with others
# What the office needs to read: stored in the clear, never logged.
ACCUSED = "邬瀚霖"
FACTS = "邬瀚霖在审批宅基地时收取村民好处费每户三千元并要求现金支付"
ATTACHMENT = "甄宝琮提供的收据.txt"


def identity_needles() -> dict[str, list[bytes]]:
    """Each identity value as UTF-8 (ASCII for the digits and the address) and UTF-16."""
    needles: dict[str, list[bytes]] = {}
    for label, value in [*REPORTER.items(), ("client_ip", CLIENT_IP)]:
        needles[label] = [value.encode("utf-8"), value.encode("utf-16-le"), value.encode("utf-16-be")]
    return needles


def find(haystack: bytes, needles: dict[str, list[bytes]]) -> list[str]:
    return [label for label, forms in needles.items() if any(form in haystack for form in forms)]


async def file_reports(server: ServerProcess) -> list[str]:
    """A real-name report over the app API, its retry, and one through the web form with an
    attachment; all from ``CLIENT_IP``. Returns the query codes."""
    report = {
        "title": "反映宅基地审批收取好处费问题",
        "content": FACTS + "。相关收据已作为附件提交，请纪委调查核实。",
        "category": "廉洁纪律",
        "accused": {"name": ACCUSED, "unit": "黄兴镇人民政府", "position": "副镇长"},
        "location": {"division_code": "430121102", "text": "黄兴镇"},
        "reporter": REPORTER,
        "anonymous": False,
    }
    connector = aiohttp.TCPConnector(local_addr=(CLIENT_IP, 0))
    codes: list[str] = []
    # unsafe: keep the form's cookie although the server is addressed by IP.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        for _ in range(2):  # the retry goes through the idempotency path (sealed receipt)
            async with session.post(
                server.base + "/api/v1/reports", json=report, headers={"Idempotency-Key": "plain-1"}
            ) as resp:
                assert resp.status in (200, 201), await resp.text()
                codes.append((await resp.json())["query_code"])
        async with session.post(server.base + "/api/v1/status", json={"query_code": codes[0]}) as resp:
            assert resp.status == 200

        async with session.get(server.base + "/", headers={"Accept": "text/html"}) as resp:
            assert resp.status == 200
            page = await resp.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = aiohttp.FormData()
        fields = {
            "csrf": csrf.group(1),
            "accused_name": ACCUSED,
            "accused_unit": "黄兴镇人民政府",
            "title": "补充反映",
            "content": FACTS + "（网页提交）",
            "identity": "real",
            "reporter_name": REPORTER["name"],
            "reporter_id_number": REPORTER["id_number"],
            "reporter_phone": REPORTER["phone"],
            "reporter_address": REPORTER["address"],
        }
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field(
            "attachments",
            f"收据：{REPORTER['name']} 交给 {ACCUSED} 三千元。\n".encode(),
            filename=ATTACHMENT,
            content_type="text/plain",
        )
        async with session.post(server.base + "/reports", data=form) as resp:
            assert resp.status == 201, await resp.text()
    return codes


def test_needles_are_distinct() -> None:
    # The accused's name must not overlap an identity value, or the positive control proves nothing.
    for forms in identity_needles().values():
        assert not any(form in ACCUSED.encode() or form in FACTS.encode() for form in forms)


async def test_sqlite_files_hold_no_plaintext_identity(data_dir: Path, tmp_path: Path) -> None:
    env = server_env(data_dir, None, INTAKE_LOG_LEVEL="INFO")
    async with running_server(env, tmp_path / "server.log") as server:
        await file_reports(server)
        live = _scan_data_dir(data_dir)  # with the -wal and -shm files as the server has them
    stopped = _scan_data_dir(data_dir)  # and after the shutdown checkpoint

    for scan in (live, stopped):
        assert scan["identity"] == {}, scan["identity"]
        assert scan["accused_found"] and scan["facts_found"], "the scan must see the report itself"
    files = {p.relative_to(data_dir).as_posix() for p in _data_files(data_dir)}
    assert "intake.db" in files
    assert any(f.startswith("blobs/") for f in files), files
    assert any(f.startswith("keys/") for f in files), files

    lines = _log_lines(data_dir)
    assert len(lines) >= 3, "the log must have lines, or scanning it proves nothing"
    text = "\n".join(lines)
    assert "report accepted" in text
    assert ACCUSED not in text and FACTS not in text and "宅基地" not in text


def _data_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def _log_lines(data_dir: Path) -> list[str]:
    return (data_dir / "logs" / "intake.log").read_text(encoding="utf-8").splitlines()


def _scan_data_dir(data_dir: Path) -> dict[str, Any]:
    needles = identity_needles()
    identity: dict[str, list[str]] = {}
    accused_found = facts_found = False
    for path in _data_files(data_dir):
        raw = path.read_bytes()
        hits = find(raw, needles)
        if hits:
            identity[path.relative_to(data_dir).as_posix()] = hits
        accused_found = accused_found or ACCUSED.encode() in raw
        facts_found = facts_found or FACTS.encode() in raw
    return {"identity": identity, "accused_found": accused_found, "facts_found": facts_found}


@pytest.mark.postgres
async def test_postgresql_dump_holds_no_plaintext_identity(
    pg_url: str, data_dir: Path, tmp_path: Path
) -> None:
    env = server_env(data_dir, pg_url, INTAKE_LOG_LEVEL="INFO")
    async with running_server(env, tmp_path / "server.log") as server:
        await file_reports(server)
    dump = pg_dump(pg_url)
    assert b"COPY public.reports" in dump

    needles = identity_needles()
    # bytea columns are dumped as hex (\x...): look for every value as hex as well.
    for forms in needles.values():
        forms.extend([form.hex().encode() for form in list(forms)])
    assert find(dump, needles) == []
    assert ACCUSED.encode() in dump and FACTS.encode() in dump

    # The data directory (keys, attachments, the log) holds none either.
    assert _scan_data_dir(data_dir)["identity"] == {}
