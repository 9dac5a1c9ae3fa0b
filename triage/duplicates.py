"""Near-duplicate reports across channels: MinHash signatures with LSH banding.

The same informant often files the same complaint by web, then WeChat, then letter; a 重复件 is
kept on file and not moved on again (S1 arts 14, 26). A report's signature is the MinHash (64
permutations) of its shingles: jieba word 3-grams of the normalized text (unigrams for very short
texts), hashed with CRC-32 so that signatures are stable across processes and can be stored.

:class:`DuplicateIndex` is fed by the caller — ``add(case_no, text)`` or, cheaper, ``add_signature(
case_no, result.signature)`` with the signature triage already computed — and answers
``query(text)`` with the earliest stored case whose estimated Jaccard similarity reaches the
threshold (0.7 by default), or None.

It is built for a million stored reports in modest memory: the band keys (16 bands × 4 rows,
each band's keys salted apart) live in one sorted numpy array searched by ``searchsorted``, new
keys wait in a small dict that is merged in batches, and candidates are verified on an 8-bit slice
of each stored signature (64 bytes per report). About 320 bytes per report in all; a query is two
vectorized binary searches (16 keys each) plus a few comparisons. Adding and querying are
thread-safe (one lock; a query takes microseconds).
"""

from __future__ import annotations

import sys
import threading
import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


