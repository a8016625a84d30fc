"""Do the zone's CAA records let the configured CA issue for a certificate name? Pure functions.

RFC 8659: the CA looks for CAA records at the name (a wildcard's name without its `*.`), then at
each parent, and uses the first non-empty set it finds (the "relevant" set). In it, `issue`
properties name the CAs that may issue; for a wildcard name, `issuewild` properties replace them
when there are any. No restricting property: any CA may issue. A property with the critical flag
and a tag the CA does not know forbids issuance. Let's Encrypt also honours the parameters
`validationmethods` (must allow dns-01 here) and `accounturi` (must be our account).

A CAA record that does not allow the CA makes every issuance fail, and only the renewal log says so.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chalicelib.shared.route53 import RecordSet
from operator_cli.doctor.ca_identity import CaIdentity
from operator_cli.doctor.checks import FAIL, OK, WARN, Check

CAA_TYPE = "CAA"
CNAME_TYPE = "CNAME"
CRITICAL_FLAG = 128
# The tags RFC 8659 defines; a CA must refuse on an unknown tag marked critical.
KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef"})
VALIDATION_METHOD = "dns-01"


@dataclass(frozen=True)
class CaaProperty:
    flags: int
    tag: str
    value: str

    @property
    def critical(self) -> bool:
        return bool(self.flags & CRITICAL_FLAG)

    @property
    def issuer(self) -> str:
        """The issuer domain; "" for `;` (no CA may issue)."""
        return self.value.split(";", 1)[0].strip().lower()

    @property
    def parameters(self) -> dict[str, str]:
        pairs = (part.split("=", 1) for part in self.value.split(";")[1:] if "=" in part)
        return {key.strip().lower(): value.strip() for key, value in pairs}

    def text(self) -> str:
        return f'{self.flags} {self.tag} "{self.value}"'


def parse_caa(value: str) -> CaaProperty | None:
    """A CAA value as Route53 stores it (`0 issue "letsencrypt.org"`); None when it is not one."""
    parts = value.strip().split(None, 2)
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    flags, tag, quoted = parts
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        return None
    return CaaProperty(int(flags), tag.lower(), quoted[1:-1].replace('\\"', '"'))


def lookup_name(certificate_name: str) -> str:
    return certificate_name.removeprefix("*.")


def names_up_to(name: str, apex: str) -> list[str]:
    """name, its parent, ... down to apex (inclusive); [] when name is not within apex."""
    if name != apex and not name.endswith(f".{apex}"):
        return []
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - len(apex.split(".")) + 1)]


@dataclass(frozen=True)
class RelevantCaa:
    """The first CAA set on the way up from the name to the apex, or why there is none in the zone."""

    found_at: str | None
    properties: tuple[CaaProperty, ...] = ()
    unreadable: tuple[str, ...] = ()  # values at found_at that are not CAA syntax
    alias_at: str | None = None  # a CNAME on the way: the CA's lookup follows it out of what we read


def relevant_caa(certificate_name: str, apex: str, record_sets_by_name: Mapping[str, Iterable[RecordSet]]
                 ) -> RelevantCaa:
    for name in names_up_to(lookup_name(certificate_name), apex):
        record_sets = list(record_sets_by_name.get(name, ()))
        values = [value for r in record_sets if r.type == CAA_TYPE for value in r.values]
        if values:
            parsed = [(value, parse_caa(value)) for value in values]
            return RelevantCaa(name, tuple(p for _, p in parsed if p is not None),
                               tuple(value for value, p in parsed if p is None))
        if any(r.type == CNAME_TYPE for r in record_sets):
            return RelevantCaa(None, alias_at=name)
    return RelevantCaa(None)


def caa_check(certificate_name: str, apex: str, relevant: RelevantCaa, ca: CaIdentity,
              account_uri: str | None) -> Check:
    """account_uri: our ACME account's URL, None when not known (yet)."""
    wildcard = certificate_name.startswith("*.")
    if relevant.alias_at is not None:
        return Check(WARN, "caa", certificate_name,
                     f"{relevant.alias_at} is a CNAME: the CA's CAA lookup follows it out of zone {apex}; "
                     f"check `dig CAA {relevant.alias_at}`")
    if relevant.found_at is None:
        above = apex.split(".", 1)[1] if apex.count(".") > 1 else None
        note = f"; names above the zone ({above}) are not in it: check `dig CAA {above}`" if above else ""
        return Check(OK, "caa", certificate_name,
                     f"no CAA record from {lookup_name(certificate_name)} up to {apex}: any CA may issue{note}")
    where = f"CAA at {relevant.found_at}"
    if relevant.unreadable:
        return Check(FAIL, "caa", certificate_name,
                     f"{where} holds values that are not CAA records ({', '.join(relevant.unreadable)}): "
                     "fix or remove them")
    critical_unknown = sorted({p.tag for p in relevant.properties if p.critical and p.tag not in KNOWN_TAGS})
    if critical_unknown:
        return Check(FAIL, "caa", certificate_name,
                     f"{where} has critical properties no CA knows ({', '.join(critical_unknown)}), so every CA "
                     "must refuse: remove them or clear their critical flag")
    tag = "issuewild" if wildcard and any(p.tag == "issuewild" for p in relevant.properties) else "issue"
    restricting = [p for p in relevant.properties if p.tag == tag]
    if not restricting:
        return Check(OK, "caa", certificate_name, f"{where} has no {tag} property: any CA may issue")
    allowed = sorted({p.issuer or "no CA (';')" for p in restricting})
    if ca.identities is None:
        return Check(WARN, "caa", certificate_name,
                     f"{where} allows only {', '.join(allowed)}; whether that includes {ca.description} cannot be "
                     f"checked: {ca.note}")
    ours = [p for p in restricting if p.issuer in ca.identities]
    if not ours:
        return Check(FAIL, "caa", certificate_name,
                     f"{where} allows only {', '.join(allowed)} ({tag}), not {ca.description}: every issuance will "
                     f"fail; add `0 {tag} \"{ca.identities[0]}\"` at {relevant.found_at}")
    refusals, unknowns = [], []
    for prop in ours:
        refusal, unknown = _parameter_problems(prop, account_uri)
        if not refusal and not unknown:
            return Check(OK, "caa", certificate_name, f"{where} allows {prop.issuer} ({tag})")
        refusals += refusal
        unknowns += unknown
    if unknowns and not refusals:
        return Check(WARN, "caa", certificate_name, f"{where}: {'; '.join(unknowns)}")
    return Check(FAIL, "caa", certificate_name, f"{where}: {'; '.join(refusals + unknowns)}: every issuance will "
                 f"fail; change the record at {relevant.found_at}")


def _parameter_problems(prop: CaaProperty, account_uri: str | None) -> tuple[list[str], list[str]]:
    refusals, unknowns = [], []
    methods = prop.parameters.get("validationmethods")
    if methods is not None and VALIDATION_METHOD not in {m.strip().lower() for m in methods.split(",")}:
        refusals.append(f"`{prop.text()}` allows validation by {methods} only, not {VALIDATION_METHOD}")
    uri = prop.parameters.get("accounturi")
    if uri is not None and account_uri is None:
        unknowns.append(f"`{prop.text()}` allows one ACME account only, and ours is not known yet "
                        "(the first renewal records it): check once it has run")
    elif uri is not None and uri != account_uri:
        refusals.append(f"`{prop.text()}` allows another ACME account than ours ({account_uri})")
    return refusals, unknowns
