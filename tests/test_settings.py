import pytest

from chalicelib.shared.configuration import ConfigurationError
from chalicelib.task_records.settings import TaskDnsSettings

VALID = {
    "DOMAIN_PREFIX": "eu-west-2.browser.example.com",
    "HOSTED_ZONE_ID": "Z0123456789ABC",
    "CLUSTER_ARN": "arn:aws:ecs:eu-west-2:123456789012:cluster/user-sessions",
}


def test_valid_settings_are_normalized():
    settings = TaskDnsSettings.from_environment(
        {**VALID, "DOMAIN_PREFIX": "EU-West-2.Browser.Example.com.", "HOSTED_ZONE_ID": "/hostedzone/Z0123456789ABC"}
    )
    assert settings.domain_prefix == "eu-west-2.browser.example.com"
    assert settings.hosted_zone_id == "Z0123456789ABC"


@pytest.mark.parametrize("name", sorted(VALID))
def test_missing_variable_is_named(name):
    environ = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(ConfigurationError, match=f"^{name} is not set"):
        TaskDnsSettings.from_environment(environ)


@pytest.mark.parametrize("name, value", [
    ("DOMAIN_PREFIX", "*.example.com"), ("DOMAIN_PREFIX", "exa mple.com"), ("DOMAIN_PREFIX", "a..b"),
    ("HOSTED_ZONE_ID", "z-lower"), ("CLUSTER_ARN", "user-sessions"),
    ("CLUSTER_ARN", "arn:aws:ecs:eu-west-2:123456789012:task/user-sessions/abc"),
])
def test_invalid_variable_is_named_with_its_value(name, value):
    with pytest.raises(ConfigurationError, match=f"^{name}="):
        TaskDnsSettings.from_environment({**VALID, name: value})


def test_owner_id_differs_between_clusters_and_is_stable():
    one = TaskDnsSettings.from_environment(VALID)
    other = TaskDnsSettings.from_environment({**VALID, "CLUSTER_ARN": VALID["CLUSTER_ARN"] + "-2"})
    assert one.record_owner_id == TaskDnsSettings.from_environment(VALID).record_owner_id
    assert one.record_owner_id != other.record_owner_id
    assert "123456789012" not in one.record_owner_id
