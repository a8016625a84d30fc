"""Route53 adapter: read the record sets at a name, apply a change batch.

IAM: route53:ListResourceRecordSets and route53:ChangeResourceRecordSets on the hosted zone.
"""

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws_clients import error_code
from chalicelib.logs import logger
from chalicelib.task_records import RecordPlan, RecordSet, normalize_name

# Route53 rejects a whole batch (InvalidChangeBatch) whose DELETE no longer matches or whose
# CREATE already exists: the zone changed under us, so read again. InvalidInput, a malformed
# request, is not a conflict: retrying it could never succeed.
_CONFLICT_CODES = frozenset({"InvalidChangeBatch"})
_CHANGE_ATTEMPTS = 3


def is_change_conflict(error: ClientError) -> bool:
    return error_code(error) in _CONFLICT_CODES


class Route53Zone:
    def __init__(self, client, zone_id: str):
        self._client = client
        self.zone_id = zone_id

    def record_sets_at(self, name: str) -> list[RecordSet]:
        name = normalize_name(name)
        found: list[RecordSet] = []
        request = {"HostedZoneId": self.zone_id, "StartRecordName": f"{name}.", "MaxItems": "20"}
        while True:
            page = self._client.list_resource_record_sets(**request)
            for rrset in page["ResourceRecordSets"]:
                record_set = RecordSet.from_route53(rrset)
                if record_set.name != name:
                    return found
                found.append(record_set)
            if not page.get("IsTruncated"):
                return found
            request.update(StartRecordName=page["NextRecordName"], StartRecordType=page["NextRecordType"])

    def record_sets_under(self, suffix: str) -> list[RecordSet]:
        """Every record set strictly below suffix, read from suffix to the first name past it.

        Route53 lists names by their labels reversed, trailing dot included ("com.example.browser."
        before "com.example.browser.x."; API reference, ListResourceRecordSets), so a name and
        everything below it come as one run. Reading on to the end of the zone would spend pages
        of the account's shared request budget on other people's names every 10 minutes.
        """
        suffix = normalize_name(suffix)
        found: list[RecordSet] = []
        request = {"HostedZoneId": self.zone_id, "StartRecordName": f"{suffix}."}
        # The paginator asks for the next page only when iteration reaches it.
        for page in self._client.get_paginator("list_resource_record_sets").paginate(**request):
            for record_set in map(RecordSet.from_route53, page["ResourceRecordSets"]):
                if record_set.name == suffix:
                    continue
                if not record_set.name.endswith(f".{suffix}"):
                    return found
                found.append(record_set)
        return found

    def change(self, changes: Sequence[dict[str, Any]], comment: str) -> str:
        response = self._client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={"Comment": comment[:256], "Changes": list(changes)},
        )
        return response["ChangeInfo"]["Id"]


def converge_records(zone: Route53Zone, hostname: str,
                     decide: Callable[[list[RecordSet]], RecordPlan]) -> RecordPlan:
    """Read the name, decide, write; when the zone changed under us, read and decide again."""
    attempt = 1
    while True:
        result = decide(zone.record_sets_at(hostname))
        if not result.changes:
            return result
        try:
            change_id = zone.change(result.changes, comment=f"task-subdomains: {hostname}")
            logger.debug("Change submitted", hostname=hostname, change_id=change_id, zone_id=zone.zone_id)
            return result
        except ClientError as error:
            if not is_change_conflict(error) or attempt == _CHANGE_ATTEMPTS:
                raise
            logger.info("Zone changed under us; reading it again", hostname=hostname,
                        attempt=attempt, error=str(error))
            attempt += 1
