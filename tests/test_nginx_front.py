"""The reverse-proxy example of docs/operations.md, run: real nginx (from Debian's package) with
``docs/examples/nginx.conf`` — only its ports and certificate paths changed — in front of a real
server. Through it the health check answers, the per-client query-code budget is keyed by the
address nginx saw (a client that forges ``X-Forwarded-For`` gets no fresh budget: the example
sets the header rather than appending to it), and video reception's WebSocket upgrade goes
through. Skipped where nginx is not installed, unless ``INTAKE_REQUIRE_NGINX=1`` (CI)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.test_durability import REPO, free_port, running_server, server_env

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
EXAMPLE = REPO / "docs" / "examples" / "nginx.conf"


def self_signed(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (folder / "xinfang.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "xinfang.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def render(example: str, upstream: int, listen: int, tls: Path) -> str:
    conf = example.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")
    conf = conf.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen} ssl;")
    conf = conf.replace("/etc/nginx/tls/", f"{tls}/")
    assert f"127.0.0.1:{upstream}" in conf and f"127.0.0.1:{listen}" in conf and str(tls) in conf
    return conf


@contextlib.contextmanager
def nginx(conf: Path, prefix: Path) -> Iterator[None]:
    assert NGINX is not None
    args = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(
        [*args, "-g", f"daemon off; pid {prefix / 'nginx.pid'};"], stdin=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_for(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url, ssl=False) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError(f"nginx did not answer at {url}")


async def test_the_nginx_example_in_front_of_the_server(data_dir: Path, tmp_path: Path) -> None:
    if NGINX is None:
        if os.environ.get("INTAKE_REQUIRE_NGINX") == "1":
            pytest.fail("INTAKE_REQUIRE_NGINX=1 but nginx is not installed")
        pytest.skip("nginx is not installed (Debian: nginx-light)")
    env = server_env(
        data_dir,
        None,
        INTAKE_LOG_LEVEL="WARNING",
        INTAKE_TRUST_FORWARDED_FOR="1",
        INTAKE_STATUS_ATTEMPTS_PER_MINUTE="2",
    )
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    self_signed(prefix)
    async with running_server(env, tmp_path / "server.log") as server:
        listen = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(render(EXAMPLE.read_text(), server.port, listen, prefix))
        base = f"https://127.0.0.1:{listen}"
        with nginx(conf, prefix):
            await wait_for(base + "/healthz")
            async with aiohttp.ClientSession() as session:
                statuses = []
                for i in range(4):  # each forging another address: nginx replaces the header
                    async with session.post(
                        base + "/api/v1/status",
                        json={"query_code": "ABCD-EFGH-JKLM-NPQR"},
                        headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                        ssl=False,
                    ) as resp:
                        statuses.append(resp.status)
                assert statuses == [404, 404, 429, 429]

                async with session.ws_connect(base + "/reception/ws/no-such-room", ssl=False) as ws:
                    await ws.send_json({"type": "join", "token": "forged"})
                    answer = await ws.receive_json(timeout=10)
                assert answer["type"] == "refused"  # the server answered over the upgraded socket
