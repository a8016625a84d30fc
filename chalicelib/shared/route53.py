"""Route53 for both subsystems: the one place that speaks Route53's wire format.

Reads turn Route53's record sets into chalicelib.shared.records types; writes turn planned
changes into change batches within Route53's per-call limits. Both subsystems write the same way,
through `Route53Zone.converge`: read the names, decide (a pure function of what was read), and
write batches that Route53 applies only if the zone still holds what was read: a CREATE fails
when the set exists, a DELETE unless it names the current values. When the zone changed in
between, Route53 rejects that batch, and converge reads just the names not yet written and decides
again: the one conflict-retry loop in the code. The task records claim free names and the
challenge records merge other writers' values that way; neither needs a lock.

IAM: route53:ListResourceRecordSets and route53:ChangeResourceRecordSets on the hosted zone;
route53:GetChange for `change_status`.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.logs import logger
from chalicelib.shared.records import Action, Change, RecordSet, by_name, end_state, normalize_name

# Route53 limits per ChangeResourceRecordSets call; an UPSERT's values count twice toward both.
MAX_RECORDS_PER_CALL = 1000
MAX_VALUE_CHARACTERS_PER_CALL = 32000
# Route53 rejects a whole batch (InvalidChangeBatch) whose DELETE no longer matches or whose
# CREATE already exists: the zone changed under us, so read again. InvalidInput, a malformed
# request, is not a conflict: retrying it could never succeed.
_CONFLICT_CODES = frozenset({"InvalidChangeBatch"})
CONVERGE_ATTEMPTS = 5
# Record sets at one name are few; a small page keeps each read of a busy zone short.
_NAME_PAGE_SIZE = 20


# --- Route53's wire format -------------------------------------------------------------------

def from_route53(rrset: Mapping[str, Any]) -> RecordSet:
    return RecordSet(
        name=normalize_name(rrset["Name"]),
        type=rrset["Type"],
        values=tuple(record["Value"] for record in rrset.get("ResourceRecords", [])),
        ttl=rrset.get("TTL"),
        provider_data=rrset,
    )


def to_route53(record_set: RecordSet) -> dict[str, Any]:
    if record_set.provider_data:
        return dict(record_set.provider_data)  # a set as read: repeated verbatim
    wire: dict[str, Any] = {"Name": f"{record_set.name}.", "Type": record_set.type}
    if record_set.ttl is not None:
        wire["TTL"] = record_set.ttl
    wire["ResourceRecords"] = [{"Value": value} for value in record_set.values]
    return wire


def change_to_route53(one_change: Change) -> dict[str, Any]:
    return {"Action": str(one_change.action), "ResourceRecordSet": to_route53(one_change.record_set)}


def listing_order(name: str) -> str:
    """Where ListResourceRecordSets puts a name: its labels reversed, with the trailing dot
    ("com.example.www."; API reference). The dot matters: "-" sorts before it, so
    browser-2.example.com comes before browser.example.com and everything below it."""
    return ".".join(reversed(normalize_name(name).split("."))) + "."


def is_change_conflict(error: ClientError) -> bool:
    return error_code(error) in _CONFLICT_CODES


# --- Route53's per-call limits ---------------------------------------------------------------

def change_weight(one_change: Change) -> tuple[int, int]:
    """(records, value characters) that one change counts for against Route53's per-call limits."""
    values = one_change.record_set.values
    factor = 2 if one_change.action is Action.UPSERT else 1
    return factor * len(values), factor * sum(len(v) for v in values)


def change_batches(changes_by_name: Mapping[str, Iterable[Change]],
                   max_records: int = MAX_RECORDS_PER_CALL,
                   max_characters: int = MAX_VALUE_CHARACTERS_PER_CALL) -> list[list[Change]]:
    """Pack changes into as few calls as the limits allow, never splitting one name's changes:
    a name's marker and addresses must land (or fail) together."""
    batches: list[list[Change]] = []
    records = characters = 0
    for changes in changes_by_name.values():
        changes = list(changes)
        if not changes:
            continue
        weight = [sum(w) for w in zip(*map(change_weight, changes), strict=True)]
        if not batches or records + weight[0] > max_records or characters + weight[1] > max_characters:
            batches.append([])
            records = characters = 0
        batches[-1].extend(changes)
        records += weight[0]
        characters += weight[1]
    return batches


