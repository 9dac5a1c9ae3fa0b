"""The intake benchmark's floor (issue 21): aiohttp's own JSON echo with the intake server's
settings — ``web.run_app`` with no access log, the same loopback host and a port from the
command line — answering ``POST /api/v1/reports`` by parsing the JSON body and answering 201 with
a small JSON document holding a ``case_no``. What a request costs the framework and the kernel
before any intake work: ``bench/intake_throughput.py`` divides the server's CPU per report by this
server's CPU per request (``cpu_ratio``).

    .venv/bin/python bench/echo_server.py --port 8099
"""

from __future__ import annotations

import argparse
import json
import secrets

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    body = await request.json()
    doc = {"case_no": f"E-{secrets.token_hex(4)}", "query_code": "0" * 16, "chars": len(body["content"])}
    return web.json_response(doc, status=201, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.router.add_post("/api/v1/reports", echo)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
