"""The reception service: who may do what with a session, booking, consent, minutes, filing,
recording and the county's oversight view. Storage is reached through the services' database
facade only (``services.db.reception``); reports are filed through :meth:`Pipeline.accept`. The
signaling hub is injected (``video_reception.rooms.RoomHub``, seen here as :class:`RoomHub`).

Seats and who may take them:

* ``host`` — the township reception room's screen, where the citizen sits: staff of that township.
* ``officer`` — the receiving unit's staff (the county, or the city for county-level cadres).
* ``supervisor`` — a supervisor or admin whose unit is the receiving unit or above it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from intake.clock import CHINA
from intake.domain import Accused, Location, Receipt, Reporter, Submission, Upload
from intake.errors import Conflict, NotFound, ValidationError
from intake.jobs import Handler as JobHandler
from intake.reception.booking import MAX_MINUTES, booking_details, text_field
from intake.reception.oversight import SUPERVISOR_ROLES, Oversight
from intake.reception.recording import MAX_CHUNK, NotAllowed, Recording

__all__ = ["MAX_CHUNK", "NotAllowed", "ReceptionContext", "ReceptionService", "RoomHub"]
from intake.reception.slots import SlotPlan, parse_slots
from intake.reception.tokens import ROLES, Claims, RoomTokens
from intake.services import Services, triage_text
from intake.staff import RECEPTION_OFFICER_ROLES, StaffMember, StaffService

log = logging.getLogger("intake.reception")

OFFICER_ROLES = RECEPTION_OFFICER_ROLES
CITY_RANKS = ("正县处级", "副县处级", "正厅局级", "副厅局级", "正省部级", "副省部级")
WALK_IN_FACTS = "（群众现场来访，反映的问题见接访笔录）"
WALK_IN_MINUTES = 30


@dataclass(frozen=True)
class Filed:
    case_no: str
    query_code: str | None


def parse_ice_servers(raw: str) -> list[dict[str, Any]]:
    """``INTAKE_RECEPTION_ICE_SERVERS``: RTCPeerConnection's ``iceServers`` as JSON."""
    try:
        servers = json.loads(raw or "[]")
    except ValueError:
        raise SystemExit("INTAKE_RECEPTION_ICE_SERVERS must be JSON (a list of {urls, ...})") from None
    if not isinstance(servers, list) or not all(isinstance(s, dict) and "urls" in s for s in servers):
        raise SystemExit("INTAKE_RECEPTION_ICE_SERVERS must be a list of {urls, username?, credential?}")
    return servers


class RoomHub(Protocol):
    """The signaling hub the service tells what happens to a session's room."""

    on_note: Callable[[str, Claims, str], Awaitable[None]] | None

    def snapshot(self, room_id: str) -> dict[str, Any]: ...

    async def broadcast(self, room_id: str, message: dict[str, Any], *, role: str | None = None) -> None: ...

    async def record(
        self, room_id: str, write: Callable[[str, bytes], Awaitable[None]], ice_servers: list[dict[str, Any]]
    ) -> None: ...

    async def stop_recording(self, room_id: str) -> int: ...

    async def close(self) -> None: ...


