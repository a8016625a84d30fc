"""Route53 for both subsystems: record sets, paged reads, change batches, and one compare-and-swap loop.

Both subsystems write the same way: read the record sets at a name, decide (a pure function of
what was read), and write one batch that Route53 applies only if the zone still holds what was
read: a CREATE fails when the set exists, a DELETE unless it names the current values. When
the zone changed in between, Route53 rejects the whole batch and `converge` reads and decides
again. The task records claim free names and the challenge records merge other writers' values
that way; neither needs a lock.

IAM: route53:ListResourceRecordSets and route53:ChangeResourceRecordSets on the hosted zone;
route53:GetChange for `change_status`.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.logs import logger

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


@dataclass(frozen=True)
class RecordSet:
    name: str
    type: str
    values: tuple[str, ...]
    ttl: int | None = None
    # The record set exactly as Route53 returned it: a DELETE must repeat it verbatim.
    route53: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_route53(cls, rrset: Mapping[str, Any]) -> "RecordSet":
        return cls(
            name=normalize_name(rrset["Name"]),
            type=rrset["Type"],
            values=tuple(record["Value"] for record in rrset.get("ResourceRecords", [])),
            ttl=rrset.get("TTL"),
            route53=rrset,
        )


@dataclass(frozen=True)
class ChangePlan:
    """What a decision about one name came to: an outcome word for logs and results, and the changes."""

    outcome: str
    changes: tuple[dict[str, Any], ...] = ()


def normalize_name(name: str) -> str:
    return name.rstrip(".").lower()


def record_set(name: str, record_type: str, ttl: int, values: Iterable[str]) -> dict[str, Any]:
    return {"Name": f"{normalize_name(name)}.", "Type": record_type, "TTL": ttl,
            "ResourceRecords": [{"Value": value} for value in values]}


def change(action: str, rrset: Mapping[str, Any]) -> dict[str, Any]:
    return {"Action": action, "ResourceRecordSet": dict(rrset)}


def changed_name(one_change: Mapping[str, Any]) -> str:
    return normalize_name(one_change["ResourceRecordSet"]["Name"])


def listing_order(name: str) -> str:
    """Where ListResourceRecordSets puts a name: its labels reversed, with the trailing dot
    ("com.example.www."; API reference). The dot matters: "-" sorts before it, so
    browser-2.example.com comes before browser.example.com and everything below it."""
    return ".".join(reversed(normalize_name(name).split("."))) + "."


def is_change_conflict(error: ClientError) -> bool:
    return error_code(error) in _CONFLICT_CODES


def change_weight(one_change: Mapping[str, Any]) -> tuple[int, int]:
    """(records, value characters) that one change counts for against Route53's per-call limits."""
    values = [r["Value"] for r in one_change["ResourceRecordSet"].get("ResourceRecords", [])]
    factor = 2 if one_change["Action"] == "UPSERT" else 1
    return factor * len(values), factor * sum(len(v) for v in values)


def change_batches(changes_by_name: Mapping[str, Iterable[Mapping[str, Any]]],
                   max_records: int = MAX_RECORDS_PER_CALL,
                   max_characters: int = MAX_VALUE_CHARACTERS_PER_CALL) -> list[list[dict[str, Any]]]:
    """Pack changes into as few calls as the limits allow, never splitting one name's changes:
    a name's marker and addresses must land (or fail) together."""
    batches: list[list[dict[str, Any]]] = []
    records = characters = 0
    for changes in changes_by_name.values():
        changes = list(changes)
        weight = [sum(w) for w in zip(*map(change_weight, changes), strict=True)]
        if not batches or records + weight[0] > max_records or characters + weight[1] > max_characters:
            batches.append([])
            records = characters = 0
        batches[-1].extend(changes)
        records += weight[0]
        characters += weight[1]
    return batches


class Route53Zone:
    def __init__(self, client, zone_id: str):
        self._client = client
        self.zone_id = zone_id

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
        keep, found = set(wanted), []
        resume: dict[str, str] | None = None  # where the last page stopped
        while wanted:
            request = {"HostedZoneId": self.zone_id, "StartRecordName": f"{wanted[0]}."}
            if resume and listing_order(resume["StartRecordName"]) >= listing_order(wanted[0]):
                request.update(resume)
            page = self._client.list_resource_record_sets(**request)
            for record_set in map(RecordSet.from_route53, page["ResourceRecordSets"]):
                if record_set.name in keep:
                    found.append(record_set)
            if not page.get("IsTruncated"):
                break
            resume = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
            # Names before where the page stopped were on it, or are not in the zone.
            while wanted and listing_order(wanted[0]) < listing_order(page["NextRecordName"]):
                wanted.popleft()
        return found

    def _listing(self, start_name: str, page_size: int | None = None) -> Iterator[RecordSet]:
        # The paginator asks for the next page only when iteration reaches it: a reader that
        # stops early makes no further request.
        pages = self._client.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=self.zone_id, StartRecordName=f"{start_name}.",
            PaginationConfig={"PageSize": page_size} if page_size else {})
        for page in pages:
            yield from map(RecordSet.from_route53, page["ResourceRecordSets"])

    def change(self, changes: Sequence[dict[str, Any]], comment: str) -> str:
        response = self._client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": comment[:256], "Changes": list(changes)},
        )
        return response["ChangeInfo"]["Id"]

    def change_status(self, change_id: str) -> str:
        return self._client.get_change(Id=change_id)["ChangeInfo"]["Status"]

    def converge(self, name: str, decide: Callable[[list[RecordSet]], ChangePlan],
                 comment: str) -> tuple[ChangePlan, str | None]:
        """Read the name, decide, write; when the zone changed under us, read and decide again.

        Returns the plan that was applied and its change id (None when there was nothing to change).
        """
        attempt = 1
        while True:
            plan = decide(self.record_sets_at(name))
            if not plan.changes:
                return plan, None
            try:
                change_id = self.change(plan.changes, comment=comment)
                logger.debug("Change submitted", record_name=name, change_id=change_id, zone_id=self.zone_id,
                             actions=[c["Action"] for c in plan.changes])
                return plan, change_id
            except ClientError as error:
                if not is_change_conflict(error) or attempt == CONVERGE_ATTEMPTS:
                    raise
                logger.info("Zone changed under us; reading it again", record_name=name,
                            attempt=attempt, error=str(error))
                attempt += 1
