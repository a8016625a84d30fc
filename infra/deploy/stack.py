"""The supporting CloudFormation stack: read, create or update, wait, delete. A thin adapter.

CloudFormation keeps this half of a stage's state itself, so every machine sees the same stack.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError, WaiterError

# A stack in one of these is being changed by someone else (or is stuck): make deploy waits for
# nobody and changes nothing then.
_BUSY = ("_IN_PROGRESS",)
# A first creation that failed and rolled back leaves a stack that can only be deleted.
_DEAD_ON_ARRIVAL = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
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

    def apply(self, template_body: str, parameters: Mapping[str, str | None]) -> str:
        """Create the stack, or update it to these parameters (None: the value the stack has);
        "created", "updated" or "unchanged"."""
        state = self.state()
        if state is not None and state.status.endswith(_BUSY):
            raise StackFailed(f"stack {self.name} is {state.status}: another change is under way; run again when "
                              "it has finished")
        if state is not None and state.status in _DEAD_ON_ARRIVAL:
            self._say(f"stack {self.name} is {state.status} (its creation failed): deleting it first")
            self.delete()
            state = None
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

    def resources_of_type(self, resource_type: str) -> list[str]:
        paginator = self._cloudformation.get_paginator("list_stack_resources")
        return [r.get("PhysicalResourceId", "") for page in paginator.paginate(StackName=self.name)
                for r in page["StackResourceSummaries"] if r["ResourceType"] == resource_type]

    def _wait(self, waiter: str) -> None:
        # CloudFormation's own waiter: polls every 30 s for up to an hour (a stack this size takes
        # a minute or two).
        try:
            self._cloudformation.get_waiter(waiter).wait(StackName=self.name)
        except WaiterError as error:
            raise StackFailed(f"stack {self.name}: {self.failure_reasons() or error}") from None

    def failure_reasons(self) -> str:
        """The reasons CloudFormation gave for the resources that failed, newest first."""
        try:
            events = self._cloudformation.describe_stack_events(StackName=self.name)["StackEvents"]
        except ClientError:
            return ""
        reasons = [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in events
                   if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")]
        return "; ".join(reasons[:3])
