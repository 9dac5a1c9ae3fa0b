"""The redaction of what is filed: a report's texts and evidence file names, and a follow-up, with
the informant's own details replaced by placeholders (:mod:`intake.redaction` finds those the text
ties to the writer, :mod:`intake.given_identity` the values they gave), and what was found, to be
sealed by the pipeline."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any

from intake import given_identity, redaction
from intake.domain import Submission, Upload

# Texts up to this many characters are redacted on the event loop (measured ≈ 75 µs for 300
# characters with an ID number and a phone in them); longer ones go to a worker thread, and so do
# follow-ups whose keyed-hash matching would cost as much.
INLINE_REDACTION_CHARS = 2000


_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def split_suffix(filename: str) -> tuple[str, str]:
    """``证据_x.png`` → (``证据_x``, ``.png``): file names are redacted with their type kept."""
    m = _SUFFIX.search(filename)
    return (filename[: m.start()], m.group()) if m else (filename, "")


@dataclass(frozen=True)
class Redacted:
    """A submission's texts after redaction, its evidence (file names redacted) and proofs of
    identity, what the redaction found and the identity values given."""

    content: str
    title: str | None
    evidence: list[Upload]
    proofs: list[Upload]
    found: list[dict[str, str]]
    given: list[tuple[str, str]]


async def redact_submission(sub: Submission, anonymous: bool) -> Redacted:
    """The submission's texts and evidence file names with the informant's own details replaced,
    and what was found. The informant's proof of identity (an ID-card photo …) is identity: one
    vault entry per file, opened only by the reveal workflow, destroyed by crypto-shredding."""
    evidence = [a for a in sub.attachments if not a.identifying]
    proofs = [a for a in sub.attachments if a.identifying and not anonymous]
    # The values given in the identity fields are redacted wherever the informant also wrote
    # them (text, title, evidence file names), and kept as per-report keyed hashes for the
    # follow-ups to come.
    given = given_identity.terms_of(sub.reporter, sub.handles)
    terms = given_identity.PlainTerms(given) if given else None
    stems = [split_suffix(a.filename) for a in evidence]
    content, title, *clean_stems, found = await redact_texts(
        terms, sub.accused.name, sub.content, sub.title, *(stem for stem, _ in stems)
    )
    evidence = [
        replace(a, filename=stem + suffix)
        for a, stem, (_, suffix) in zip(evidence, clean_stems, stems, strict=True)
    ]
    return Redacted(content, title, evidence, proofs, found, given)


async def redact_texts(
    terms: given_identity.Lookup | None, accused: str | None, *texts: str | None
) -> tuple[Any, ...]:
    """Each text with the informant's own details replaced by placeholders — those the text ties
    to the writer (the patterns) and the values they gave (``terms``) — and those details, to
    be sealed. jieba's tagger runs only when a cheap look says there may be something for the
    patterns to find, and off the event loop for long texts or many keyed hashes."""
    quick = [t is not None and redaction.may_contain_identity(t) for t in texts]
    if terms is None and not any(quick):
        return (*texts, [])

    def run() -> tuple[Any, ...]:
        out: list[str | None] = []
        found: list[dict[str, str]] = []
        for t, look in zip(texts, quick, strict=True):
            if not t:
                out.append(t)
                continue
            findings = redaction.find_identity(t) if look else []
            if terms is not None and (given := given_identity.find(t, terms, accused)):
                findings = redaction.merge([*findings, *given], t)
            out.append(redaction.apply(t, findings))
            found.extend({"kind": f.kind, "text": f.text} for f in findings)
        return (*out, found)

    # A keyed hash costs about what the patterns spend on four characters.
    work = sum(len(t) for t in texts if t) * (1 + 4 * (terms.cost if terms else 0))
    if redaction.is_warm() and work <= INLINE_REDACTION_CHARS:
        return run()  # ~0.1 ms for a typical report: cheaper than a hop to a thread
    return await asyncio.to_thread(run)
