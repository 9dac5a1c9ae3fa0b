"""What staff see of the reception rooms: a session as a row, the upcoming bookings per unit and
day, the sessions live or waiting in the viewer's subtree (the contract's ``GET
/reception/api/oversight``: other checks rely on its ``sessions``), and the supervisors' grid of
every township room with who sits in each seat and for how long."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from intake.clock import CHINA
from intake.staff import StaffMember

if TYPE_CHECKING:
    from intake.reception.service import ReceptionService

SUPERVISOR_ROLES = ("supervisor", "leader", "admin")
STATUS_LABELS = {
    "booked": "已预约",
    "live": "接访中",
    "minutes": "待确认笔录",
    "filed": "已登记",
    "cancelled": "已取消",
}
STATE_LABELS = {"idle": "空闲", "waiting": "等待接入", "in_session": "接访中"}
SEAT_LABELS = {"host": "乡镇接访室", "officer": "接访人员", "supervisor": "监督人员", "recorder": "录像"}
UPCOMING_DAYS = 14


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), CHINA)
    return start, start + timedelta(days=1)


class Oversight:
    def __init__(self, service: ReceptionService) -> None:
        self.service = service
        self.tree = service.tree
        self.store = service.store
        self.hub = service.hub

    def _today(self) -> date:
        today: date = self.service.clock.now().astimezone(CHINA).date()
        return today

    def row(self, s: Any, member: StaffMember | None = None) -> dict[str, Any]:
        return {
            "id": str(s.id),
            "township": s.township_unit,
            "township_name": self.tree.name(s.township_unit),
            "unit": s.township_unit,
            "unit_name": self.tree.name(s.township_unit),
            "host_unit": s.host_unit,
            "host_unit_name": self.tree.name(s.host_unit),
            "walk_in": s.walk_in,
            "slot": s.slot_start.isoformat(),
            "slot_label": s.slot_start.astimezone(CHINA).strftime("%m-%d %H:%M"),
            "day": s.slot_start.astimezone(CHINA).date().isoformat(),
            "minutes": s.slot_minutes,
            "status": s.status,
            "status_label": STATUS_LABELS.get(s.status, s.status),
            "accused": {"name": s.accused_name, "unit": s.accused_unit, "position": s.accused_position},
            "accused_rank": s.accused_rank,
            "facts": s.facts,
            "identity_sealed": s.has_identity,
            "attendees": s.attendees,
            "consent_at": s.consent_at.isoformat() if s.consent_at else None,
            "officer": s.officer,
            "case_no": s.case_no,
            "recording_bytes": s.recording_bytes,
            "room": self.hub.snapshot(str(s.id)),
            "roles": self.service.roles_of(member, s) if member else [],
        }

    async def schedule(self, member: StaffMember, days: int = 1) -> list[dict[str, Any]]:
        """The sessions the member takes part in (township, receiving unit or supervisor) whose
        slot is today or in the ``days - 1`` days after it, in slot order."""
        start = day_bounds(self._today())[0]
        end = start + timedelta(days=max(1, min(days, 60)))
        scope = [member.unit, *self.tree.descendants(member.unit)]
        by_host = await self.store.between(scope, start, end)
        by_township = await self.store.between(scope, start, end, by="township_unit")
        seen: dict[uuid.UUID, Any] = {s.id: s for s in [*by_host, *by_township]}
        rows = [s for s in seen.values() if self.service.roles_of(member, s)]
        return [self.row(s, member) for s in sorted(rows, key=lambda s: (s.slot_start, s.township_unit))]

    async def upcoming(self, member: StaffMember) -> list[dict[str, Any]]:
        """Bookings still to be held, per day and unit (the index page's 近期预约)."""
        rows = [r for r in await self.schedule(member, UPCOMING_DAYS) if not r["walk_in"]]
        days: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for r in rows:
            if r["status"] == "booked":
                days.setdefault(r["day"], {}).setdefault(r["township_name"], []).append(r)
        return [
            {"day": day, "units": [{"unit_name": u, "sessions": s} for u, s in units.items()]}
            for day, units in days.items()
        ]

    def _seats(self, s: Any) -> list[dict[str, Any]]:
        """Who sits in each seat of the session's room, and for how long."""
        seats = []
        for seat in self.hub.snapshot(str(s.id)).get("seats", []):
            role = seat["role"]
            if role == "officer":
                who = s.officer or ""
            elif role == "supervisor":
                who = seat["seat"].removeprefix("supervisor-")
            else:
                who = ""
            label = SEAT_LABELS.get(role, role)
            seats.append({**seat, "label": label, "who": who})
        return seats

    async def live(self, member: StaffMember) -> list[dict[str, Any]]:
        """Every session live or waiting in the member's subtree, with its unit and its seats."""
        scope = self.service.townships_of(member)
        if self.tree.units[member.unit].level == "township":
            scope = [member.unit]
        out = []
        for s in await self.store.active(scope):
            if not self.service.roles_of(member, s):
                continue
            snap = self.hub.snapshot(str(s.id))
            waiting = s.status == "booked" or (snap["state"] != "in_session" and not s.officer)
            out.append(
                {
                    "id": str(s.id),
                    "status": s.status,
                    "status_label": STATUS_LABELS.get(s.status, s.status),
                    "walk_in": s.walk_in,
                    "waiting": waiting,
                    "unit": s.township_unit,
                    "unit_name": self.tree.name(s.township_unit),
                    "host_unit": s.host_unit,
                    "host_unit_name": self.tree.name(s.host_unit),
                    "opened_at": s.slot_start.isoformat(),
                    "officer": s.officer,
                    "state": snap["state"],
                    "state_label": STATE_LABELS.get(snap["state"], snap["state"]),
                    "seconds": snap.get("seconds"),
                    "seats": self._seats(s),
                    "roles": self.service.roles_of(member, s),
                }
            )
        return out

    async def view(self, member: StaffMember) -> dict[str, Any]:
        """``GET /reception/api/oversight``: the live and waiting sessions of the member's subtree
        for every member; for supervisors also the grid of every township room."""
        doc: dict[str, Any] = {"date": self._today().isoformat(), "sessions": await self.live(member)}
        doc["rooms"] = await self.grid(member) if member.role in SUPERVISOR_ROLES else []
        return doc

    async def grid(self, member: StaffMember) -> list[dict[str, Any]]:
        """Every township room below the member's unit: idle, waiting or in session (with who is
        in each seat and for how long), today's schedule and the sessions held, per township."""
        townships = self.service.townships_of(member)
        start, end = day_bounds(self._today())
        sessions = await self.store.between(townships, start, end, by="township_unit")
        active = await self.store.active(townships)
        rooms = []
        for code in townships:
            today = [s for s in sessions if s.township_unit == code]
            # A session under way counts wherever its slot was (one booked for another day).
            current = next((s for s in active if s.township_unit == code), None)
            live: dict[str, Any] = (
                self.hub.snapshot(str(current.id)) if current else {"state": "idle", "peers": []}
            )
            rooms.append(
                {
                    "township": code,
                    "name": self.tree.name(code),
                    "state": live["state"],
                    "state_label": STATE_LABELS.get(live["state"], live["state"]),
                    "seconds": live.get("seconds"),
                    "session": str(current.id) if current else None,
                    "walk_in": bool(current and current.walk_in),
                    "host_unit_name": self.tree.name(current.host_unit) if current else None,
                    "seats": self._seats(current) if current else [],
                    "watchable": bool(current and self.service.may(member, current, "supervisor")),
                    "schedule": [self.row(s) for s in today],
                    "held": sum(1 for s in today if s.status == "filed"),
                }
            )
        return rooms
