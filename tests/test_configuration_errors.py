"""Bad configuration fails the first invocation with an error that names the variable."""

import pytest

from chalicelib.shared.configuration import ConfigurationError


def test_dns_function_names_a_missing_variable(cluster, app_module, monkeypatch):
    monkeypatch.delenv("DOMAIN_PREFIX")
    task = cluster.run_task(public_ip="203.0.113.60")

    with pytest.raises(ConfigurationError, match="^DOMAIN_PREFIX is not set"):
        app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    assert cluster.zone_records() == {}


def test_reconciler_names_an_invalid_variable(cluster, app_module, monkeypatch):
    monkeypatch.setenv("HOSTED_ZONE_ID", "not a zone")

    with pytest.raises(ConfigurationError, match="^HOSTED_ZONE_ID='not a zone'"):
        app_module.reconcile_task_dns({}, None)


def test_renewal_names_malformed_certificates_json(aws, app_module, monkeypatch):
    monkeypatch.setenv("WORKSPACE", "config-tests")
    monkeypatch.setenv("CERTIFICATES", '[{"domains": ["a.example.com"], "zoneId": ')

    with pytest.raises(ConfigurationError, match="^CERTIFICATES is not valid JSON"):
        app_module.renew_certificates({}, None)
