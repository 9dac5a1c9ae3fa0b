"""A throwaway PostgreSQL cluster of the test's own, to stop and start under a running server.

The shared server (``INTAKE_TEST_DATABASE_URL``) cannot be stopped by one test: this starts a
cluster with the machine's PostgreSQL binaries (``initdb`` into a temporary folder, trust auth,
loopback only, on a free port), as the ``postgres`` user when the tests run as root (``initdb``
refuses root; ``.ci/run`` does the same). It is stopped and its folder removed when the context
ends, whatever the test did. Missing binaries skip the test, or fail it under
``INTAKE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PGBIN = Path(os.environ.get("INTAKE_TEST_PGBIN", "/usr/lib/postgresql/15/bin"))
REQUIRE_PG = os.environ.get("INTAKE_REQUIRE_POSTGRES") == "1"
INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    folder: Path
    port: int
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        data, log = str(self.folder / "data"), str(self.folder / "log")
        # fsync=off: a stopped or killed server loses nothing with it (what a commit wrote is in the
        # kernel's cache, and the machine does not crash in a test); only a power cut would.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*self.as_postgres, str(PGBIN / "pg_ctl"), "-D", data, "-l", log, "-o", options, *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start and wait until it accepts connections (``pg_ctl -w``)."""
        self._pg_ctl("-w", "start")

    def stop(self) -> None:
        """Stop at once, as a crash would: connections are cut, nothing is shut down cleanly."""
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def running(self) -> bool:
        return (self.folder / "data" / "postmaster.pid").exists()

    def server_log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running cluster; stopped and deleted afterwards, even when the test failed."""
    if not (PGBIN / "initdb").exists():
        if REQUIRE_PG:
            pytest.fail(f"INTAKE_REQUIRE_POSTGRES=1 but there is no {PGBIN / 'initdb'}")
        pytest.skip(f"PostgreSQL binaries not found in {PGBIN}")
    # Not under pytest's tmp_path: that is private to root, and the cluster runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="intake-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(folder, _free_port(), as_postgres)
    try:
        subprocess.run(
            [*as_postgres, str(PGBIN / "initdb"), "-D", str(folder / "data"), *INITDB_OPTIONS],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
