"""Deploy or destroy one stage, step by step, each step saying what it does.

deploy: credentials; the stage's IAM policies, regenerated and checked; the deploy state bucket and
the stage's lock; the supporting stack; the functions (`chalice deploy`, its state fetched from and
stored in S3); the supporting stack again when it needs the functions to exist; then
`task-subdomains doctor` and where everything is. destroy: the functions (`chalice delete`), then
the supporting stack; the certificate bucket and the ACME account key stay.

Exit codes: 0 done; 1 a step failed (its message says which and why); 2 it could not start
(configuration, credentials). The steps' adapters are their own modules: credentials.py,
stack.py, state.py, functions.py, certificate_bucket.py; plan.py decides the stack's parameters.
"""

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from chalicelib.shared.configuration import ConfigurationError
from chalicelib.shared.functions import RENEW_CERTIFICATES, UPDATE_TASK_DNS
from infra.deploy.certificate_bucket import bucket_to_adopt
from infra.deploy.credentials import stage_session
from infra.deploy.errors import CannotStart, StepFailed
from infra.deploy.functions import function_exists, recorded_mappings, remove_unrecorded_mappings
from infra.deploy.plan import CERTIFICATE_READERS, StageTarget, certificate_bucket, stack_passes, stage_target
from infra.deploy.stack import StackFailed, SupportingStack
from infra.deploy.state import DeployState, StageLocked, StateBucketNotOurs
from infra.deployments import (
    DeploymentConfigError,
    FunctionDeployment,
    function_deployments,
    load_config,
    refuse_shared_storage,
    stage_names,
)
from infra.merge_templates import BASE_TEMPLATE, load_base_template
from infra.policy_audit import audit
from infra.policy_lint import unaccepted_findings

EXIT_DONE, EXIT_FAILED, EXIT_CANNOT_START = 0, 1, 2


def run_command(command: Sequence[str], cwd: Path, environ: Mapping[str, str]) -> int:
    """Runs a command with its output going straight to ours (chalice reports as it goes)."""
    sys.stdout.flush()
    return subprocess.run(list(command), cwd=cwd, env=dict(environ), check=False).returncode


