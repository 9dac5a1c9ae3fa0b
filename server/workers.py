"""``intake serve --workers N``: N server processes on one port (``SO_REUSEPORT``: the kernel
spreads the connections over them), watched by this one (issue 21).

Each worker is a whole ``intake serve --reuse-port`` process: its own event loop, group-commit
writer, job loop and triage child. What they must count together (limits, spent one-time values,
jobs, case numbers, the audit chain, reception rooms) is in the PostgreSQL database they share, so
any worker may take any request. The supervisor restarts a worker that dies (after
:data:`RESTART_DELAY` seconds), gives up when workers keep dying right after their start (a
configuration the worker refuses), and on SIGTERM or SIGINT passes the signal on and waits for the
workers to finish their requests. A worker ends with its supervisor even after ``kill -9`` of the
supervisor (Linux: ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from server.config import cores

RESTART_DELAY = 1.0
QUICK_DEATH = 10.0  # a worker that dies sooner than this after its start counts as failing to start
MAX_QUICK_DEATHS = 5
STOP_GRACE = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):  # not Linux: it outlives a killed supervisor
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, worker_argv: Sequence[str], count: int) -> None:
        self.argv = list(worker_argv)
        self.count = count
        self.workers: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self.stopping: int | None = None

    def _spawn(self, slot: int) -> None:
        # The cores are shared among the workers' triage processes unless the operator said.
        env = dict(os.environ)
        env.setdefault("INTAKE_TRIAGE_PROCESSES", str(max(1, cores() // (2 * self.count))))
        # Our own interpreter and command line, no shell.
        proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)  # noqa: S603
        self.workers[slot] = (proc, time.monotonic())
        print(f"intake: 第 {slot + 1} 个工作进程已启动（进程号 {proc.pid}）", file=sys.stderr)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = signum
        for proc, _ in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for slot in range(self.count):
            self._spawn(slot)
        quick_deaths = 0
        while self.stopping is None:
            time.sleep(0.2)
            for slot, (proc, started) in list(self.workers.items()):
                code = proc.poll()
                if code is None or self.stopping is not None:
                    continue
                quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH else 0
                print(f"intake: 第 {slot + 1} 个工作进程已退出（退出码 {code}）", file=sys.stderr)
                if quick_deaths >= MAX_QUICK_DEATHS:
                    print("intake: 工作进程启动后接连退出，请查看日志；服务已停止。", file=sys.stderr)
                    self._on_signal(signal.SIGTERM, None)
                    self._wait()
                    return 1
                time.sleep(RESTART_DELAY)
                self._spawn(slot)
        self._wait()
        return 0

    def _wait(self) -> None:
        deadline = time.monotonic() + STOP_GRACE
        for proc, _ in self.workers.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
