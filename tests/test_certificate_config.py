import json

import pytest

from chalicelib.certificates.settings import LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING, RenewalSettings
from chalicelib.shared.configuration import ConfigurationError

ITEM = {
    "domains": ["*.EU-west-2.browser.example.com", "eu-west-2.browser.example.com."],
    "zoneId": "/hostedzone/Z0123456789ABC",
    "certStorageBucketName": "task-subdomains-certs",
    "certStoragePrefix": "eu-west-2",
    "successSnsTopicArn": "arn:aws:sns:eu-west-2:123456789012:certs",
    "profile": "shortlived",
}


def environ(**overrides):
    return {"WORKSPACE": "ws", "CERTIFICATES": json.dumps([ITEM]), **overrides}


def test_items_are_normalized():
    settings = RenewalSettings.from_environment(environ())
    (spec,) = settings.certificates
    assert spec.domains == ("*.eu-west-2.browser.example.com", "eu-west-2.browser.example.com")
    assert spec.zone_id == "Z0123456789ABC"
    assert spec.key("cert.pem") == "eu-west-2/cert.pem"
    assert spec.failure_topic_arn is None and spec.profile == "shortlived"
    assert settings.directory_url == LETSENCRYPT_PRODUCTION
    assert settings.account_key_parameter == "/ws/LETSENCRYPT_ACCOUNT_KEY"


def test_staging_alias():
    settings = RenewalSettings.from_environment(environ(ACME_DIRECTORY_URL="letsencrypt-staging"))
    assert settings.directory_url == LETSENCRYPT_STAGING


@pytest.mark.parametrize("overrides, message", [
    ({"CERTIFICATES": "[{"}, r"^CERTIFICATES is not valid JSON"),
    ({"CERTIFICATES": "{}"}, r"^CERTIFICATES must be a non-empty JSON list"),
    ({"CERTIFICATES": json.dumps([{**ITEM, "domains": []}])}, r"^CERTIFICATES\[0\]\.domains"),
    ({"CERTIFICATES": json.dumps([{**ITEM, "domains": ["a b.com"]}])}, r"^CERTIFICATES\[0\]\.domains: 'a b.com'"),
    ({"CERTIFICATES": json.dumps([ITEM, {**ITEM, "zoneId": 5}])}, r"^CERTIFICATES\[1\]\.zoneId=5"),
    ({"CERTIFICATES": json.dumps([{**ITEM, "certStorageBucketName": "Bad_Bucket"}])},
     r"^CERTIFICATES\[0\]\.certStorageBucketName"),
    ({"CERTIFICATES": json.dumps([{**ITEM, "failureSnsTopicArn": "topic"}])},
     r"^CERTIFICATES\[0\]\.failureSnsTopicArn"),
    ({"WORKSPACE": ""}, r"^WORKSPACE is not set"),
    ({"ACME_DIRECTORY_URL": "http://insecure/dir"}, r"^ACME_DIRECTORY_URL="),
    ({"NOTIFY_EMAIL": "not-an-email"}, r"^NOTIFY_EMAIL="),
])
def test_bad_configuration_names_the_variable(overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        RenewalSettings.from_environment(environ(**overrides))


def test_two_certificates_at_one_storage_location_are_refused_naming_both():
    other = {**ITEM, "domains": ["other.example.com"], "certStoragePrefix": "eu-west-2/"}  # same as "eu-west-2"
    with pytest.raises(ConfigurationError) as refused:
        RenewalSettings.from_environment(environ(CERTIFICATES=json.dumps([ITEM, {**ITEM, "certStoragePrefix": "x"},
                                                                          other])))
    assert str(refused.value).startswith("CERTIFICATES[0] and CERTIFICATES[2] are both stored at "
                                         "s3://task-subdomains-certs/eu-west-2/")


def test_same_prefix_in_another_bucket_is_another_location():
    other = {**ITEM, "domains": ["other.example.com"], "certStorageBucketName": "other-bucket"}
    assert len(RenewalSettings.from_environment(environ(CERTIFICATES=json.dumps([ITEM, other]))).certificates) == 2
