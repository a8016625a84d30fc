"""The supporting CloudFormation stack: read, create or update, wait, delete. A thin adapter.

CloudFormation keeps this half of a stage's state itself, so every machine sees the same stack.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError, WaiterError

# A stack in one of these is being changed by someone else (or is stuck): make deploy waits for
# nobody and changes nothing then.
_BUSY = ("_IN_PROGRESS",)
# A first creation that failed and rolled back leaves a stack that can only be deleted; a change
# set never executed (a failed `aws cloudformation deploy` of a new stack) one that holds nothing.
_DEAD_ON_ARRIVAL = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "REVIEW_IN_PROGRESS")
# States CloudFormation leaves for a person to resolve, and how.
_STUCK = {
    "UPDATE_ROLLBACK_FAILED": "continue the rollback (aws cloudformation continue-update-rollback, skipping the "
                              "resources named in its events), then run make deploy again",
    "DELETE_FAILED": "read its events, remove what blocks the deletion, then delete the stack again",
}
_NO_CHANGES = "No updates are to be performed"


class StackFailed(RuntimeError):
    """CloudFormation could not do what was asked; the message carries its own reasons."""


@dataclass(frozen=True)
class StackState:
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]


class SupportingStack:
    def __init__(self, cloudformation, name: str, say: Callable[[str], None]):
        self._cloudformation = cloudformation
        self.name = name
        self._say = say

    def state(self) -> StackState | None:
        try:
            (stack,) = self._cloudformation.describe_stacks(StackName=self.name)["Stacks"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(error):
                return None
            raise
        return StackState(
            status=stack["StackStatus"],
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
            outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})

    def live_state(self) -> StackState | None:
        """The stack's state, or None when there is none that holds anything (see _DEAD_ON_ARRIVAL)."""
        state = self.state()
        return None if state is None or state.status in _DEAD_ON_ARRIVAL else state

    def apply(self, template_body: str, parameters: Mapping[str, str | None]) -> str:
        """Create the stack, or update it to these parameters (None: the value the stack has);
        "created", "updated" or "unchanged"."""
        state = self.state()
        if state is not None and state.status in _DEAD_ON_ARRIVAL:
            self._say(f"  stack {self.name} is {state.status} (it was never created): deleting it first")
            self.delete()
            state = None
        if state is not None and state.status in _STUCK:
            raise StackFailed(f"stack {self.name} is {state.status}: {_STUCK[state.status]}")
        if state is not None and state.status.endswith(_BUSY):
            raise StackFailed(f"stack {self.name} is {state.status}: another change is under way; run again when "
                              "it has finished")
        arguments = {"StackName": self.name, "TemplateBody": template_body, "Parameters": [
            {"ParameterKey": k, "UsePreviousValue": True} if v is None else {"ParameterKey": k, "ParameterValue": v}
            for k, v in parameters.items() if v is not None or state is not None]}
        if state is None:
            self._cloudformation.create_stack(**arguments, OnFailure="ROLLBACK")
            self._wait("stack_create_complete")
            return "created"
        try:
            self._cloudformation.update_stack(**arguments)
        except ClientError as error:
            if _NO_CHANGES in str(error):
                return "unchanged"
            raise
        self._wait("stack_update_complete")
        return "updated"

    def delete(self) -> bool:
        """Deletes the stack (what it retains stays); False when there was none."""
        if self.state() is None:
            return False
        self._cloudformation.delete_stack(StackName=self.name)
        self._wait("stack_delete_complete")
        return True

    def resources_of_type(self, resource_type: str, live_only: bool = False) -> list[str]:
        """Physical ids of the stack's resources of a type; live_only: not deleted (a rolled-back
        creation lists what it deleted, and what it retained, as DELETE_COMPLETE / DELETE_SKIPPED)."""
        paginator = self._cloudformation.get_paginator("list_stack_resources")
        return [r.get("PhysicalResourceId", "") for page in paginator.paginate(StackName=self.name)
                for r in page["StackResourceSummaries"] if r["ResourceType"] == resource_type
                and not (live_only and r.get("ResourceStatus", "").startswith("DELETE_"))]

    def _wait(self, waiter: str) -> None:
        # CloudFormation's own waiter: polls every 30 s for up to an hour (a stack this size takes
        # a minute or two).
        try:
            self._cloudformation.get_waiter(waiter).wait(StackName=self.name)
        except WaiterError as error:
            raise StackFailed(f"stack {self.name}: {self.failure_reasons() or error}") from None

    def failure_reasons(self) -> str:
        """Why the last operation failed: the first failures CloudFormation reported in it (the
        root cause; what it cancelled because of them is left out)."""
        try:
            events = self._cloudformation.describe_stack_events(StackName=self.name)["StackEvents"]
        except ClientError:
            return ""
        return "; ".join(failure_reasons_of(events, self.name)[:3])


def failure_reasons_of(events: list[dict], stack_name: str) -> list[str]:
    """events: newest first, as DescribeStackEvents gives them. Pure."""
    operation = []
    for event in events:
        operation.append(event)
        if event.get("LogicalResourceId") == stack_name and event.get("ResourceStatusReason") == "User Initiated":
            break  # where the last operation began
    return [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in reversed(operation)
            if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")
            and "cancelled" not in e["ResourceStatusReason"]]