# --- Writing: compare-and-swap, one retry loop --------------------------------------------------

class Planned(Protocol):
    @property
    def changes(self) -> tuple[Change, ...]: ...


P = TypeVar("P", bound=Planned)


@dataclass(frozen=True)
class SubmittedBatch:
    """One ChangeResourceRecordSets call that Route53 accepted: its change id, and the plans of
    the names it carried as they were when it was written."""

    change_id: str | None  # None: the batch took effect, but its answer was lost
    plans: Mapping[str, Any]


@dataclass(frozen=True)
class Converged:
    """What converge did: the final plan of every name (written or not), the batches Route53
    accepted, in order, and how many reads of the names it took."""

    plans: Mapping[str, Any]
    batches: tuple[SubmittedBatch, ...]
    reads: int

    @property
    def calls(self) -> int:
        return len([b for b in self.batches if b.change_id is not None])


def already_applied(error: ClientError, names: Sequence[str], decided: Mapping[str, Any],
                    before: Mapping[str, list[RecordSet]], after: Mapping[str, list[RecordSet]]) -> list[str]:
    """Of a rejected batch's names, those the batch itself changed: botocore sent the request more than
    once (an earlier attempt's answer was lost: a connection error, a 5xx), and the zone now shows
    exactly what the batch would have made of what was read before it. A batch refused at its first
    attempt was refused because someone else changed the zone, whatever it shows."""
    if not error.response.get("ResponseMetadata", {}).get("RetryAttempts"):
        return []
    return [name for name in names
            if end_state(before.get(name, []), decided[name].changes) == end_state(after.get(name, []), ())]


