"""Colour-coded deadlines and automatic urging (催办), issue 18 item 4.

Every open deadline is green (正常), yellow (临期: at most :data:`YELLOW_DAYS` working days left,
by the working-day calendar) or red (超期: past its due date). When a deadline turns yellow and
again when it turns red, the responsible unit's staff are alerted once: an alert in the unit's
console inbox and, when a mail server is configured, an e-mail to every member of the unit with an
address. The periodic scan (:data:`~storage.urging_store.SCAN_JOB`, each run queues the next) and
each deadline's reminder job find them. Mail goes through the durable job queue: a server that is
down delays it (retried with the worker's backoff), the inbox shows that it has not gone out yet,
and nothing is lost. A mail names the case number, the deadline, its due date and a link, never
the informant.

The inbox also holds the walk-in video receptions waiting for the unit's officers (issue 20):
「黄兴镇群众现场来访，等待接访」 with a link to join the session, nothing of who the citizen is; once
an officer took it (or it is over) it shows who and no longer counts as unread. Staff who cannot
take the officer's seat (custodians) do not get it.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from intake.clock import Clock
from intake.colours import YELLOW_DAYS, deadline_colour, yellow_horizon
from intake.staff import RECEPTION_OFFICER_ROLES, StaffMember
from intake.workflow import Workflow
from intake.workflow.core import china_date
from storage.database import Database
from storage.records import JobRecord
from storage.urging_store import WALK_IN_ALERT, AlertRecord, NewAlert
from storage.workflow_store import DeadlineRecord

log = logging.getLogger("intake.urging")

SCAN_EVERY = timedelta(hours=1)
ALERT_LABELS = {
    "deadline_yellow": "期限临近",
    "deadline_red": "期限已超",
    "supervision": "收到督办函",
    "supervision_answered": "督办函已答复",
    "supervision_returned": "督办函退回重办",
    "supervision_closed": "督办函已办结",
    WALK_IN_ALERT: "现场来访",
}
MAIL_LABELS = {
    "pending": "邮件待发送",
    "sent": "已发邮件",
    "retrying": "邮件未送达，将重试",
    "failed": "邮件多次未送达，已停止重试",
}


@dataclass(frozen=True)
class MailSettings:
    """The mail server (``INTAKE_SMTP_*``); no host: no mail, the inbox alone."""

    host: str = ""
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = ""
    starttls: bool = False
    timeout: float = 10.0


class Mailer:
    """Sends one message over SMTP in a worker thread (smtplib), so no request and no other job
    waits for the server."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self.settings.host)

    async def send(self, to: list[str], subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"] = self.settings.sender or f"intake@{self.settings.host}"
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="intake")
        msg.set_content(body, charset="utf-8")
        await asyncio.to_thread(self._send, msg, to)

    def _send(self, msg: EmailMessage, to: list[str]) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password)
            smtp.send_message(msg, to_addrs=to)


