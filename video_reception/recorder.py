"""The server's recording seat: an aiortc peer joined to a session's room as ``recorder`` (receive
only) through the same signaling as every seat. It takes the audio and video of the township
screen and of the officer (each its own WebM file, VP8 + Opus, re-encoded at 320×240 by libvpx's
realtime mode) and hands the bytes over as they come, in chunks, for storage to encrypt
(:meth:`intake.reception.ReceptionService.server_chunk`). What was received is kept when a peer
vanishes: each chunk is stored once written; a cut file still plays up to the cut.

Seat keys are the recording's parts: ``host``, ``officer`` (``host-2`` … after a reconnection
that needed a new connection). Supervisors are not recorded (they only watch)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("video_reception.recorder")

RECORDED_ROLES = ("host", "officer")
CHUNK = 256 * 1024
WIDTH, HEIGHT = 320, 240
Write = Callable[[str, bytes], Awaitable[None]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Chunks:
    """The file PyAV writes to (write-only: the WebM muxer then writes a live stream): full chunks
    go to the session's queue at once, the rest on close."""

    def __init__(self, part: str, queue: asyncio.Queue[tuple[str, bytes] | None]) -> None:
        self.part, self.queue = part, queue
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        """(Called on the recording's encoder thread: the queue is the event loop's.)"""
        if self.buffer:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (self.part, bytes(self.buffer)))
            self.buffer.clear()


class PeerRecording:
    """One participant's tracks muxed into one WebM file. Encoding and muxing run on a thread of
    the recording's own (one at a time: the muxer is not shared across threads), never on the event
    loop, which keeps relaying every room's signaling."""

    def __init__(self, part: str, queue: asyncio.Queue[tuple[str, bytes] | None]) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        self.part = part
        self.file = _Chunks(part, queue)
        self.container = av.open(self.file, mode="w", format="webm")
        self.streams: list[tuple[Any, Any]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False
        self.frames = 0  # received and encoded, every track
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"recorder-{part}")
        # A scaler of the recording's own: frame.reformat shares one across threads (libswscale
        # crashed with 20 rooms at once).
        self.scaler = VideoReformatter()

    def add(self, track: Any) -> None:
        stream: Any
        if track.kind == "audio":
            stream = self.container.add_stream("libopus", rate=48000)
            stream.layout = "stereo"
        else:
            options = {"deadline": "realtime", "cpu-used": "8"}
            stream = self.container.add_stream("libvpx", rate=30, options=options)
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            stream.bit_rate = 300_000
        self.streams.append((track, stream))

    def start(self) -> None:
        for track, stream in self.streams:
            self.tasks.append(asyncio.create_task(self._run(track, stream)))

    async def _run(self, track: Any, stream: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            await loop.run_in_executor(self.encoder, self._encode, track.kind, stream, frame)
            self.frames += 1

    def _encode(self, kind: str, stream: Any, frame: Any) -> None:
        if self.closed:
            return
        if kind == "video":
            frame = self.scaler.reformat(frame, width=WIDTH, height=HEIGHT, format="yuv420p")
        for packet in stream.encode(frame):
            self.container.mux(packet)

    def _finish(self, started: bool) -> None:
        try:
            if started:
                for _track, stream in self.streams:
                    for packet in stream.encode(None):
                        self.container.mux(packet)
            self.container.close()
        except Exception:  # a muxer that never started (no frame came): nothing to finish
            log.info("recording closed without media", extra={"role": self.part})
        self.file.flush()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.encoder, self._finish, bool(self.tasks))
        self.encoder.shutdown(wait=False)


class RoomRecorder:
    """The recording seat of one room."""

    def __init__(self, room: str, write: Write, ice_servers: list[dict[str, Any]]) -> None:
        self.room = room
        self.write = write
        self.ice_servers = ice_servers
        self.send: Send | None = None
        self.pcs: dict[str, Any] = {}
        self.recordings: dict[str, PeerRecording] = {}
        self.parts: dict[str, int] = {}
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self.writer = asyncio.create_task(self._drain())
        self.stored = 0

    async def _drain(self) -> None:
        """Chunks in the order written, one at a time (storage numbers them in that order)."""
        while (item := await self.queue.get()) is not None:
            part, data = item
            try:
                await self.write(part, data)
                self.stored += len(data)
            except Exception:
                log.exception("recording chunk not stored", extra={"role": part})

    # --- signaling ---------------------------------------------------------------------------------

    async def on_message(self, doc: dict[str, Any]) -> None:
        kind, peer = doc.get("type"), str(doc.get("peer") or doc.get("from") or "")
        # (On ``welcome`` nothing: those present make the offer to the newcomer.)
        if kind == "peer-joined" and doc.get("role") in RECORDED_ROLES:
            await self._offer(peer)
        elif kind == "peer-resumed" and doc.get("role") in RECORDED_ROLES:
            pc = self.pcs.get(peer)
            if pc is None or pc.connectionState in ("failed", "closed"):
                await self._offer(peer)
        elif kind == "peer-left":
            await self._finish(peer)
        elif kind == "description" and isinstance(doc.get("description"), dict):
            await self._description(peer, doc["description"])

    def _new_pc(self, peer: str) -> Any:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

        servers = [RTCIceServer(**s) for s in self.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.parts[peer] = self.parts.get(peer, 0) + 1
        n = self.parts[peer]
        recording = PeerRecording(peer if n == 1 else f"{peer}-{n}", self.queue)
        self.recordings[peer] = recording
        pc.on("track", recording.add)
        self.pcs[peer] = pc
        return pc

    async def _offer(self, peer: str) -> None:
        await self._finish(peer)
        pc = self._new_pc(peer)
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await self._send_description(peer, pc)

    async def _description(self, peer: str, desc: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription

        sdp, kind = desc.get("sdp"), desc.get("type")
        if peer not in RECORDED_ROLES or not isinstance(sdp, str) or kind not in ("offer", "answer"):
            return  # supervisors only watch: not recorded
        pc = self.pcs.get(peer)
        if kind == "offer":
            # A peer that made a new connection: its earlier part ends here.
            await self._finish(peer)
            pc = self._new_pc(peer)
        if pc is None or (kind == "answer" and pc.signalingState != "have-local-offer"):
            return
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
            if kind == "offer":
                await pc.setLocalDescription(await pc.createAnswer())
                await self._send_description(peer, pc)
        except Exception:
            log.info("recorder refused a description", extra={"role": peer})
            return
        self.recordings[peer].start()

    async def _send_description(self, peer: str, pc: Any) -> None:
        assert self.send is not None
        desc = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
        await self.send({"type": "description", "to": peer, "description": desc})

    async def _finish(self, peer: str) -> None:
        recording, pc = self.recordings.pop(peer, None), self.pcs.pop(peer, None)
        if recording is not None:
            await recording.close()
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        """Every part closed and every chunk stored."""
        for peer in list(self.pcs):
            await self._finish(peer)
        self.queue.put_nowait(None)
        await self.writer