class Route53Zone:
    def __init__(self, client, zone_id: str):
        self._client = client
        self.zone_id = zone_id

    # --- reads ---

    def record_sets_at(self, name: str) -> list[RecordSet]:
        name = normalize_name(name)
        found = []
        for record_set in self._listing(name, page_size=_NAME_PAGE_SIZE):
            if record_set.name != name:
                break
            found.append(record_set)
        return found

    def record_sets_under(self, suffix: str) -> list[RecordSet]:
        """Every record set strictly below suffix, read from suffix to the first name past it.

        Route53 lists names by their labels reversed, trailing dot included ("com.example.browser."
        before "com.example.browser.x."; API reference, ListResourceRecordSets), so a name and
        everything below it come as one run. Reading on to the end of the zone would spend pages
        of the account's shared request budget on other people's names every 10 minutes.
        """
        suffix = normalize_name(suffix)
        found = []
        for record_set in self._listing(suffix):
            if record_set.name == suffix:
                continue
            if not record_set.name.endswith(f".{suffix}"):
                break
            found.append(record_set)
        return found

    def record_sets_of(self, names: Iterable[str]) -> list[RecordSet]:
        """The record sets at these names, in as few requests as the listing allows.

        One page (300 record sets) at a time, in listing order, jumping over the stretches that
        hold none of the names: a request starts at the next name still wanted, or where the last
        page stopped when that name is on the way. So the cost is at most one request per name,
        and a batch of names that sit close together (a burst into a fresh zone) shares pages.
        """
        wanted = deque(sorted({normalize_name(n) for n in names}, key=listing_order))
        if len(wanted) == 1:
            return self.record_sets_at(wanted[0])  # a small page: the same one request
        keep, found = set(wanted), []
        resume: dict[str, str] | None = None  # where the last page stopped
        while wanted:
            request = {"HostedZoneId": self.zone_id, "StartRecordName": f"{wanted[0]}."}
            if resume and listing_order(resume["StartRecordName"]) >= listing_order(wanted[0]):
                request.update(resume)
            page = self._client.list_resource_record_sets(**request)
            for record_set in map(from_route53, page["ResourceRecordSets"]):
                if record_set.name in keep:
                    found.append(record_set)
            if not page.get("IsTruncated"):
                break
            resume = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
            # Names before where the page stopped were on it, or are not in the zone.
            while wanted and listing_order(wanted[0]) < listing_order(page["NextRecordName"]):
                wanted.popleft()
        return found

    def apex_record_sets(self) -> list[RecordSet]:
        """The record sets at the zone's apex (NS, SOA, ...): the apex sorts first in the listing."""
        page = self._client.list_resource_record_sets(HostedZoneId=self.zone_id, MaxItems="10")
        sets = [from_route53(rrset) for rrset in page["ResourceRecordSets"]]
        return [one for one in sets if one.name == sets[0].name] if sets else []

    def _listing(self, start_name: str, page_size: int | None = None) -> Iterator[RecordSet]:
        # The paginator asks for the next page only when iteration reaches it: a reader that
        # stops early makes no further request.
        pages = self._client.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=self.zone_id, StartRecordName=f"{start_name}.",
            PaginationConfig={"PageSize": page_size} if page_size else {})
        for page in pages:
            yield from map(from_route53, page["ResourceRecordSets"])

    # --- writes ---

    def submit(self, changes: Sequence[Change], comment: str) -> str:
        """One change batch; its change id. Raises ClientError, a conflict included."""
        response = self._client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": comment[:256], "Changes": [change_to_route53(c) for c in changes]},
        )
        return response["ChangeInfo"]["Id"]

    def change_status(self, change_id: str) -> str:
        return self._client.get_change(Id=change_id)["ChangeInfo"]["Status"]

    def converge(self, names: Iterable[str], decide: Callable[[str, list[RecordSet]], P], comment: str,
                 existing: Iterable[RecordSet] | None = None, attempts: int = CONVERGE_ATTEMPTS,
                 pack: Callable[[Mapping[str, Iterable[Change]]], list[list[Change]]] = change_batches
                 ) -> Converged:
        """Read the names (unless `existing` is what was just read of them), decide each, write the
        changes in as few batches as Route53 allows; when a batch is rejected because the zone
        changed under us, read the names not yet written and decide them again, `attempts` times
        at most. A name's batch, once accepted, is never rewritten: what another writer did to it
        since is theirs to have done.
        """
        pending = sorted({normalize_name(n) for n in names})
        reads = 0
        if existing is None:
            existing, reads = (self.record_sets_of(pending) if pending else []), (1 if pending else 0)
        found = by_name(existing)
        plans: dict[str, P] = {}
        submitted: list[SubmittedBatch] = []
        attempt = 1
        while True:
            decided = {name: decide(name, found.get(name, [])) for name in pending}
            plans.update(decided)
            batch_names: list[str] = []
            try:
                for batch in pack({name: plan.changes for name, plan in decided.items()}):
                    batch_names = list(dict.fromkeys(c.name for c in batch))
                    change_id = self.submit(batch, comment=comment)
                    logger.debug("Change submitted", change_id=change_id, zone_id=self.zone_id,
                                 names=len(batch_names), changes=len(batch))
                    submitted.append(SubmittedBatch(change_id, {n: decided[n] for n in batch_names}))
                    pending = [n for n in pending if n not in set(batch_names)]
                return Converged(plans, tuple(submitted), reads)
            except ClientError as error:
                # What was accepted before the failure, for the caller to finish with (readiness
                # checks of the batches Route53 took) before the error goes on to Lambda's retry.
                error.converged = Converged(plans, tuple(submitted), reads)
                if not is_change_conflict(error) or attempt == attempts:
                    raise
                # Only the names still to write are read again; a name that needed no change
                # keeps its decision, and a written one its batch.
                pending = [n for n in pending if decided[n].changes]
                logger.info("Zone changed under us; reading those names again", names=len(pending),
                            attempt=attempt, error=str(error))
                found, before = by_name(self.record_sets_of(pending)), found
                reads += 1
                attempt += 1
                done = already_applied(error, batch_names, decided, before, found)
                if done:
                    # The rejected batch's own end state is in the zone: an earlier attempt took effect
                    # and lost its answer (botocore sent it again, and the CREATE found what it had
                    # made). Those names are done, with the decision that wrote them; their change
                    # id is unknown.
                    submitted.append(SubmittedBatch(None, {n: decided[n] for n in done}))
                    pending = [n for n in pending if n not in set(done)]
