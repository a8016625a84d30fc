"""Region, profile and credentials: one rule for every command.

The region, first found wins: `--region`; `AWS_REGION`; what the SDK itself reads
(`AWS_DEFAULT_REGION`, then the profile's `region`); else the region of the stage's CLUSTER_ARN.
The stage lives there (infra/ deploys its functions in its cluster's region), so a region set to
another one would have every regional call look in the wrong place and answer "no task", "not
deployed": refused, naming both. `--profile` is the SDK profile, and wins over credentials in the
environment, as the AWS CLI's does.

The choice is pure (`choose_region`). `applied` then makes it the standard SDK settings for the
length of one command, so every client agrees without being handed anything: the app's shared
clients, the Lambda invoke client, and the function's own code under `--local`.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

from chalicelib.shared import aws_clients
from chalicelib.task_records.arns import cluster_arn_parts

# Credentials set in the environment, which an explicit --profile overrides.
_ENVIRONMENT_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class AwsSettingsError(RuntimeError):
    """The command cannot know where or as whom to ask AWS; the message says what to set."""


@dataclass(frozen=True)
class RegionChoice:
    region: str
    source: str  # where it came from, as the operator would set it: "--region", "AWS_REGION", ...


def choose_region(option: str | None, environ: Mapping[str, str], sdk_region: str | None,
                  cluster_arn: str | None) -> RegionChoice:
    """sdk_region: what the SDK reads by itself (AWS_DEFAULT_REGION, the profile's region).
    cluster_arn: the stage's CLUSTER_ARN as configured, None when there is none."""
    cluster = cluster_arn_parts(cluster_arn) if cluster_arn else None
    stage_region = cluster["region"] if cluster else None
    for region, source in ((option, "--region"), (environ.get("AWS_REGION", "").strip(), "AWS_REGION"),
                           (sdk_region, "AWS_DEFAULT_REGION or the profile's region")):
        if not region:
            continue
        if stage_region and region != stage_region:
            raise AwsSettingsError(
                f"the region is {region} ({source}) but CLUSTER_ARN is in {stage_region}, where the stage's "
                f"tasks and functions are: give --region {stage_region}, or unset {source}")
        return RegionChoice(region, source)
    if stage_region:
        return RegionChoice(stage_region, "CLUSTER_ARN")
    raise AwsSettingsError("no AWS region: give --region, set AWS_REGION, or set CLUSTER_ARN (its region is the "
                           "stage's)")


def sdk_region(profile: str | None) -> str | None:
    """The region the SDK would use by itself with this profile (None: the default chain)."""
    return boto3.session.Session(profile_name=profile).region_name


@contextmanager
def applied(region: str, profile: str | None) -> Iterator[None]:
    """The region (and profile) as the standard SDK settings while the command runs, then as before."""
    wanted: dict[str, str | None] = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    if profile:
        wanted |= {"AWS_PROFILE": profile, **dict.fromkeys(_ENVIRONMENT_CREDENTIALS)}
    before = {name: os.environ.get(name) for name in wanted}
    changed = before != wanted
    _set(wanted)
    if changed:
        _forget_shared_clients()  # built with the old settings
    try:
        yield
    finally:
        _set(before)
        if changed:
            _forget_shared_clients()


def require_credentials() -> None:
    """Fails in one line before any request when the SDK finds no credentials at all."""
    if boto3.session.Session().get_credentials() is None:
        raise AwsSettingsError("no AWS credentials: give --profile, or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY (the standard SDK settings)")


def _set(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _forget_shared_clients() -> None:
    # The app builds one session and its clients once per process (a Lambda container); the
    # command changes the settings they were built with, so they are built again from the new ones.
    aws_clients.client.cache_clear()
    aws_clients._session.cache_clear()
