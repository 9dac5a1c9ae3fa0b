"""What a channel may ask of the service layer (:class:`ChannelIntake`), in place of the pipeline.

A channel files a citizen's report, looks a case up by its query code, adds a follow-up, attaches a
file that came after its report, and makes keyed hashes for its own keys (rate-limit keys, form
tokens, message ids) and for the informant's handle (a conversation's key). It never gets the
database, the key material or the pipeline's other paths (a historical import, the triage queue).
The dialogue engines (:mod:`intake.conversations`, :mod:`intake.dialogue_state`) keep their state
through :attr:`ChannelIntake.dialogue_store`.
"""

from __future__ import annotations

import uuid

from intake.clock import Clock
from intake.domain import CaseStatus, Receipt, Submission
from intake.errors import ValidationError
from intake.jurisdiction import Jurisdiction
from intake.metrics import Metrics
from intake.pipeline import Pipeline
from intake.ratelimit import Nonces, SharedNonces, clock_seconds
from storage.conversations import ConversationStore
from storage.vault import blind_index


class ChannelIntake:
    def __init__(self, pipeline: Pipeline) -> None:
        self.__pipeline = pipeline
        self.jurisdiction: Jurisdiction = pipeline.jurisdiction
        self.clock: Clock = pipeline.clock
        self.metrics: Metrics = pipeline.metrics
        # The units that take reports (an entry point or a platform account may name one of them).
        self.receiving_units: frozenset[str] = pipeline.receiving_units

    @property
    def receipt_key(self) -> str:
        """The Ed25519 public key receipts are signed with (base64), to publish."""
        return self.__pipeline.receipts.public_key

    def check_receipt(self, receipt: object) -> str | None:
        """None when a pasted receipt's signature is valid, else why not (Chinese)."""
        return self.__pipeline.receipts.check(receipt)

    async def accept(self, sub: Submission) -> Receipt:
        """File a citizen's report (:meth:`intake.pipeline.Pipeline.accept`)."""
        return await self.__pipeline.accept(sub)

    async def status(self, raw_code: str, client_key: str) -> CaseStatus:
        """The case a query code opens; throttled per ``client_key``."""
        return await self.__pipeline.status(raw_code, client_key)

    async def add_followup(self, raw_code: str, content: str, channel: str, client_key: str) -> str:
        """The informant adds to their case; the case number."""
        return await self.__pipeline.add_followup(raw_code, content, channel, client_key)

    async def attach(
        self, case_no: str, filename: str, content_type: str, data: bytes, actor: str
    ) -> uuid.UUID:
        """A file that arrived after its report (a platform's media), stored with the case."""
        return await self.__pipeline.attach(case_no, filename, content_type, data, actor)

    def nonces(self, scope: str, local: Nonces) -> Nonces:
        """Where the one-time values of ``scope`` (a signed request's signature) are remembered:
        in the database when several workers share it (PostgreSQL), else ``local``, this
        process's own structure."""
        shared = self.__pipeline.shared_limits
        return local if shared is None else SharedNonces(shared, scope, clock_seconds(self.clock))

    def mac(self, purpose: str, data: bytes) -> str:
        """A keyed hash for the channel's own keys, without handing out key material."""
        return self.__pipeline.mac(purpose, data)

    def handle_index(self, handle_kind: str, handle: str) -> str | None:
        """The blind index of an informant's handle (openid, uid, chat id, phone), None when the
        handle is not one of its kind: the key their conversation is kept under."""
        index = blind_index(self.__pipeline.keyring, handle_kind, handle)
        return index.mac if index is not None else None

    def conversation_key(self, handle_kind: str, handle: str) -> str:
        """:meth:`handle_index`, refusing a sender whose handle is not valid."""
        key = self.handle_index(handle_kind, handle)
        if key is None:
            raise ValidationError("消息发送者标识无效。", code="invalid_sender")
        return key

    @property
    def dialogue_store(self) -> ConversationStore:
        """The platform dialogues' state (drafts sealed by storage), for the dialogue engines."""
        return self.__pipeline.conversations
