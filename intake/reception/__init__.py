"""The service layer of video reception (视频接访): booking against the slot plan, who may take which
seat, room tokens, consent, minutes, filing through the pipeline, recording and oversight. The
signaling hub (WebSockets) and the pages are ``video_reception``'s; the hub is injected."""

from intake.reception.service import Filed, ReceptionContext, ReceptionService, RoomHub
from intake.reception.tokens import RoomTokens

__all__ = ["Filed", "ReceptionContext", "ReceptionService", "RoomHub", "RoomTokens"]
