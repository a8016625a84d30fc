from datetime import UTC, datetime, timedelta

from chalicelib.certificates.policy import CertificateFacts, lifetime_renewal_time, renewal_decision

NAMES = ("*.t.example.com", "t.example.com")
START = datetime(2026, 1, 1, tzinfo=UTC)


def facts(days: float, names=NAMES) -> CertificateFacts:
    return CertificateFacts(names=names, serial="1", not_before=START, not_after=START + timedelta(days=days))


def test_ninety_day_certificate_renews_with_a_third_left():
    assert lifetime_renewal_time(START, START + timedelta(days=90)) == START + timedelta(days=60)


def test_short_lived_certificate_renews_with_half_left():
    assert lifetime_renewal_time(START, START + timedelta(days=6)) == START + timedelta(days=3)


def test_nothing_stored_is_due():
    assert renewal_decision(None, NAMES, START, None, force=False).due


def test_not_due_says_when_it_will_be():
    decision = renewal_decision(facts(90), NAMES, START + timedelta(days=59), None, force=False)
    assert not decision.due and decision.renew_at == START + timedelta(days=60)
    assert renewal_decision(facts(90), NAMES, START + timedelta(days=60), None, force=False).due


def test_ari_window_overrides_the_lifetime_rule_both_ways():
    early = START + timedelta(days=10)
    assert renewal_decision(facts(90), NAMES, START + timedelta(days=11), early, force=False).due
    late = START + timedelta(days=80)
    decision = renewal_decision(facts(90), NAMES, START + timedelta(days=70), late, force=False)
    assert not decision.due and decision.renew_at == late


def test_force_and_changed_names_and_expiry_are_due():
    assert renewal_decision(facts(90), NAMES, START, None, force=True).due
    assert renewal_decision(facts(90, names=("t.example.com",)), NAMES, START, None, force=False).due
    assert renewal_decision(facts(90), NAMES, START + timedelta(days=91), START + timedelta(days=200),
                            force=False).due


def test_inconsistently_stored_certificate_is_due_and_says_why():
    problem = "key.pem does not belong to the certificate in cert.pem"
    decision = renewal_decision(facts(90), NAMES, START, None, force=False, storage_problems=(problem,))
    assert decision.due and problem in decision.reason
    assert not renewal_decision(facts(90), NAMES, START, None, force=False, storage_problems=()).due
