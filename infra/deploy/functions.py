"""The stage's functions as chalice recorded them and as Lambda has them. A thin adapter."""

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.deployments import FunctionDeployment


def recorded_mappings(state_file: Path) -> set[str]:
    """The event source mappings chalice recorded (their UUIDs)."""
    if not state_file.exists():
        return set()
    try:
        resources = json.loads(state_file.read_text()).get("resources", [])
    except ValueError:
        return set()
    return {r["event_uuid"] for r in resources if isinstance(r, dict) and r.get("event_uuid")}


def function_exists(session, name: str) -> bool:
    """Whether Lambda has a function of this name (in the session's region)."""
    lambda_ = session.client("lambda")
    try:
        lambda_.get_function_configuration(FunctionName=name)
        return True
    except lambda_.exceptions.ResourceNotFoundException:
        return False


def remove_unrecorded_mappings(session, deployments: Sequence[FunctionDeployment], recorded: set[str],
                               say: Callable[[str], None]) -> None:
    """An event source mapping of the stage's functions that chalice has no record of was
    created by a chalice deploy that failed later (it records nothing then): chalice would
    create it again, and Lambda refuses a second mapping of the same queue and function. The
    messages wait in the queue meanwhile."""
    lambda_ = session.client("lambda")
    for deployment in deployments:
        try:
            # By ARN: Lambda takes a name too, the emulator only an ARN.
            mappings = lambda_.list_event_source_mappings(
                FunctionName=deployment.location.arn("lambda", f"function:{deployment.lambda_name}"))
        except lambda_.exceptions.ResourceNotFoundException:
            continue
        for mapping in mappings["EventSourceMappings"]:
            if mapping["UUID"] not in recorded:
                say(f"  removing event source mapping {mapping['UUID']} ({mapping['EventSourceArn']} -> "
                    f"{deployment.lambda_name}): left by a chalice deploy that did not finish")
                lambda_.delete_event_source_mapping(UUID=mapping["UUID"])
