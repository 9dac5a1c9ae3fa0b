"""Schemathesis against the running server, from the documents it serves: the public app API
(``/api/v1/openapi.json``) and, logged in as a supervisor, the staff API
(``/api/v1/staff/openapi.json``). Every generated request — the documents' examples, boundary
values of every limit, valid and invalid data — must get an answer the document lists for that
operation, with the content type and body schema it gives, and never a 5xx.

The fuzzer runs as its own process (its command line, ``schemathesis run``) so that it and the
server share the two cores; derandomized, with a budget of examples per operation. Its JSON report
says what it found; the server's own request counter says what it answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fuzz.conftest import FUZZ_USER, LOGOUT_USER, FuzzServer

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# The budget: 25 examples per operation (the staff API has 22 operations; at 40 it took ~2 minutes
# on two cores); deterministic generation tries the documents' examples and boundary values first.
# To fuzz harder by hand, set INTAKE_FUZZ_EXAMPLES (per operation) and INTAKE_FUZZ_SEED (random
# cases from that seed instead of the derandomized ones).
EXAMPLES_PER_OPERATION = int(os.environ.get("INTAKE_FUZZ_EXAMPLES") or 25)
SEED = os.environ.get("INTAKE_FUZZ_SEED")
# The staff user's token for every call, but logout, which spends a token of its own.
STAFF_CONFIG = """
headers = { Authorization = "Bearer ${FUZZ_TOKEN}" }

[[operations]]
include-operation-id = "staffLogout"
headers = { Authorization = "Bearer ${LOGOUT_TOKEN}" }
"""


def fuzz(server: FuzzServer, document: str, workdir: Path, config_text: str = "") -> dict[str, Any]:
    """``schemathesis run`` against ``document`` on the server; its JSON report."""
    config = workdir / "schemathesis.toml"
    config.write_text(config_text)
    reports = workdir / "reports"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        server.url + document,
        "--checks",
        CHECKS,
        *(["--seed", SEED] if SEED else ["--generation-deterministic"]),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--workers",
        "1",
        "--report",
        "json",
        "--report-dir",
        str(reports),
    ]
    env = {
        **os.environ,
        "FUZZ_TOKEN": server.tokens[FUZZ_USER],
        "LOGOUT_TOKEN": server.tokens[LOGOUT_USER],
    }
    # In the work directory: the fuzzer keeps a cache of what it found there.
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    (report,) = reports.glob("*.json")
    found: dict[str, Any] = json.loads(report.read_text())
    # The fuzzer's own account of what went wrong, shown when the test fails.
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    return found


def _assert_clean(report: dict[str, Any], operations: int) -> None:
    """Every operation tested (the fuzzer leaves out the document's own route, its input), nothing
    found."""
    assert report["complete"] and report["stop_reason"] == "completed"
    assert report["operations"]["tested"] == operations == report["operations"]["total"]
    assert report["failures"] == [] and report["errors"] == []
    assert report["test_cases"]["with_failures"] == 0 and report["test_cases"]["errored"] == 0


def test_the_app_api_answers_every_generated_request_as_documented(
    fuzz_server: FuzzServer, tmp_path: Path
) -> None:
    report = fuzz(fuzz_server, "/api/v1/openapi.json", tmp_path)
    _assert_clean(report, 6)  # reports, status, followups, feedback, reviews, receipt-key
    fuzz_server.reports["app"] = report
    assert fuzz_server.server_errors() == {}


def test_the_staff_api_answers_every_generated_request_as_documented(
    fuzz_server: FuzzServer, tmp_path: Path
) -> None:
    report = fuzz(fuzz_server, "/api/v1/staff/openapi.json", tmp_path, STAFF_CONFIG)
    # With the export, the letter OCR (issue 22), stats, alerts, measures, stats export and report,
    # clue results and the inbox with its marking (18).
    _assert_clean(report, 22)
    fuzz_server.reports["staff"] = report
    assert fuzz_server.server_errors() == {}
    # The token held: every route behind it answered something else than 401 as well.
    public = {"/api/v1/staff/login", "/api/v1/staff/openapi.json"}
    for route, by_status in fuzz_server.answers().items():
        if route.startswith("/api/v1/staff/") and route not in public:
            assert set(by_status) - {401}, f"{route} only ever answered 401"
