"""The challenge TXT values this deployment wrote and has not removed yet: <prefix>challenges.json.

A run records each value before it publishes it, and forgets it once it is removed. A run that
dies in between (a Lambda timeout; killed after reading a record set, before writing it back) or
whose cleanup fails leaves it recorded, and the next run for the certificate removes exactly the
recorded values, whatever else is at the name: values others wrote are never in the journal, so
they are never touched. A value is left alone until the run that wrote it can no longer be
running (`until`, its invocation's deadline), so a run never pulls a value another run is still
being validated with.

Beside the certificate rather than in SSM (docs/internals.md, "Challenge records"): the
certificate's own S3 grant covers it, and it holds one certificate's values only.

IAM: s3:GetObject, s3:PutObject on <bucket>/<prefix>* (the certificate's own grant).
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from chalicelib.certificates.challenges import Route53Challenges
from chalicelib.certificates.settings import CertificateSpec
from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.logs import logger

JOURNAL_KEY = "challenges.json"


class JournalUnreadable(ValueError):
    """challenges.json is not a journal this code wrote."""


@dataclass(frozen=True)
class ChallengeValue:
    zone_id: str
    name: str
    value: str
    until: datetime  # the run that wrote it cannot be running after this

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.zone_id, self.name, self.value


# --- the journal document (pure) ---

def parse_journal(body: bytes | None) -> tuple[ChallengeValue, ...]:
    if body is None:
        return ()
    try:
        document = json.loads(body)
        return tuple(ChallengeValue(entry["zoneId"], entry["name"], entry["value"],
                                    datetime.fromisoformat(entry["until"]))
                     for entry in document["challenges"])
    except (ValueError, KeyError, TypeError) as error:
        raise JournalUnreadable(f"{JOURNAL_KEY} is not a challenge journal") from error


def journal_document(values: Iterable[ChallengeValue]) -> str:
    return json.dumps({"challenges": [
        {"zoneId": v.zone_id, "name": v.name, "value": v.value, "until": v.until.isoformat()} for v in values]},
        indent=2)


def with_values(recorded: Iterable[ChallengeValue], new: Iterable[ChallengeValue]) -> tuple[ChallengeValue, ...]:
    """The journal with these values added; a value recorded again takes the new `until`."""
    merged = {v.identity: v for v in recorded}
    merged.update({v.identity: v for v in new})
    return tuple(merged.values())


def without_values(recorded: Iterable[ChallengeValue], gone: Iterable[ChallengeValue]) -> tuple[ChallengeValue, ...]:
    removed = {v.identity for v in gone}
    return tuple(v for v in recorded if v.identity not in removed)


def abandoned(recorded: Iterable[ChallengeValue], now: datetime) -> tuple[ChallengeValue, ...]:
    """Values whose run can no longer be running: nobody will remove them but us."""
    return tuple(v for v in recorded if v.until <= now)


def values_by_zone(values: Iterable[ChallengeValue]) -> dict[str, dict[str, list[str]]]:
    grouped: dict[str, dict[str, list[str]]] = {}
    for v in values:
        grouped.setdefault(v.zone_id, {}).setdefault(v.name, []).append(v.value)
    return grouped


def challenge_values(zone_id: str, values_by_name: Mapping[str, Iterable[str]],
                     until: datetime) -> tuple[ChallengeValue, ...]:
    return tuple(ChallengeValue(zone_id, name, value, until)
                 for name, values in values_by_name.items() for value in dict.fromkeys(values))


# --- S3 ---

class ChallengeJournal:
    def __init__(self, client, spec: CertificateSpec):
        self._client = client
        self._bucket = spec.bucket
        self._key = spec.key(JOURNAL_KEY)

    def recorded(self) -> tuple[ChallengeValue, ...]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=self._key)["Body"].read()
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return ()
            raise
        try:
            return parse_journal(body)
        except JournalUnreadable:
            # What it named cannot be known; recording anew beats failing every run on it.
            logger.warning("Challenge journal is unreadable; starting a new one", bucket=self._bucket, key=self._key)
            return ()

    def record(self, values: Iterable[ChallengeValue]) -> None:
        self._write(with_values(self.recorded(), values))

    def forget(self, values: Iterable[ChallengeValue]) -> None:
        values = tuple(values)
        if values:
            self._write(without_values(self.recorded(), values))

    def _write(self, values: tuple[ChallengeValue, ...]) -> None:
        self._client.put_object(Bucket=self._bucket, Key=self._key, Body=journal_document(values).encode(),
                                ContentType="application/json", ServerSideEncryption="AES256")


class RecordedChallenges:
    """Route53Challenges that records each value in the journal before publishing it, and forgets
    it only once it is removed: whatever happens in between, the journal names it."""

    def __init__(self, dns: Route53Challenges, journal: ChallengeJournal, until: datetime):
        self._dns = dns
        self._journal = journal
        self._until = until

    def publish(self, values_by_name: Mapping[str, Iterable[str]]) -> None:
        self._journal.record(challenge_values(self._dns.zone_id, values_by_name, self._until))
        self._dns.publish(values_by_name)

    def remove(self, values_by_name: Mapping[str, Iterable[str]]) -> None:
        self._dns.remove(values_by_name)
        self._journal.forget(challenge_values(self._dns.zone_id, values_by_name, self._until))


@dataclass(frozen=True)
class Sweep:
    removed: tuple[str, ...] = ()  # names whose abandoned values are gone now
    left: tuple[str, ...] = ()  # names whose abandoned values could not be removed (the next run tries again)


def remove_abandoned(journal: ChallengeJournal, challenges_in: Callable[[str], Route53Challenges],
                     now: datetime) -> Sweep:
    """Removes the recorded values whose run has ended, zone by zone; a zone that fails is
    logged and left for the next run, and never stops the others."""
    stale = abandoned(journal.recorded(), now)
    removed: list[ChallengeValue] = []
    left: list[str] = []
    for zone_id, by_name in values_by_zone(stale).items():
        try:
            challenges_in(zone_id).remove(by_name)
        except Exception as error:  # noqa: BLE001 - one zone's failure must not keep the others' cleanup
            logger.warning("Could not remove challenge values an earlier run left; the next run tries again",
                           zone_id=zone_id, names=sorted(by_name), error=f"{type(error).__name__}: {error}")
            left += sorted(by_name)
            continue
        removed += [v for v in stale if v.zone_id == zone_id]
    journal.forget(removed)
    names = tuple(sorted({v.name for v in removed}))
    if names:
        logger.warning("Removed challenge values an earlier run left", names=list(names), values=len(removed))
    return Sweep(removed=names, left=tuple(left))