class ReceptionService(Recording):
    def __init__(
        self,
        services: Services,
        tokens: RoomTokens,
        hub: RoomHub,
        *,
        slots: str,
        ice_servers: str,
        max_recording_mb: int,
        server_recording: bool = True,
    ) -> None:
        """``slots``, ``ice_servers``, ``max_recording_mb``: ``INTAKE_RECEPTION_SLOTS``,
        ``INTAKE_RECEPTION_ICE_SERVERS`` and ``INTAKE_RECEPTION_MAX_RECORDING_MB``, as read by the
        root's settings."""
        if services.staff is None or services.workflow is None:
            raise RuntimeError("video reception needs the staff accounts and the workflow")
        self.services = services
        self.staff = services.staff
        self.workflow = services.workflow
        self.tree = services.staff.tree
        self.store = services.db.reception
        self.clock = services.clock
        self.tokens = tokens
        self.hub = hub
        self.hub.on_note = self._noted
        self.plan = SlotPlan(parse_slots(slots), services.workflow.calendar)
        self.ice_servers = parse_ice_servers(ice_servers)
        self.max_recording = max_recording_mb * 1024 * 1024
        self.server_recording = server_recording
        self.oversight = Oversight(self)

    # --- who may do what ---------------------------------------------------------------------------

    def townships_of(self, member: StaffMember) -> list[str]:
        """The township rooms a member books for or oversees: their own, or those below their unit."""
        units = [member.unit, *self.tree.descendants(member.unit)]
        return [u for u in units if self.tree.units[u].level == "township"]

    def may(self, member: StaffMember, session: Any, role: str) -> bool:
        if role == "host":
            return bool(member.unit == session.township_unit)
        if role == "officer":
            return bool(member.unit == session.host_unit and member.role in OFFICER_ROLES)
        if role == "supervisor":
            scope = [member.unit, *self.tree.descendants(member.unit)]
            return member.role in SUPERVISOR_ROLES and session.host_unit in scope
        return False

    def roles_of(self, member: StaffMember, session: Any) -> list[str]:
        return [r for r in ROLES if self.may(member, session, r)]

    async def session(self, member: StaffMember, session_id: str, role: str | None = None) -> Any:
        """The session if ``member`` takes part in it (in ``role``); the same 404 otherwise."""
        try:
            sid = uuid.UUID(session_id)
        except ValueError:
            raise NotFound("没有这个接访场次。", code="session_not_found") from None
        found = await self.store.get(sid)
        if found is None or not self.roles_of(member, found):
            raise NotFound("没有这个接访场次。", code="session_not_found")
        if role is not None and not self.may(member, found, role):
            raise NotAllowed("您不能以这个身份参加本场接访。", code="wrong_role")
        return found

    # --- slots and booking ------------------------------------------------------------------------

    def host_unit_for(self, township: str, level: str | None, ranks: list[str]) -> str:
        """乡科级 and village cadres → the county; county-level cadres (and above) → the city."""
        county = self.tree.units[township].parent_code or township
        if level in ("city", "province", "central") or any(r in CITY_RANKS for r in ranks):
            return self.tree.units[county].parent_code or county
        return county

    async def free_slots(self, member: StaffMember, township: str, days: int = 21) -> list[dict[str, Any]]:
        if township not in self.townships_of(member):
            raise NotFound("没有这个乡镇接访室。", code="unknown_township")
        now = self.clock.now()
        today = now.astimezone(CHINA).date()
        slots = [s for s in self.plan.slots(today, today + timedelta(days=days)) if s.start > now]
        # Each township room holds its own slots: the receiving unit's officers are a pool.
        taken = await self.store.taken_slots(township, now, now + timedelta(days=days + 1))
        return [
            {
                "start": s.start.isoformat(),
                "minutes": s.minutes,
                "moved_from": s.moved_from.isoformat() if s.moved_from else None,
                "free": s.start not in taken,
            }
            for s in slots
        ]

    async def book(self, member: StaffMember, doc: dict[str, Any], client_key: str) -> Any:
        township = text_field(doc, "township", 16) or ""
        if township not in self.townships_of(member):
            raise NotFound("没有这个乡镇接访室。", code="unknown_township")
        start, slot = self._bookable_slot(doc)
        facts, accused, identity = booking_details(doc)
        linked = await self._linked_report(doc, client_key)
        host, ranks = await self._host_of(township, accused, facts)
        now = self.clock.now()
        session_id = uuid.uuid4()
        day_before = datetime.combine(start.astimezone(CHINA).date() - timedelta(days=1), time(9, 0), CHINA)
        reminders = tuple(at for at in (day_before, start - timedelta(hours=1)) if at > now)
        booked = await self._store_session(
            member,
            now,
            (session_id, township, host, start, slot.minutes),
            (facts, accused, ranks, identity, linked),
            reminders=reminders,
        )
        if not booked:
            raise Conflict("该时段已被预约，请另选时段。", code="slot_taken")
        if linked is not None and self.services.notifier is not None:
            await self.services.notifier.enqueue(linked, self._confirmation(township, host, start))
        log.info("reception booked", extra={"session": str(session_id)})
        return await self.store.get(session_id)

    async def _store_session(
        self,
        member: StaffMember,
        now: datetime,
        where: tuple[uuid.UUID, str, str, datetime, int],
        what: tuple[str, dict[str, Any], list[Any], Any, Any],
        **extra: Any,
    ) -> bool:
        """A booked or walk-in session stored: ``where`` is (id, township, receiving unit, start,
        minutes), ``what`` (facts, accused, their ranks, the sealed identity, the linked report)."""
        session_id, township, host, start, minutes = where
        facts, accused, ranks, identity, linked = what
        stored: bool = await self.store.book(
            member.actor,
            now,
            id=session_id,
            township_unit=township,
            host_unit=host,
            slot_start=start,
            slot_minutes=minutes,
            accused_name=accused["name"],
            accused_unit=accused["unit"],
            accused_position=accused["position"],
            accused_rank=next((r for r in ranks if r), None),
            facts=facts,
            identity=identity or None,
            linked_report_id=linked,
            booked_by=member.username,
            **extra,
        )
        return stored

    async def open_walk_in(self, member: StaffMember, doc: dict[str, Any], client_key: str) -> Any:
        """A walk-in session (现场来访), opened now: the citizen is in the township room. Township
        staff of that unit, or staff of a unit above it, open it; the receiving unit's officers
        see it waiting (and hear it) on their pages, and one of them joins. The township room
        must have no other session under way."""
        if doc.get("walk_in") is not True:
            raise ValidationError(
                "这里只能发起现场来访接访；预约接访请在预约页面提交。", code="walk_in_required"
            )
        township = text_field(doc, "unit", 16) or ""
        if township not in self.townships_of(member):
            raise NotFound("没有这个乡镇接访室。", code="unknown_township")
        facts, accused, identity = booking_details({**doc, "facts": doc.get("facts") or WALK_IN_FACTS})
        linked = await self._linked_report(doc, client_key)
        if any(accused.values()) or facts != WALK_IN_FACTS:
            host, ranks = await self._host_of(township, accused, facts)
        else:
            host, ranks = self.tree.units[township].parent_code or township, []
        now = self.clock.now()
        session_id = uuid.uuid4()
        opened = await self._store_session(
            member,
            now,
            (session_id, township, host, now, WALK_IN_MINUTES),
            (facts, accused, ranks, identity, linked),
            walk_in=True,
        )
        if not opened:
            raise Conflict("本接访室已有正在进行的接访，请结束后再发起。", code="room_busy")
        # The alert to the receiving unit's officers on duty: their pages list it (with a sound).
        await self.store.audit(
            "reception_walk_in_alert",
            member.actor,
            now,
            {"session": str(session_id), "township": township, "host_unit": host},
            linked,
        )
        log.info("reception walk-in opened", extra={"session": str(session_id)})
        return await self.store.get(session_id)

    def _bookable_slot(self, doc: dict[str, Any]) -> tuple[datetime, Any]:
        """The slot the booking asks for (China time when no zone is given), one still to come."""
        try:
            start = datetime.fromisoformat(str(doc.get("slot") or ""))
        except ValueError:
            raise ValidationError("请选择接访时段。", code="invalid_slot") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=CHINA)
        slot = self.plan.find(start)
        if slot is None or slot.start <= self.clock.now():
            raise ValidationError("这个时段不是可预约的接访时段。", code="invalid_slot")
        return start, slot

    async def _linked_report(self, doc: dict[str, Any], client_key: str) -> Any:
        """The case the booking follows up, by the citizen's query code (throttled like a lookup)."""
        if not (isinstance(doc.get("query_code"), str) and doc["query_code"].strip()):
            return None
        status = await self.services.pipeline.status(doc["query_code"], client_key)
        return await self.store.report_id_of(status.case_no)

    async def _host_of(
        self, township: str, accused: dict[str, str | None], facts: str
    ) -> tuple[str, list[str]]:
        """The unit that hosts the session, routed by the accused's rank as triage reads it (the
        same engine as every report), and the ranks read."""
        who = "".join(filter(None, (accused["unit"], accused["position"])))
        result = await triage_text(self.services, f"被反映人{accused['name'] or ''}，{who}。{facts}")
        ranks = [str(a.get("rank") or "") for a in result.get("accused") or []]
        return self.host_unit_for(township, result.get("level"), ranks), ranks

    def _confirmation(self, township: str, host: str, start: datetime) -> str:
        at = start.astimezone(CHINA).strftime("%Y年%m月%d日 %H:%M")
        return (
            f"您已预约视频接访：{at}，在{self.tree.name(township)}接访室与{self.tree.name(host)}视频接访。"
            "请按时到场，携带身份证件和有关材料。"
        )

    async def reminder_job(self, job: Any) -> None:
        """A reminder before the slot: an audit event, and a message when the booking is linked to
        a case whose channel can reach the citizen."""
        found = await self.store.get(uuid.UUID(job.payload["session_id"]))
        if found is None or found.status != "booked":
            return
        now = self.clock.now()
        await self.store.audit("reception_reminder", "system:reception", now, {"session": str(found.id)})
        if found.linked_report_id is not None:
            text = "提醒：" + self._confirmation(found.township_unit, found.host_unit, found.slot_start)
            await self.services.notifier.enqueue(found.linked_report_id, text)

    async def cancel(self, member: StaffMember, session_id: str) -> None:
        found = await self.session(member, session_id)
        if not (self.may(member, found, "host") or self.may(member, found, "officer")):
            raise NotAllowed("您不能取消本场接访。", code="forbidden")
        if await self.store.cancel(found.id, member.actor, self.clock.now()):
            raise Conflict("本场接访已开始或已结束，不能取消。", code="stale_session")

    # --- tokens -------------------------------------------------------------------------------------

    async def token(self, member: StaffMember, session_id: str, role: str) -> dict[str, Any]:
        if role not in ROLES:
            raise ValidationError("身份应为 host、officer 或 supervisor。", code="invalid_role")
        found = await self.session(member, session_id, role)
        if found.status in ("filed", "cancelled"):
            raise Conflict("本场接访已结束。", code="session_closed")
        if role == "host" and found.consent_at is None:
            raise Conflict("请先由群众确认知情同意。", code="consent_required")
        if role == "officer":
            await self._claim(member, found)
        seat = role if role != "supervisor" else f"supervisor-{member.username}"
        token, expires = self.tokens.issue(str(found.id), role, seat, self.clock.now())
        if role == "supervisor":
            await self.store.audit(
                "reception_watch", member.actor, self.clock.now(), {"session": str(found.id)}
            )
        return {
            "token": token,
            "expires": expires,
            "seat": seat,
            "ice_servers": self.ice_servers,
            "server_recording": self.server_recording,
        }

    async def _claim(self, member: StaffMember, found: Any) -> None:
        """One officer of the receiving unit's pool takes the session; the others are told who."""
        held = await self.store.claim(found.id, member.username, member.actor, self.clock.now())
        if held is None:
            return
        if held.startswith("status:"):
            raise Conflict("本场接访已结束。", code="session_closed")
        raise Conflict("本场接访已有其他接访人员接入。", code="officer_taken")

    # --- consent, minutes, filing -----------------------------------------------------------------

    def attendees(self, session: Any) -> list[str]:
        county = self.tree.units[session.host_unit].parent_code
        overseer = self.tree.name(session.host_unit)
        return [
            f"{self.tree.name(session.township_unit)}接访室工作人员",
            f"{self.tree.name(session.host_unit)}接访人员",
            f"{overseer}监督人员（可能在线观看，不发言）" if county else f"{overseer}监督人员",
        ]

    async def consent(self, member: StaffMember, session_id: str, doc: dict[str, Any]) -> Any:
        found = await self.session(member, session_id, "host")
        if doc.get("recorded") is not True or doc.get("attendees") is not True:
            raise ValidationError("请群众确认已知晓录音录像和参加人员。", code="consent_required")
        refused = await self.store.consent(found.id, self.attendees(found), member.actor, self.clock.now())
        if refused:
            raise Conflict("本场接访已开始或已结束。", code="stale_session")
        await self.hub.broadcast(str(found.id), {"type": "session", "status": "live"})
        if self.server_recording:
            await self._record(found.id)
        return await self.store.get(found.id)

    def _minutes(self, doc: dict[str, Any]) -> str:
        minutes = text_field(doc, "minutes", MAX_MINUTES)
        if not minutes:
            raise ValidationError("请填写接访笔录。", code="minutes_required")
        return minutes

    async def save_minutes(self, member: StaffMember, session_id: str, doc: dict[str, Any]) -> None:
        found = await self.session(member, session_id, "officer")
        minutes = self._minutes(doc)
        if await self.store.save_minutes(found.id, minutes, member.actor, self.clock.now()):
            raise Conflict("本场接访不在进行中。", code="stale_session")

    async def end(self, member: StaffMember, session_id: str, doc: dict[str, Any]) -> None:
        """The officer ends the call; the minutes go to the township screen for the citizen."""
        found = await self.session(member, session_id, "officer")
        if found.officer not in (None, member.username):
            raise Conflict("本场接访已有其他接访人员接入。", code="officer_taken")
        minutes = self._minutes(doc)
        if await self.store.end(found.id, minutes, member.username, member.actor, self.clock.now()):
            raise Conflict("本场接访不在进行中。", code="stale_session")
        # The recording is whole before the citizen can confirm: the recorder leaves, all stored.
        await self.hub.stop_recording(str(found.id))
        await self.hub.broadcast(str(found.id), {"type": "minutes", "text": minutes})

    async def confirm(self, member: StaffMember, session_id: str) -> Filed:
        """The citizen read and confirmed the minutes on the township screen: file the ``video``
        report through the pipeline (identity into the vault, the recording attached), registered
        by the officer at once, with the walk-in visit's deadlines."""
        found = await self.session(member, session_id, "host")
        if found.status != "minutes" or not found.minutes or not found.officer:
            raise Conflict("笔录尚未提交，或本场接访已登记。", code="stale_session")
        officer = await self.staff.member(found.officer)
        if officer is None:
            raise Conflict("接访人员账户已停用，请联系县纪委监委。", code="officer_missing")
        identity = await self.store.take_identity(found.id)
        recordings = await self.store.recordings(found.id)
        township = self.tree.units[found.township_unit]
        content = f"【视频接访笔录】\n{found.minutes}\n\n【预约时反映的问题】\n{found.facts}"
        sub = Submission(
            channel="video",
            content=content,
            title=f"视频接访（{township.name}）",
            accused=Accused(found.accused_name, found.accused_unit, found.accused_position),
            location=Location(division_code=township.division_code, text=township.division_name),
            reporter=Reporter(**identity) if identity else Reporter(),
            anonymous=not identity,
            external_id=f"reception:{found.id}",
            attachments=tuple(
                Upload(self._recording_name(part), "video/webm", data) for part, data in recordings if data
            ),
        )
        receipt: Receipt = await self.services.pipeline.accept(sub)
        await self.workflow.register_filed(officer, receipt.case_no)
        report_id = await self.store.report_id_of(receipt.case_no)
        now = self.clock.now()
        if report_id is None or not await self.store.filed(
            found.id, receipt.case_no, report_id, member.actor, now
        ):
            raise Conflict("本场接访已登记。", code="stale_session")
        await self.store.drop_chunks(found.id, member.actor, now)
        await self.hub.broadcast(str(found.id), {"type": "filed", "case_no": receipt.case_no})
        log.info("reception filed", extra={"session": str(found.id), "case_no": receipt.case_no})
        return Filed(receipt.case_no, receipt.query_code)

    # --- oversight ------------------------------------------------------------------------------------

    async def _noted(self, room: str, claims: Claims, text: str) -> None:
        await self.store.audit(
            "reception_note", f"room:{claims.seat}", self.clock.now(), {"session": room, "chars": len(text)}
        )


@dataclass(frozen=True)
class ReceptionContext:
    """What video reception's pages may use, built by the composition root: the service, staff
    logins, the client-address key, the forwarded-for and HTTPS settings, and the job queue."""

    service: ReceptionService
    staff: StaffService
    mac: Callable[[str, bytes], str]
    trust_forwarded_for: bool
    https: bool
    register_job: Callable[[str, JobHandler], None]


def room_tokens(services: Services, minutes: int) -> RoomTokens:
    """The room tokens of this deployment: keyed by the pipeline, valid this many minutes."""
    return RoomTokens(services.pipeline.mac, minutes * 60)
