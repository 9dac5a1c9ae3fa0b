"""Rooms shared by several server workers (issue 21): what the signaling hub needs from them.

On the embedded SQLite default one process serves every room from memory and there is no bus. On
PostgreSQL every worker holds the sockets connected to it, and the bus (``storage.reception_rooms``:
tables plus LISTEN/NOTIFY) keeps what the workers share: who sits in each room and on which worker,
the room tokens already spent, and the messages between workers. ``video_reception.shared_rooms``
is the hub on top of it.

Every seat change is one transaction that numbers it within its room (``seq``: the changes of a
room are ordered across workers) and publishes a *seat signal* to every worker::

    {"kind": "seat", "op": "joined" | "resumed" | "dropped" | "left", "room": ..., "seat": ...,
     "role": ..., "worker": <the worker holding the seat>, "joined_at": <epoch seconds>,
     "connected": bool, "seq": int, "w": <the worker that made the change>}

The hub's own signals, published with :meth:`RoomBus.publish`, are ``send`` (a message for the seat
``seat`` on the worker ``to_worker``), ``broadcast`` (a message for every seat of a room, or of one
``role``) and the recorder's ``stop-recording`` / ``recording-stopped``. Every signal carries the
worker that sent it (``w``) and reaches every worker, the sender's too: the hub skips its own.

A worker renews a lease every few seconds; the seats of a worker whose lease ran out (killed with
``kill -9``, frozen, cut off from the database) are dropped, so they can be resumed elsewhere within
the grace period, and expire after it (``left``), by whichever worker sweeps first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from storage.records import SeatTaken, SharedRoom, SharedSeat, Signal

__all__ = ["Deliver", "Reset", "RoomBus", "SeatTaken", "SharedRoom", "SharedSeat", "Signal"]


Deliver = Callable[[Signal], Awaitable[None]]
Reset = Callable[[list[SharedRoom]], Awaitable[None]]


class RoomBus(Protocol):
    """Room state and messages shared by the workers of one database."""

    worker: str  # this worker's id, unique per process start

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        """Listen: every signal goes to ``deliver`` in the order published; ``reset`` gets every
        room with seats at start and again after the bus lost its connection (signals may have been
        missed meanwhile)."""

    async def close(self) -> None:
        """Stop listening; the seats this worker still holds are dropped (another worker may take
        them back within the grace period) and its lease is given up."""

    async def spend(self, nonce: str, expires: int) -> bool:
        """Whether the room token with this nonce was not spent before (and now is)."""

    async def take_seat(self, room: str, seat: str, role: str) -> SeatTaken:
        """This worker takes the seat (new, or resumed from any worker) and tells every worker."""

    async def drop_seat(self, room: str, seat: str) -> bool:
        """The seat's connection dropped: kept for the grace period. False when this worker no
        longer holds it."""

    async def leave_seat(self, room: str, seat: str, *, connected: bool = False) -> bool:
        """The seat leaves the room (a dropped seat whose grace ran out, or ``connected`` as well:
        the recorder leaving). False when this worker no longer holds it (taken elsewhere)."""

    async def publish(self, signal: Signal) -> None:
        """Send ``signal`` to every worker (any size: large ones travel through a table)."""