@dataclass
class StageDeployment:
    project_dir: Path
    stage: str
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    run: Callable[[Sequence[str], Path, Mapping[str, str]], int] = run_command
    say: Callable[[str], None] = print
    bin_dir: Path = Path(sys.executable).parent

    # -- the two commands -------------------------------------------------------------------------

    def deploy(self, certificate_readers: str | None = None) -> int:
        return self._guarded("deploy", lambda: self._deploy(certificate_readers))

    def destroy(self) -> int:
        return self._guarded("destroy", self._destroy)

    def _guarded(self, command: str, body: Callable[[], int]) -> int:
        try:
            return body()
        except (DeploymentConfigError, ConfigurationError) as error:
            self.say(f"make {command}: .chalice/config.json: {error}")
            return EXIT_CANNOT_START
        except CannotStart as error:
            self.say(f"make {command}: {error}")
            return EXIT_CANNOT_START
        except (StepFailed, StackFailed, StageLocked, StateBucketNotOurs) as error:
            self.say(f"make {command}: {error}")
            return EXIT_FAILED
        except (ClientError, BotoCoreError, ResponseParserError) as error:
            self.say(f"make {command}: AWS refused or failed: {error}")
            return EXIT_FAILED

    def _deploy(self, certificate_readers: str | None) -> int:
        deployments = self._stage_deployments()
        target = stage_target(deployments)
        template = load_base_template(self.project_dir / "infra" / BASE_TEMPLATE.name)
        # Everything the configuration decides is checked before the first request.
        stack_passes(deployments, template, None, False, certificate_readers)
        session = self._credentials(target)
        self._check_policies(deployments)
        state = self._state(session, target)
        stack = SupportingStack(session.client("cloudformation"), target.stack_name, self.say)
        with self._locked(state, target, "deploy"):
            self._deploy_locked(deployments, target, session, state, stack, template, certificate_readers)
        self._doctor(target)
        self._where_things_are(deployments, target, stack)
        return EXIT_DONE

    def _deploy_locked(self, deployments, target: StageTarget, session, state: DeployState,
                       stack: SupportingStack, template: Mapping[str, Any], certificate_readers: str | None) -> None:
        template_body = (self.project_dir / "infra" / BASE_TEMPLATE.name).read_text()
        current = stack.live_state()
        if current is None and certificate_readers is None and (dead := stack.state()) is not None:
            # A stack whose creation failed: the reader roles given to it are not lost with it.
            certificate_readers = dead.parameters.get(CERTIFICATE_READERS) or None
        passes = stack_passes(deployments, template, current.parameters if current else None,
                              functions_exist=self._failed_event_destination_possible(session, deployments),
                              certificate_readers=certificate_readers,
                              adopt_bucket=bucket_to_adopt(session, target, stack, current is not None,
                                                           certificate_bucket(deployments), self.say))
        self._step(f"supporting stack {stack.name}")
        self.say(f"  {stack.apply(template_body, passes.before_functions)}")
        self._step(f"functions (chalice deploy --stage {self.stage})")
        self._chalice(target, state, "deploy", deployments, session)
        if passes.after_functions is not None:
            self._step(f"supporting stack {stack.name}, now that the functions exist")
            self.say(f"  {stack.apply(template_body, passes.after_functions)}")

    def _destroy(self) -> int:
        deployments = self._stage_deployments()
        target = stage_target(deployments)
        session = self._credentials(target)
        # The bucket is made if missing: it holds the lock, and a stage deployed by hand (its
        # record only on this machine) is destroyed the same way.
        state = self._state(session, target)
        stack = SupportingStack(session.client("cloudformation"), target.stack_name, self.say)
        with self._locked(state, target, "destroy"):
            self._step(f"functions (chalice delete --stage {self.stage})")
            self._chalice(target, state, "delete", deployments, session)
            left = [d.lambda_name for d in deployments if function_exists(session, d.lambda_name)]
            if left:
                # Deleting the stack now would take their log groups, queues and alarms and leave
                # them running unwatched.
                raise StepFailed(
                    f"{', '.join(left)} still exist: chalice had no record of them (no "
                    f"s3://{target.state_bucket}/{target.state_key}, no {target.chalice_state_file}); delete them "
                    "(aws lambda delete-function, with their roles and rules) or put the record back, then run "
                    "make destroy again. The supporting stack was left as it is")
            state.forget(target.state_key)
            self._step(f"supporting stack {stack.name}")
            self.say("  deleted" if stack.delete() else "  there was none")
        self._what_stays(deployments)
        return EXIT_DONE

    @contextlib.contextmanager
    def _locked(self, state: DeployState, target: StageTarget, command: str) -> Iterator[None]:
        state.lock(target.lock_key, f"make {command} STAGE={self.stage}")
        try:
            yield
        finally:
            try:
                state.unlock(target.lock_key)
            except (ClientError, BotoCoreError) as error:
                # The error that ended the run matters more; this one only leaves the lock.
                self.say(f"make {command}: could not remove the lock ({error}): remove it with "
                         f"aws s3 rm s3://{target.state_bucket}/{target.lock_key}")

    # -- steps ------------------------------------------------------------------------------------

    def _stage_deployments(self) -> tuple[FunctionDeployment, ...]:
        try:
            config = load_config(self.project_dir / ".chalice")
        except (OSError, ValueError) as error:  # missing, or not JSON
            raise CannotStart(f".chalice/config.json: {error}") from None
        if self.stage not in stage_names(config):
            raise CannotStart(f"no stage {self.stage!r} in .chalice/config.json (its stages: "
                              f"{', '.join(stage_names(config))})")
        # A configuration error is reported by _guarded, as every later one is.
        refuse_shared_storage(config)
        return function_deployments(config, self.stage)

    def _credentials(self, target: StageTarget) -> boto3.Session:
        self._step("credentials")
        return stage_session(target, self.environ, self.say)

    def _check_policies(self, deployments: Sequence[FunctionDeployment]) -> None:
        # Imported here: infra/__main__.py is `make policies` itself.
        from infra.__main__ import generated_files, stale_files

        self._step("IAM policies (make policies), checked")
        try:
            files = generated_files(self.project_dir)
        except (DeploymentConfigError, ConfigurationError) as error:
            raise CannotStart(f".chalice/config.json: {error} (make policies writes every stage's files)") from None
        for path in stale_files(files):
            path.write_text(files[path])
            self.say(f"  wrote {path.relative_to(self.project_dir)} (commit it with the configuration)")
        problems = []
        for deployment in deployments:
            policy = json.loads((self.project_dir / ".chalice" / deployment.policy_file).read_text())
            problems += audit(deployment, policy)
            problems += [f"{deployment.policy_file}: parliament: {finding}"
                         for finding in unaccepted_findings(deployment.function, policy)]
        if problems:
            raise CannotStart("the IAM policies grant more than the functions need: " + "; ".join(problems))
        self.say(f"  {len(deployments)} policies, each its function's own, nothing more")

    def _state(self, session, target: StageTarget) -> DeployState:
        state = DeployState(session.client("s3"), target.state_bucket, target.location.account,
                            target.location.region)
        self._step(f"deploy state in s3://{target.state_bucket}/{self.stage}/")
        self.say("  bucket created" if state.ensure_bucket() else "  bucket there")
        return state

    def _failed_event_destination_possible(self, session, deployments: Sequence[FunctionDeployment]) -> bool:
        """update_task_dns exists (or the stage has none): its failed-event destination can be set now."""
        return all(function_exists(session, d.lambda_name) for d in deployments if d.function == UPDATE_TASK_DNS)

    def _chalice(self, target: StageTarget, state: DeployState, command: str,
                 deployments: Sequence[FunctionDeployment], session) -> None:
        """`chalice deploy` or `chalice delete`, with what earlier runs recorded, from any machine."""
        local = self.project_dir / target.chalice_state_file
        if state.fetch(target.state_key, local):
            self.say(f"  state from s3://{state.bucket}/{target.state_key}")
        elif local.exists():
            # Deployed with chalice before make deploy was used: this machine's record is the one.
            self.say(f"  state from {target.chalice_state_file} (none stored yet)")
        if command == "deploy":
            remove_unrecorded_mappings(session, deployments, recorded_mappings(local), self.say)
        before = local.read_bytes() if local.exists() else None
        code = self.run([str(self.bin_dir / "chalice"), command, "--stage", self.stage], self.project_dir,
                        self._child_environment(target))
        # chalice writes its record only when the whole command succeeded.
        if local.exists() and local.read_bytes() != before:
            try:
                state.store(local, target.state_key)
            except (ClientError, BotoCoreError) as error:
                raise StepFailed(f"chalice {command} succeeded, but its record could not be stored ({error}): "
                                 f"{target.chalice_state_file} on this machine is the only one; run make deploy "
                                 "again from here") from None
        if code != 0:
            raise StepFailed(f"chalice {command} --stage {self.stage} exited {code} (its output is above); run "
                             "make again once the cause is fixed")

    def _doctor(self, target: StageTarget) -> None:
        self._step(f"task-subdomains --stage {self.stage} doctor")
        code = self.run([sys.executable, "-m", "operator_cli", "--stage", self.stage, "doctor"], self.project_dir,
                        self._child_environment(target))
        if code != 0:
            self.say(f"  doctor exited {code}: the stage is deployed; what it found is above (a new stage has no "
                     f"certificate until its first renewal: task-subdomains --stage {self.stage} renew --force "
                     "--async)")

    def _where_things_are(self, deployments, target: StageTarget, stack: SupportingStack) -> None:
        current = stack.state()
        outputs = current.outputs if current else {}
        self.say(f"\nstage {self.stage} is deployed in {target.location.region}, account {target.location.account}:")
        for deployment in deployments:
            self.say(f"  function  {deployment.lambda_name}   log: {deployment.log_group}")
        for key, value in sorted(outputs.items()):
            self.say(f"  {key}  {value}")
        alarms = [name for name in stack.resources_of_type("AWS::CloudWatch::Alarm") if name]
        self.say(f"  alarms    {len(alarms)}, notifying the topic" + "".join(f"\n            {a}" for a in alarms))
        self.say(f"  stack     {stack.name}   deploy state: s3://{target.state_bucket}/{target.state_key}")
        if outputs.get("NotificationTopicArn"):
            self.say("  confirm the subscription in the email SNS sends to NOTIFY_EMAIL, or no alarm reaches you")

    def _what_stays(self, deployments: Sequence[FunctionDeployment]) -> None:
        renewal = next(d for d in deployments if d.function == RENEW_CERTIFICATES).renewal
        buckets = sorted({spec.bucket for spec in renewal.certificates})
        self.say(f"\nstage {self.stage} is removed. Kept on purpose (docs/deploying.md \"Tearing down\"):")
        for bucket in buckets:
            self.say(f"  certificate bucket s3://{bucket} (the live certificate and key)")
        self.say(f"  ACME account {renewal.account_key_parameter} and {renewal.account_url_parameter} in SSM")
        self.say("  task records under DOMAIN_PREFIX, if tasks still ran (stop them first, or delete the names "
                 "that carry the heritage=task-subdomains marker)")

    def _child_environment(self, target: StageTarget) -> dict[str, str]:
        region = target.location.region
        # chalice (botocore) reads AWS_DEFAULT_REGION; the AWS CLI and task-subdomains AWS_REGION.
        return {**self.environ, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}

    def _step(self, what: str) -> None:
        self.say(f"==> {what}")

