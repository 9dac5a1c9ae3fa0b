"""A session's recording, on the reception service: the server's recorder seat started with the
consent (each participant's media stored in encrypted chunks as it comes), or, when server
recording is off, the township browser's own upload; the recording as the case keeps it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from intake.errors import Conflict, IntakeError, NotFound
from intake.staff import Forbidden, StaffMember

log = logging.getLogger("intake.reception")

MAX_CHUNK = 4 * 1024 * 1024
RECORDER = "system:reception-recorder"
PART_LABELS = {"host": "乡镇接访室", "officer": "接访人员"}


class NotAllowed(Forbidden):
    pass


class Recording:
    """The recording part of :class:`ReceptionService` (a mixin: the service's store, hub,
    clock, limits and who may do what)."""

    store: Any
    hub: Any
    clock: Any
    workflow: Any
    max_recording: int
    server_recording: bool
    ice_servers: list[dict[str, Any]]

    async def session(self, member: StaffMember, session_id: str, role: str | None = None) -> Any:
        raise NotImplementedError  # the service's

    def may(self, member: StaffMember, session: Any, role: str) -> bool:
        raise NotImplementedError  # the service's

    async def _record(self, session_id: uuid.UUID) -> None:
        """The server's recorder joins the room and stores each participant's media as it comes."""

        async def write(part: str, data: bytes) -> None:
            result = await self.store.add_chunk(
                session_id, None, data, self.max_recording, RECORDER, self.clock.now(), part=part
            )
            if isinstance(result, str):
                log.warning("recording chunk refused", extra={"session": str(session_id), "reason": result})

        await self.hub.record(str(session_id), write, self.ice_servers)

    @staticmethod
    def _recording_name(part: str | None) -> str:
        if part is None:
            return "视频接访录像.webm"
        who, _, n = part.partition("-")
        return f"视频接访录像（{PART_LABELS.get(who, '其他')}{'第' + n + '段' if n else ''}）.webm"

    # --- recording ----------------------------------------------------------------------------------

    async def add_chunk(self, member: StaffMember, session_id: str, seq: int, data: bytes) -> int:
        found = await self.session(member, session_id, "host")
        if not data or len(data) > MAX_CHUNK:
            raise IntakeError("录像分片为空或过大。", code="payload_too_large", status=413)
        if self.server_recording:
            raise Conflict("本场接访由服务器同步录像，无需上传。", code="server_recording")
        result: int | str = await self.store.add_chunk(
            found.id, seq, data, self.max_recording, member.actor, self.clock.now()
        )
        if result == "too_large":
            raise IntakeError("录像超过本场接访的容量上限。", code="recording_too_large", status=413)
        if isinstance(result, str):
            raise Conflict("录像分片顺序不对，或本场接访不在进行中。", code=f"chunk_{result}")
        return result

    async def recording(self, member: StaffMember, session_id: str) -> tuple[str, bytes]:
        """The recording attached to the filed case, for the officer or a supervisor; audited."""
        found = await self.session(member, session_id)
        if not (self.may(member, found, "officer") or self.may(member, found, "supervisor")):
            raise NotAllowed("您不能查看本场录像。", code="forbidden")
        if not found.case_no:
            raise NotFound("本场接访尚未登记，录像还未归档。", code="recording_not_found")
        attachments = [
            a
            for a in await self.workflow.attachments(member, found.case_no)
            if a.content_type == "video/webm"
        ]
        if not attachments:
            raise NotFound("本场接访没有录像。", code="recording_not_found")
        blob = await self.workflow.attachment(member, found.case_no, str(attachments[0].id))
        report_id = await self.store.report_id_of(found.case_no)
        await self.store.audit(
            "reception_recording_viewed",
            member.actor,
            self.clock.now(),
            {"session": str(found.id), "attachment": str(attachments[0].id)},
            report_id,
        )
        return blob.content_type, blob.data