# Permutation i maps a 32-bit shingle hash x to (A[i]·x + B[i]) mod 2**64 (multiply-add
# hashing with odd 64-bit A: its high bits are well mixed); the signature keeps the high 32 bits
# of each minimum. A and B are fixed so that stored signatures stay comparable across releases.
_A = np.array([_splitmix64(2 * i) | 1 for i in range(NUM_PERM)], dtype=np.uint64)
_B = np.array([_splitmix64(2 * i + 1) for i in range(NUM_PERM)], dtype=np.uint64)
# One signature is computed as a (shingles, permutations) table reduced over its first axis:
# numpy's minimum runs along contiguous rows then, twice as fast as over the other axis.
_A_ROW = _A[None, :]
_B_ROW = _B[None, :]
_S32, _S29 = np.uint64(32), np.uint64(29)
_HIGH_HALF = 1 if sys.byteorder == "little" else 0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _premix(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Spread each shingle hash over 64 bits once (O(n)), so structured inputs hash well too.

    Integer arrays wrap on overflow without a warning (only numpy scalars warn), so this module
    uses no ``np.errstate``: entering one costs more than the arithmetic on a short report."""
    h = hashes * _GOLDEN
    h ^= h >> _S29
    return h


_BAND_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], np.uint64
)
_PUNCT = frozenset("，。！？、；：“”‘’（）《》【】…—,.!?;:()[]<>\"' \t\n-~·")

U32 = npt.NDArray[np.uint32]


def shingles(tokens: Sequence[str]) -> set[str]:
    """Word 3-grams (joined by U+001F) of the tokens that are not spaces or punctuation; the
    words themselves when there are fewer than five."""
    words = [t for t in tokens if t not in _PUNCT and not t.isspace() and t]
    if len(words) < 5:
        return set(words)
    return {f"{a}\x1f{b}\x1f{c}" for a, b, c in zip(words, words[1:], words[2:], strict=False)}


def signature_of_hashes(hashes: npt.NDArray[np.uint64]) -> U32:
    """MinHash signature (NUM_PERM uint32) of a set of 32-bit shingle hashes."""
    if hashes.size == 0:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
    return _signature_of_premixed(_premix(hashes))


def _signature_of_premixed(mixed: npt.NDArray[np.uint64]) -> U32:
    v = mixed[:, None] * _A_ROW
    v += _B_ROW
    # The high 32 bits of each minimum: every other uint32 of the minima (``>> 32`` and a cast
    # without arithmetic; a strided view, copied by ``tobytes``).
    sig: U32 = np.minimum.reduce(v, axis=0).view(np.uint32)[_HIGH_HALF::2]
    return sig


_MASK64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN_INT = int(_GOLDEN)
# Below this many shingles :func:`_premix` in plain integers costs less than its three numpy calls.
_FEW = 24


def signatures_of_hash_sets(hashes: npt.NDArray[np.uint64], offsets: npt.NDArray[np.int64]) -> U32:
    """Signatures of many shingle sets at once: set k is ``hashes[offsets[k]:offsets[k + 1]]``
    (every set non-empty). For bulk loads and the benchmark."""
    v = np.multiply.outer(_A, _premix(hashes))
    v += _B[:, None]
    mins = np.minimum.reduceat(v, offsets[:-1], axis=1)
    sigs: U32 = (mins.T >> _S32).astype(np.uint32)
    return sigs


def signature(tokens: Sequence[str]) -> U32:
    """The MinHash signature of a segmented, normalized text."""
    found = shingles(tokens)
    if not found or len(found) >= _FEW:
        hs = np.fromiter(map(zlib.crc32, map(str.encode, found)), dtype=np.uint64, count=len(found))
        return signature_of_hashes(hs)
    # A short report: the same premix as :func:`_premix`, on Python integers (mod 2**64).
    mixed = []
    for h in map(zlib.crc32, map(str.encode, found)):
        x = (h * _GOLDEN_INT) & _MASK64
        mixed.append(x ^ (x >> 29))
    return _signature_of_premixed(np.array(mixed, dtype=np.uint64))


def band_keys(sigs: U32) -> npt.NDArray[np.uint64]:
    """One 64-bit key per band for each signature: shape (n, BANDS) for input (n, NUM_PERM)."""
    s = np.atleast_2d(sigs).astype(np.uint64).reshape(-1, BANDS, ROWS)
    keys: npt.NDArray[np.uint64] = (s * _BAND_MIX[:ROWS]).sum(axis=2, dtype=np.uint64)
    keys ^= keys >> np.uint64(29)
    return keys


def _salted_band_keys(raw: bytes) -> list[int]:
    """``band_keys(sig)[0] ^ _BAND_SALT`` for one signature in its stored form: one product of the
    (bands, rows) table with the row weights (integer ``matmul`` wraps mod 2**64, as the sum
    there does), half the time of the same arithmetic on Python integers."""
    keys: npt.NDArray[np.uint64] = np.frombuffer(raw, dtype=np.uint32).reshape(BANDS, ROWS) @ _BAND_MIX_ROWS
    keys ^= keys >> _S29
    keys ^= _BAND_SALT
    out: list[int] = keys.tolist()
    return out


def estimate_jaccard(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """Jaccard estimate from 8-bit MinHash slices (b-bit minwise hashing, b = 8)."""
    agree = np.count_nonzero(np.atleast_2d(b) == a, axis=-1) / a.shape[-1]
    est: npt.NDArray[np.float64] = (agree - 1 / 256) / (1 - 1 / 256)
    return est


_ONES = int.from_bytes(b"\x01" * NUM_PERM, "little")


def _estimate_jaccard_bytes(a: bytes, b: bytes) -> float:
    """:func:`estimate_jaccard` of two slices as bytes, on Python integers (a few candidates cost
    less so than in numpy): the bytes that differ are the nonzero bytes of ``a ^ b``, each folded
    onto its lowest bit. The same float operations as there, so the same value."""
    x = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
    x |= x >> 4
    x |= x >> 2
    x |= x >> 1
    agree = (NUM_PERM - (x & _ONES).bit_count()) / NUM_PERM
    return (agree - 1 / 256) / (1 - 1 / 256)


# A signature's stored form is its uint32 values' bytes in the machine's order; the low byte of
# each (the 8-bit slice) is then every fourth byte from the first or the fourth.
_LOW_BYTE = 0 if sys.byteorder == "little" else 3
_EMPTY = np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32).tobytes()
# Up to this many candidates a query verifies them one by one in Python, beyond in numpy.
_FEW_CANDIDATES = 8


# Each band's keys live in one shared table, told apart by a per-band salt (a collision across
# bands only adds a candidate, which the verification step then rejects).
_BAND_SALT = np.array([_splitmix64(1000 + b) for b in range(BANDS)], dtype=np.uint64)


_BAND_MIX_ROWS = _BAND_MIX[:ROWS].copy()


class _Table:
    """Sorted (salted band key, row) pairs of every band, plus a dict of recent additions that is
    merged in batches; a lookup of all bands is two vectorized binary searches."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.uint64)
        self.ids = np.empty(0, dtype=np.int64)
        # Key → its row, or its rows (a list, in insertion order) once a second row shares it:
        # nearly every key has one, and a bare int spares a list per key.
        self.pending: dict[int, int | list[int]] = {}

    def add(self, keys: list[int], row: int) -> None:
        pending = self.pending
        get = pending.get
        for key in keys:
            rows = get(key)
            if rows is None:
                pending[key] = row
            elif isinstance(rows, int):
                pending[key] = [rows, row]
            else:
                rows.append(row)

    def _pending_pairs(self) -> Iterator[tuple[int, int]]:
        for key, rows in self.pending.items():
            if isinstance(rows, int):
                yield key, rows
            else:
                for row in rows:
                    yield key, row

    def add_many(self, keys: npt.NDArray[np.uint64], rows: npt.NDArray[np.int64]) -> None:
        # Sort only the new pairs and merge them in (linear), instead of re-sorting everything:
        # a bulk load in batches stays O(n) per batch. Equal keys keep insertion order.
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        if not self.keys.size:
            self.keys, self.ids = keys, rows
            return
        at = np.searchsorted(self.keys, keys, side="right")
        self.keys = np.insert(self.keys, at, keys)
        self.ids = np.insert(self.ids, at, rows)

    def merge(self) -> None:
        if not self.pending:
            return
        keys, rows = zip(*self._pending_pairs(), strict=True)
        self.add_many(np.array(keys, dtype=np.uint64), np.array(rows, dtype=np.int64))
        self.pending = {}

    def lookup(self, keys: list[int]) -> set[int]:
        found: set[int] = set()
        if self.keys.size:
            wanted = np.array(keys, dtype=np.uint64)
            lo = np.searchsorted(self.keys, wanted, side="left")
            hi = np.searchsorted(self.keys, wanted, side="right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    found.update(self.ids[a:b].tolist())
        if self.pending:
            get = self.pending.get
            for key in keys:
                rows = get(key)
                if rows is None:
                    continue
                if isinstance(rows, int):
                    found.add(rows)
                else:
                    found.update(rows)
        return found


class DuplicateIndex:
    """Near-duplicate lookup over stored reports, keyed by case number."""

    def __init__(self, threshold: float = 0.7, merge_every: int = 50_000) -> None:
        self.threshold = threshold
        self._merge_every = merge_every
        self._table = _Table()
        self._cases: list[str] = []
        self._low = np.empty((0, NUM_PERM), dtype=np.uint8)
        self._low_pending: list[bytes] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._last_keys: tuple[bytes, list[int]] | None = None

    @staticmethod
    def _raw(sig: bytes | U32) -> bytes:
        """The stored form (256 bytes) of a signature given as bytes or as an array."""
        if isinstance(sig, bytes):
            if len(sig) != 4 * NUM_PERM:
                raise ValueError(f"a signature has {NUM_PERM} uint32 values")
            return sig
        arr = np.asarray(sig, np.uint32)
        if arr.shape != (NUM_PERM,):
            raise ValueError(f"a signature has {NUM_PERM} uint32 values")
        return arr.tobytes()

    def __len__(self) -> int:
        return len(self._cases)

    @staticmethod
    def signature(text: str) -> bytes:
        """The stored form of a text's signature (256 bytes); triage results carry it too."""
        from triage import segment
        from triage.normalize import normalize

        return signature(segment.cut(normalize(text))).tobytes()

    def add(self, case_no: str, text: str) -> None:
        self.add_signature(case_no, self.signature(text))

    def add_signature(self, case_no: str, sig: bytes | U32) -> None:
        raw = self._raw(sig)
        keys = self._keys_of(raw)
        with self._lock:
            row = len(self._cases)
            self._cases.append(case_no)
            self._low_pending.append(raw[_LOW_BYTE::4])
            self._table.add(keys, row)
            self._pending += 1
            if self._pending >= self._merge_every:
                self._merge()

    def add_signatures(self, case_nos: Sequence[str], sigs: U32) -> None:
        """Bulk load (e.g. at start-up from stored signatures): shape (n, NUM_PERM)."""
        sigs = np.asarray(sigs, dtype=np.uint32).reshape(-1, NUM_PERM)
        if len(case_nos) != len(sigs):
            raise ValueError("one case number per signature")
        keys = band_keys(sigs) ^ _BAND_SALT  # (n, BANDS)
        with self._lock:
            self._merge()
            start = len(self._cases)
            self._cases.extend(case_nos)
            rows = np.arange(start, start + len(sigs), dtype=np.int64)
            self._table.add_many(keys.ravel(), np.repeat(rows, BANDS))
            self._low = np.concatenate([self._low, (sigs & 0xFF).astype(np.uint8)])

    def _merge(self) -> None:
        self._table.merge()
        if self._low_pending:
            recent = np.frombuffer(b"".join(self._low_pending), dtype=np.uint8).reshape(-1, NUM_PERM)
            self._low = np.concatenate([self._low, recent])
            self._low_pending = []
        self._pending = 0

    def query(self, text: str) -> str | None:
        return self.query_signature(self.signature(text))

    def query_signature(self, sig: bytes | U32) -> str | None:
        """The earliest stored case at or above the threshold, or None."""
        raw = self._raw(sig)
        if raw == _EMPTY:  # no shingles: matches nothing
            return None
        keys = self._keys_of(raw)
        with self._lock:
            return self._query(raw, keys)

    def _keys_of(self, raw: bytes) -> list[int]:
        """The salted band keys of a signature; the last one is kept, because a report is queried
        and then added with the same signature (half the band hashing per report)."""
        last = self._last_keys
        if last is not None and last[0] == raw:
            return last[1]
        keys = _salted_band_keys(raw)
        self._last_keys = (raw, keys)
        return keys

    def _query(self, raw: bytes, keys: list[int]) -> str | None:
        if not self._cases:
            return None
        candidates = self._table.lookup(keys)
        if not candidates:
            return None
        stored = len(self._low)
        low_bytes = raw[_LOW_BYTE::4]
        if len(candidates) <= _FEW_CANDIDATES:
            for row in sorted(candidates):
                other = self._low[row].tobytes() if row < stored else self._low_pending[row - stored]
                if _estimate_jaccard_bytes(low_bytes, other) >= self.threshold:
                    return self._cases[row]
            return None
        rows = np.fromiter(sorted(candidates), dtype=np.int64)
        low = np.frombuffer(low_bytes, dtype=np.uint8)
        sims = np.empty(len(rows))
        in_main = rows < stored
        if in_main.any():
            sims[in_main] = estimate_jaccard(low, self._low[rows[in_main]])
        if not in_main.all():
            recent = np.frombuffer(
                b"".join(self._low_pending[int(r) - stored] for r in rows[~in_main]), dtype=np.uint8
            ).reshape(-1, NUM_PERM)
            sims[~in_main] = estimate_jaccard(low, recent)
        hits = rows[sims >= self.threshold]
        return self._cases[int(hits.min())] if hits.size else None

    def nbytes(self) -> int:
        """Approximate memory held by the arrays (not the case-number strings)."""
        return int(self._low.nbytes + self._table.keys.nbytes + self._table.ids.nbytes)
