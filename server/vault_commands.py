"""``intake vault …``: key rotation, custodians, the reveal workflow and crypto-shredding.

Registered by :func:`add_commands` on the ``intake`` command line (``server.cli.build_parser``).
Every command prints JSON on stdout (``vault open`` prints the revealed identity: that is its job)
and messages on stderr; a refusal exits 1 with its stable code, after it was written to the audit
chain. See ``docs/vault.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

from intake.clock import SystemClock
from intake.errors import IntakeError
from intake.vault_service import REQUEST_KINDS, VaultPolicy, VaultService
from server.config import Settings
from storage import keys
from storage.database import Database
from storage.key_rotation import retire_old_keys, rotate
from storage.keys import KeyError_, ReadOnlyKeysError
from storage.vault_store import RevealRequestRecord, VaultStore, VaultStoreError

T = TypeVar("T")
Command = Callable[[argparse.Namespace, Settings], int]


def add_commands(subparsers: Any) -> None:
    """Add ``vault`` and its sub-commands to the ``intake`` parser's sub-parsers."""
    vault = subparsers.add_parser(
        "vault", help="the identity vault: keys, custodians, reveals"
    ).add_subparsers(dest="vault_command", required=True)

    rot = vault.add_parser(
        "rotate",
        help="new key-encryption key; re-wrap every data key (resumable: run again to continue)",
    )
    rot.add_argument("--batch-size", type=int, default=1000, help="entries per transaction")
    rot.add_argument(
        "--retire-old",
        action="store_true",
        help="make no new key: finish a pending rotation, then remove the old versions nothing uses",
    )
    rot.add_argument(
        "--print-env",
        action="store_true",
        help="with INTAKE_MASTER_KEY and --retire-old: print the variable's new value",
    )
    rot.add_argument("--actor", help="recorded in the audit chain (default cli:<login>)")
    rot.set_defaults(func=_rotate)

    vault.add_parser("status", help="profile, key versions, entries per version, custodians").set_defaults(
        func=_status
    )
    vault.add_parser("keygen", help="print a fresh base64 key (for INTAKE_MASTER_KEY)").set_defaults(
        func=_keygen
    )

    cust = vault.add_parser("custodian", help="who may request, approve and open reveals").add_subparsers(
        dest="custodian_command", required=True
    )
    for name, func, text in (
        ("add", _custodian_add, "register a custodian"),
        ("remove", _custodian_remove, "remove a custodian"),
    ):
        p = cust.add_parser(name, help=text)
        p.add_argument("name")
        p.add_argument("--actor", help="recorded in the audit chain (default cli:<login>)")
        p.set_defaults(func=func)
    cust.add_parser("list", help="active custodians").set_defaults(func=_custodian_list)

    req = vault.add_parser("request", help="ask to reveal a report's identity, handles or IP address")
    req.add_argument("case_no")
    req.add_argument("--kind", choices=REQUEST_KINDS, default="identity")
    req.add_argument("--actor", required=True, help="the requesting custodian")
    req.add_argument("--reason", required=True)
    req.add_argument(
        "--commission-ref",
        help="approval reference of a city-level or higher commission (anonymous reports' handles/IP)",
    )
    req.set_defaults(func=_request)

    appr = vault.add_parser("approve", help="approve another custodian's request")
    appr.add_argument("request_id", type=uuid.UUID)
    appr.add_argument("--actor", required=True)
    appr.set_defaults(func=_approve)

    deny = vault.add_parser("deny", help="deny a request (the requester: withdraw it)")
    deny.add_argument("request_id", type=uuid.UUID)
    deny.add_argument("--actor", required=True)
    deny.add_argument("--note")
    deny.set_defaults(func=_deny)

    opn = vault.add_parser("open", help="open an approved request (once) and print what it reveals")
    opn.add_argument("request_id", type=uuid.UUID)
    opn.add_argument("--actor", required=True)
    opn.add_argument(
        "--files-to",
        type=Path,
        metavar="DIR",
        help="write the informant's identity documents into DIR (created 0700, files 0600) instead of "
        "printing them as base64",
    )
    opn.set_defaults(func=_open)

    lst = vault.add_parser("requests", help="reveal requests, newest first")
    lst.add_argument("--status", choices=("pending", "approved", "denied", "expired", "opened"))
    lst.set_defaults(func=_requests)

    vault.add_parser("expire", help="mark requests whose window passed as expired").set_defaults(func=_expire)

    shred = vault.add_parser("shred", help="destroy the data keys of entries older than the retention period")
    shred.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    shred.add_argument("--actor", help="recorded in the audit chain (default cli:<login>)")
    shred.set_defaults(func=_shred)


# --- plumbing --------------------------------------------------------------------------------------


