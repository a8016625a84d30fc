"""CAA evaluation and the CA's CAA identity: pure functions, no AWS."""

import pytest

from chalicelib.certificates.settings import LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING
from chalicelib.shared.records import RecordSet
from operator_cli.doctor.ca_identity import LETS_ENCRYPT_IDENTITY, CaIdentity, ca_identity, identities_from_directory
from operator_cli.doctor.caa import caa_check, names_up_to, parse_caa, relevant_caa

APEX = "example.com"
LETS_ENCRYPT = CaIdentity(LETSENCRYPT_PRODUCTION, (LETS_ENCRYPT_IDENTITY,))
ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/12345"


def caa(name: str, *values: str) -> dict[str, list[RecordSet]]:
    return {name: [RecordSet(name, "CAA", values)]}


def verdict(certificate_name: str, zone: dict, ca: CaIdentity = LETS_ENCRYPT, account: str | None = ACCOUNT) -> str:
    return caa_check(certificate_name, APEX, relevant_caa(certificate_name, APEX, zone), ca, account).level


def test_the_lookup_climbs_from_the_name_to_the_apex():
    assert names_up_to("a.b.example.com", APEX) == ["a.b.example.com", "b.example.com", "example.com"]
    assert names_up_to("example.com", APEX) == ["example.com"]
    assert names_up_to("example.org", APEX) == []
    assert names_up_to("notexample.com", APEX) == []


def test_route53_values_parse_with_flags_tag_and_quoted_value():
    parsed = parse_caa('128 issue "letsencrypt.org; validationmethods=dns-01"')
    assert (parsed.critical, parsed.tag, parsed.issuer, parsed.parameters) == (
        True, "issue", "letsencrypt.org", {"validationmethods": "dns-01"})
    assert parse_caa('0 issue ";"').issuer == ""
    assert parse_caa("not a caa value") is None


def test_no_caa_anywhere_lets_any_ca_issue():
    assert verdict("*.x.example.com", {}) == "ok"


def test_the_closest_set_wins_over_its_parents():
    zone = {**caa("example.com", '0 issue "digicert.com"'), **caa("x.example.com", '0 issue "letsencrypt.org"')}
    assert verdict("x.example.com", zone) == "ok"
    assert verdict("y.example.com", zone) == "fail"


@pytest.mark.parametrize("value", ['0 issue "digicert.com"', '0 issue ";"', '0 ISSUE "digicert.com"'])
def test_issue_properties_that_do_not_name_the_ca_fail(value):
    assert verdict("x.example.com", caa("example.com", value)) == "fail"


def test_issuer_names_compare_without_case():
    assert verdict("x.example.com", caa("example.com", '0 issue "LetsEncrypt.org"')) == "ok"


def test_issuewild_replaces_issue_for_wildcards_only():
    zone = caa("example.com", '0 issue "letsencrypt.org"', '0 issuewild "digicert.com"')
    assert verdict("x.example.com", zone) == "ok"
    assert verdict("*.x.example.com", zone) == "fail"


def test_without_issuewild_issue_applies_to_wildcards_too():
    assert verdict("*.x.example.com", caa("example.com", '0 issue "digicert.com"')) == "fail"
    assert verdict("*.x.example.com", caa("example.com", '0 issue "letsencrypt.org"')) == "ok"


def test_a_set_with_only_iodef_restricts_nothing():
    assert verdict("x.example.com", caa("example.com", '0 iodef "mailto:security@example.com"')) == "ok"


def test_an_unknown_critical_tag_forbids_issuance_and_an_unknown_plain_one_does_not():
    assert verdict("x.example.com", caa("example.com", '0 issue "letsencrypt.org"', '128 tbs "x"')) == "fail"
    assert verdict("x.example.com", caa("example.com", '0 issue "letsencrypt.org"', '0 tbs "x"')) == "ok"


def test_validation_methods_must_include_dns_01():
    assert verdict("x.example.com", caa("example.com", '0 issue "letsencrypt.org; validationmethods=http-01"')) == \
        "fail"
    assert verdict("x.example.com", caa("example.com",
                                        '0 issue "letsencrypt.org; validationmethods=http-01,dns-01"')) == "ok"


def test_an_account_binding_must_name_our_account_and_cannot_be_judged_before_we_have_one():
    ours = caa("example.com", f'0 issue "letsencrypt.org; accounturi={ACCOUNT}"')
    assert verdict("x.example.com", ours) == "ok"
    assert verdict("x.example.com", caa("example.com", '0 issue "letsencrypt.org; accounturi=https://ca/acct/9"')) \
        == "fail"
    assert verdict("x.example.com", ours, account=None) == "warn"


def test_one_allowing_property_is_enough():
    zone = caa("example.com", '0 issue "letsencrypt.org; validationmethods=http-01"', '0 issue "letsencrypt.org"')
    assert verdict("x.example.com", zone) == "ok"


def test_a_restricting_set_cannot_be_judged_for_a_ca_of_unknown_identity():
    unknown = CaIdentity("https://ca.example/dir", None, "its directory names no CAA identity")
    check = caa_check("x.example.com", APEX, relevant_caa("x.example.com", APEX,
                                                          caa("example.com", '0 issue "letsencrypt.org"')),
                      unknown, ACCOUNT)
    assert check.level == "warn" and "its directory names no CAA identity" in check.message
    # Without a restricting set, the identity does not matter.
    assert verdict("x.example.com", {}, ca=unknown) == "ok"


def test_a_cname_on_the_way_up_is_reported_as_not_checkable():
    zone = {"x.example.com": [RecordSet("x.example.com", "CNAME", ("elsewhere.example.net.",))]}
    assert verdict("x.example.com", zone) == "warn"


def test_a_failing_verdict_says_what_to_add():
    check = caa_check("*.x.example.com", APEX, relevant_caa("*.x.example.com", APEX, caa(
        "example.com", '0 issuewild "digicert.com"')), LETS_ENCRYPT, ACCOUNT)
    assert '0 issuewild "letsencrypt.org"' in check.message and "digicert.com" in check.message


@pytest.mark.parametrize("directory", [LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING])
def test_lets_encrypt_is_known_without_asking_it(directory):
    def no_network(url):
        raise AssertionError(f"fetched {url}")

    assert ca_identity(directory, no_network).identities == (LETS_ENCRYPT_IDENTITY,)


def test_another_ca_is_known_by_its_directorys_caa_identities():
    directory = {"meta": {"caaIdentities": ["Example-CA.net", "other.example"]}}
    assert identities_from_directory(directory) == ("example-ca.net", "other.example")
    assert ca_identity("https://ca.example/dir", lambda url: directory).identities == ("example-ca.net",
                                                                                       "other.example")


def test_a_ca_without_identities_or_out_of_reach_is_unknown_and_says_why():
    silent = ca_identity("https://ca.example/dir", lambda url: {"meta": {}})
    assert silent.identities is None and "caaIdentities" in silent.note

    def unreachable(url):
        raise ConnectionError("connection refused")

    down = ca_identity("https://ca.example/dir", unreachable)
    assert down.identities is None and "connection refused" in down.note