class UrgingService:
    def __init__(
        self, db: Database, clock: Clock, workflow: Workflow, mailer: Mailer, *, public_url: str = ""
    ) -> None:
        self._db = db
        self._clock = clock
        self.workflow = workflow
        self.mailer = mailer
        self.public_url = public_url.rstrip("/")

    def colour(self, due_on: date, status: str = "open") -> str:
        return deadline_colour(self.workflow.calendar, due_on, china_date(self._clock.now()), status)

    # --- finding deadlines that turned ------------------------------------------------------------

    async def scan(self) -> int:
        """Alert the units whose open deadlines turned yellow or red; returns how many alerts."""
        horizon = yellow_horizon(self.workflow.calendar, china_date(self._clock.now()))
        due = await self._db.workflow.deadlines(due_by=horizon, open_only=True)
        return await self._alert(due)

    async def check_deadline(self, deadline_id: int) -> int:
        """The same for one deadline (its reminder job)."""
        return await self._alert(await self._db.workflow.deadlines(deadline_id=deadline_id, open_only=True))

    async def _alert(self, deadlines: list[DeadlineRecord]) -> int:
        have = await self._db.urging.alerted_deadlines([d.id for d in deadlines])
        candidates = []
        for d in deadlines:
            colour = self.colour(d.due_on)
            kind = f"deadline_{colour}"
            if colour != "green" and (d.id, kind) not in have:
                candidates.append(NewAlert(d.unit_code, d.report_id, kind, d.id, None, d.rule, d.due_on))
        if not candidates:
            return 0
        created = await self._db.urging.deadline_alerts(candidates, self._clock.now())
        if created:
            log.info("deadline alerts", extra={"count": len(created)})
        return len(created)

    async def scan_job(self, job: JobRecord) -> None:
        await self.scan()
        now = self._clock.now()
        await self._db.urging.schedule_scan(now + SCAN_EVERY, now)

    async def start(self) -> None:
        """Queue the first scan unless one is queued already."""
        now = self._clock.now()
        await self._db.urging.schedule_scan(now, now)

    # --- mail -------------------------------------------------------------------------------------

    async def mail_job(self, job: JobRecord) -> None:
        """Mail one alert to its unit. A failure is recorded on the alert (the inbox shows it) and
        raised, so that the worker retries it later."""
        alert = await self._db.urging.alert(int(job.payload["alert_id"]))
        if alert is None:
            return
        to = await self._db.urging.unit_addresses(alert.unit_code) if self.mailer.enabled else []
        if not to:
            await self._db.urging.set_mail_status(alert.id, None)
            return
        subject, body = self.message(alert)
        try:
            await self.mailer.send(to, subject, body)
        except (OSError, smtplib.SMTPException) as exc:
            last = job.attempts >= job.max_attempts
            await self._db.urging.set_mail_status(
                alert.id, "failed" if last else "retrying", type(exc).__name__
            )
            raise
        await self._db.urging.set_mail_status(alert.id, "sent")

    def message(self, alert: AlertRecord) -> tuple[str, str]:
        """Subject and body: the case number, what, the due date and a link; no informant."""
        what = ALERT_LABELS.get(alert.kind, "提醒")
        label = self.workflow.label(alert.rule) if alert.rule else "督办函"
        subject = f"【{what}】案件 {alert.case_no} · {label}"
        lines = [
            f"{self.workflow.tree.name(alert.unit_code) or alert.unit_code}：",
            "",
            f"案件 {alert.case_no} 的“{label}”{self._state_text(alert)}。",
        ]
        if alert.due_on is not None:
            lines.append(f"到期日：{alert.due_on.isoformat()}")
        lines += [
            "",
            f"请登录工作台查看办理：{self.public_url}/console/cases/{alert.case_no}",
            "",
            "（系统自动发送，请勿回复）",
        ]
        return subject, "\n".join(lines)

    @staticmethod
    def _state_text(alert: AlertRecord) -> str:
        return {
            "deadline_yellow": f"剩余不足 {YELLOW_DAYS} 个工作日，请抓紧办理",
            "deadline_red": "已超过期限，请立即办理并说明情况",
            "supervision": "已列入督办，请按期答复",
            "supervision_answered": "督办函已答复，请审核",
            "supervision_returned": "督办函答复被退回，请重新办理并答复",
            "supervision_closed": "督办函已办结",
        }.get(alert.kind, "有新的提醒")

    # --- the inbox -------------------------------------------------------------------------------

    @staticmethod
    def _skipped(member: StaffMember) -> tuple[str, ...]:
        """The alerts a member is not given: walk-ins, unless they may join as the officer."""
        return () if member.role in RECEPTION_OFFICER_ROLES else (WALK_IN_ALERT,)

    async def inbox(self, member: StaffMember) -> list[dict[str, Any]]:
        alerts = await self._db.urging.inbox(member.unit, member.username, skip_kinds=self._skipped(member))
        return [self.item(a) for a in alerts]

    def item(self, a: AlertRecord) -> dict[str, Any]:
        mail = a.mail_status if self.mailer.enabled else None  # no server: the inbox alone
        item = {
            "id": a.id,
            "case_no": a.case_no,
            "kind": a.kind,
            "kind_label": ALERT_LABELS.get(a.kind, a.kind),
            "deadline_label": self.workflow.label(a.rule) if a.rule else None,
            "due_on": a.due_on.isoformat() if a.due_on else None,
            "colour": {"deadline_yellow": "yellow", "deadline_red": "red"}.get(a.kind),
            "at": a.created_at.isoformat(),
            "mail": mail,
            "mail_label": MAIL_LABELS.get(mail or ""),
            "read": a.read or a.handled,
            "handled": a.handled,
            "text": None,
            "link": None,
        }
        if a.session_id is not None:
            item |= self._walk_in(a)
        return item

    def _walk_in(self, a: AlertRecord) -> dict[str, Any]:
        """A walk-in's line: the township, whether it still waits, the link to join it; the
        citizen is not named (nothing of who they are is in the alert)."""
        unit = self.workflow.tree.units.get(a.township_unit or "")
        place = unit.division_name if unit is not None else "乡镇"
        if a.session_officer is not None:
            state = f"已由 {a.session_officer} 接入"
        elif a.session_status == "cancelled":
            state = "已取消"
        elif a.session_status == "filed":
            state = "已登记"
        else:
            state = "等待接访"
        return {
            "text": f"{place}群众现场来访，{state}",
            "link": None if a.handled else f"/reception/room/{a.session_id}?as=officer",
        }

    async def unread(self, member: StaffMember) -> int:
        return await self._db.urging.unread(member.unit, member.username, skip_kinds=self._skipped(member))

    async def mark_read(self, member: StaffMember, alert_ids: list[int] | None) -> int:
        return await self._db.urging.mark_read(member.unit, member.username, alert_ids, self._clock.now())


def open_urging(settings: Any, db: Database, clock: Clock, workflow: Workflow, worker: Any) -> UrgingService:
    """The urging service with its jobs registered (the scan, the mail, and the reminder's
    check of its deadline)."""
    from storage.urging_store import ALERT_MAIL_JOB, SCAN_JOB

    mail = MailSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        timeout=float(settings.smtp_timeout_seconds),
    )
    urging = UrgingService(db, clock, workflow, Mailer(mail), public_url=settings.public_url)
    worker.register(SCAN_JOB, urging.scan_job)
    worker.register(ALERT_MAIL_JOB, urging.mail_job)
    workflow.on_reminder = urging.check_deadline
    return urging