def _run(settings: Settings, fn: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keyring = keys.load_or_create(settings.data_dir, env=settings.env)
        db = Database(settings.database_url, keyring, settings.data_dir)
        await db.start()
        try:
            return await fn(db)
        finally:
            await db.close()

    return asyncio.run(main())


def _service(db: Database, settings: Settings) -> VaultService:
    return VaultService(db, SystemClock(), VaultPolicy.from_env(settings.env))


def _guarded(command: Command) -> Command:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return command(args, settings)
        except IntakeError as exc:
            print(f"intake vault: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        except (VaultStoreError, KeyError_) as exc:
            print(f"intake vault: {exc}", file=sys.stderr)
            return 1

    return run


def _operator(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def _print(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=1))


def _request_doc(r: RevealRequestRecord) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(r.id),
        "case_no": r.case_no,
        "kind": r.kind,
        "status": r.status,
        "requester": r.requester,
        "reason": r.reason,
        "commission_ref": r.commission_ref,
        "approvals_needed": r.approvals_needed,
        "approvers": r.approvers,
        "created_at": iso(r.created_at),
        "expires_at": iso(r.expires_at),
        "approved_at": iso(r.approved_at),
        "open_until": iso(r.open_until),
        "closed_at": iso(r.closed_at),
    }


class ProgressBar:
    """``[#####.....]  42%  42000/100000  3.1s`` on stderr: redrawn in place on a terminal (at
    most ten times a second), a line per tenth otherwise (logs, CI)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._width = width
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._last_tenth = -1
        self._finished = False

    def __call__(self, done: int, total: int) -> None:
        if self._finished:  # the bar is drawn complete once
            return
        self._finished = done >= total
        now = time.monotonic()
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        if self._tty:
            if done < total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            end = "\n" if done >= total else ""
            self._stream.write("\r" + self._line(done, total, fraction, now) + end)
        else:
            if tenth == self._last_tenth and done < total:
                return
            self._last_tenth = tenth
            self._stream.write(self._line(done, total, fraction, now) + "\n")
        self._stream.flush()

    def _line(self, done: int, total: int, fraction: float, now: float) -> str:
        filled = int(fraction * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        return f"{self._label} [{bar}] {fraction:4.0%}  {done}/{total}  {now - self._started:.1f}s"


# --- commands --------------------------------------------------------------------------------------


@_guarded
def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch_size < 1:
        print("intake vault: --batch-size must be at least 1", file=sys.stderr)
        return 2
    actor = _operator(args.actor)
    blob_root = settings.data_dir / "blobs"
    clock = SystemClock()

    async def run(db: Database) -> tuple[dict[str, Any], int]:
        store = VaultStore(db)
        pending = await store.count_not_on(db.keyring.current_version)
        doc: dict[str, Any] = {}
        ok = True
        if not args.retire_old or pending:
            result = await rotate(
                db,
                blob_root=blob_root,
                actor=actor,
                now=clock.now(),
                batch_size=args.batch_size,
                progress=ProgressBar("re-wrapping"),
                new_key=not args.retire_old,
            )
            ok = result.complete
            doc.update(
                {
                    "version": result.version,
                    "new_key": result.created,
                    "entries": result.entries,
                    "attachments": result.blobs,
                    "failed_entries": [str(i) for i in result.failed_entries],
                    "failed_attachments": [str(i) for i in result.failed_blobs],
                    "seconds": round(result.seconds, 3),
                }
            )
        if args.retire_old and ok:
            try:
                doc["retired"] = await retire_old_keys(db, blob_root=blob_root, actor=actor, now=clock.now())
            except ReadOnlyKeysError:
                current = db.keyring.current_version
                doc["retired"] = []
                doc["keep_versions"] = [current]
                if args.print_env:
                    doc["INTAKE_MASTER_KEY"] = keys.env_value(db.keyring, versions=[current])
                else:
                    print(
                        "intake vault: the keys come from INTAKE_MASTER_KEY: keep only version "
                        f"{current} there (with the prk- items; --print-env prints the value)",
                        file=sys.stderr,
                    )
        return doc, 0 if ok else 1

    doc, code = _run(settings, run)
    _print(doc)
    if code:
        print(
            "intake vault: some data keys could not be re-wrapped (see the log); nothing was retired",
            file=sys.stderr,
        )
    return code


@_guarded
def _status(args: argparse.Namespace, settings: Settings) -> int:
    async def run(db: Database) -> dict[str, Any]:
        store = VaultStore(db)
        provider = db.keyring.provider
        problem = None
        try:
            await store.sync_key_versions("system:vault", SystemClock().now())
        except VaultStoreError as exc:
            problem = str(exc)
        recorded = {k.version: k for k in await store.key_versions()}
        per_version = await store.entry_versions()
        versions = sorted(set(provider.versions()) | set(recorded) | set(per_version))
        return {
            "profile": db.keyring.profile,
            "provider": provider.name,
            "current_version": provider.current_version(),
            "key_check": problem or "ok",
            "versions": [
                {
                    "version": v,
                    "available": v in provider.versions(),
                    "entries": per_version.get(v, 0),
                    "rotated_at": _iso(recorded[v].rotated_at) if v in recorded else None,
                    "retired_at": _iso(recorded[v].retired_at) if v in recorded else None,
                }
                for v in versions
            ],
            "entries": await store.entry_counts(),
            "custodians": [c.username for c in await store.custodians()],
            "pending_requests": len(await store.requests(status="pending")),
        }

    doc = _run(settings, run)
    _print(doc)
    return 0 if doc["key_check"] == "ok" else 1


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _keygen(args: argparse.Namespace, settings: Settings) -> int:
    print(keys.new_key_b64())
    return 0


@_guarded
def _custodian_add(args: argparse.Namespace, settings: Settings) -> int:
    added = _run(settings, lambda db: _service(db, settings).add_custodian(args.name, _operator(args.actor)))
    _print({"custodian": args.name, "added": added})
    return 0


@_guarded
def _custodian_remove(args: argparse.Namespace, settings: Settings) -> int:
    removed = _run(
        settings, lambda db: _service(db, settings).remove_custodian(args.name, _operator(args.actor))
    )
    _print({"custodian": args.name, "removed": removed})
    return 0 if removed else 1


@_guarded
def _custodian_list(args: argparse.Namespace, settings: Settings) -> int:
    found = _run(settings, lambda db: _service(db, settings).custodians())
    _print(
        {
            "custodians": [
                {"name": c.username, "added_by": c.added_by, "added_at": _iso(c.added_at)} for c in found
            ]
        }
    )
    return 0


@_guarded
def _request(args: argparse.Namespace, settings: Settings) -> int:
    req = _run(
        settings,
        lambda db: _service(db, settings).request(
            args.case_no, args.kind, args.actor, args.reason, args.commission_ref
        ),
    )
    _print(_request_doc(req))
    return 0


@_guarded
def _approve(args: argparse.Namespace, settings: Settings) -> int:
    req = _run(settings, lambda db: _service(db, settings).approve(args.request_id, args.actor))
    _print(_request_doc(req))
    return 0


@_guarded
def _deny(args: argparse.Namespace, settings: Settings) -> int:
    req = _run(settings, lambda db: _service(db, settings).deny(args.request_id, args.actor, args.note))
    _print(_request_doc(req))
    return 0


@_guarded
def _open(args: argparse.Namespace, settings: Settings) -> int:
    folder = args.files_to
    if folder is not None and (folder.exists() and (not folder.is_dir() or any(folder.iterdir()))):
        # Checked before opening: a request opens once, and its documents must not be lost.
        print(f"intake vault: {folder} must be a new or empty folder", file=sys.stderr)
        return 2
    revealed = _run(settings, lambda db: _service(db, settings).open(args.request_id, args.actor))
    doc = revealed.to_json()
    if args.files_to is not None:
        doc["entries"] = save_identity_files(doc["entries"], args.files_to)
    _print(doc)
    return 0


def save_identity_files(entries: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write each sealed identity document into ``folder`` (private), numbered so that names given
    by the informant cannot collide or climb out; the JSON then names the files instead."""
    files = entries.get("identity_file")
    if files is None:
        return entries
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    saved = []
    for n, f in enumerate(files if isinstance(files, list) else [files], start=1):
        data = base64.b64decode(f["data"])
        suffix = Path(f["filename"]).suffix
        path = folder / f"{n:02d}{suffix if suffix.isascii() and suffix[1:].isalnum() else ''}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        rest = {k: v for k, v in f.items() if k != "data"}
        saved.append({**rest, "saved_to": str(path), "sha256": hashlib.sha256(data).hexdigest()})
    return {**entries, "identity_file": saved}


@_guarded
def _requests(args: argparse.Namespace, settings: Settings) -> int:
    found = _run(settings, lambda db: _service(db, settings).requests(args.status))
    _print({"requests": [_request_doc(r) for r in found]})
    return 0


@_guarded
def _expire(args: argparse.Namespace, settings: Settings) -> int:
    n = _run(settings, lambda db: _service(db, settings).expire_due())
    _print({"expired": n})
    return 0


@_guarded
def _shred(args: argparse.Namespace, settings: Settings) -> int:
    if args.older_than < 0:
        print("intake vault: --older-than must be zero or more days", file=sys.stderr)
        return 2
    result = _run(
        settings,
        lambda db: _service(db, settings).shred(timedelta(days=args.older_than), _operator(args.actor)),
    )
    _print({"shredded_entries": result.entries, "reports": result.reports})
    return 0
