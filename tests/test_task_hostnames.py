import pytest

from chalicelib.task_records.arns import (
    hostname_for_task,
    is_valid_dns_name,
    task_belongs_to_cluster,
    task_id_from_arn,
)

PREFIX = "eu-west-2.browser.example.com"


@pytest.mark.parametrize("arn, task_id", [
    ("arn:aws:ecs:eu-west-2:123456789012:task/user-sessions/3f2c0e1d9a8b4c7d8e6f5a4b3c2d1e9a",
     "3f2c0e1d9a8b4c7d8e6f5a4b3c2d1e9a"),
    ("arn:aws:ecs:eu-west-2:123456789012:task/0b69d5c0-d655-4695-98cd-5d2d526d9d5a",
     "0b69d5c0-d655-4695-98cd-5d2d526d9d5a"),
    ("arn:aws-cn:ecs:cn-north-1:123456789012:task/c/abc", "abc"),
])
def test_task_id_is_the_last_segment_of_either_arn_format(arn, task_id):
    assert task_id_from_arn(arn) == task_id


@pytest.mark.parametrize("arn", [
    "", "abc", "arn:aws:ecs:eu-west-2:123456789012:cluster/user-sessions",
    "arn:aws:ecs:eu-west-2:123456789012:task/", "arn:aws:ec2:eu-west-2:123456789012:task/abc",
    "arn:aws:ecs:eu-west-2:123456789012:task/a/b/c",
])
def test_anything_but_a_task_arn_has_no_task_id(arn):
    assert task_id_from_arn(arn) is None


def test_hostname_is_task_id_under_prefix():
    assert hostname_for_task("3f2c0e1d9a8b", PREFIX) == f"3f2c0e1d9a8b.{PREFIX}"


def test_task_id_with_capitals_is_refused_not_folded_onto_another_tasks_name():
    assert hostname_for_task("3F2C0E1D9A8B", PREFIX) is None


def test_trailing_newline_is_not_a_valid_label_or_arn():
    assert hostname_for_task("abc\n", PREFIX) is None
    assert task_id_from_arn("arn:aws:ecs:eu-west-2:123456789012:task/c/abc\n") is None


@pytest.mark.parametrize("task_arn, belongs", [
    ("arn:aws:ecs:eu-west-2:123456789012:task/user-sessions/abc", True),
    ("arn:aws:ecs:eu-west-2:123456789012:task/0b69d5c0-d655-4695-98cd-5d2d526d9d5a", True),
    ("arn:aws:ecs:eu-west-2:123456789012:task/other-cluster/abc", False),
    ("arn:aws:ecs:eu-west-2:999999999999:task/user-sessions/abc", False),
    ("arn:aws:ecs:eu-west-1:123456789012:task/user-sessions/abc", False),
    ("arn:aws:ecs:eu-west-2:123456789012:task/user-sessions-2/abc", False),
])
def test_task_must_belong_to_the_configured_cluster(task_arn, belongs):
    cluster = "arn:aws:ecs:eu-west-2:123456789012:cluster/user-sessions"
    assert task_belongs_to_cluster(task_arn, cluster) is belongs


@pytest.mark.parametrize("task_id", [
    "evil.example.org", "a" * 64, "", "-leading", "trailing-", "under_score", "ünïcode", "sp ace",
    "x\x00y", "*", "..",
])
def test_task_id_that_is_not_one_dns_label_gets_no_hostname(task_id):
    assert hostname_for_task(task_id, PREFIX) is None


def test_hostname_longer_than_dns_allows_is_refused():
    long_prefix = ".".join(["a" * 63] * 3)
    assert is_valid_dns_name(long_prefix)
    assert hostname_for_task("b" * 63, long_prefix) is None
