"""The deployment's receipt-signing key (受理回执签名): Ed25519, derived from the keyring's root.

Derived, not stored: every worker of a deployment signs with the same key without a file to share,
the key survives key-encryption-key rotation (the derivation root is stable across it), and an
``INTAKE_MASTER_KEY`` deployment has it as well. The private half never leaves this module.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from storage.keys import Keyring

_PURPOSE = "receipt-signing/ed25519"


class ReceiptSigner:
    """Signs receipt messages; :attr:`public_key` (32 raw bytes) is what anyone verifies with."""

    def __init__(self, keyring: Keyring) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(keyring.derive(_PURPOSE))
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:  # never the key
        return "ReceiptSigner()"


def signature_valid(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is an Ed25519 signature of ``message`` under the raw ``public_key``.
    A malformed key or signature is simply not valid."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
