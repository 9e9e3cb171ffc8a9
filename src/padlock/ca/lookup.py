"""The VA's DNS lookups, DNSSEC-validated by the resolver padlock is configured to trust.

Ballot SC-085v2 (BR 3.2.2.4 for domain control, 3.2.2.8 for CAA; effective 2026-03-15)
makes every DNS lookup of domain validation and CAA validate DNSSEC back to the IANA root
trust anchor: a bogus answer is a refusal, an unsigned (insecure) zone is fine. padlock
does not validate signatures itself: it asks a validating resolver (``PADLOCK_VA_RESOLVER``,
unbound for instance; docs/ca-operations.md) and uses what that resolver says:

- the AD bit of its answer (RFC 4035 section 3.2.3), asked for by setting AD in the query
  (RFC 6840 section 5.7), tells a secure answer from an insecure one; it is kept with
  the evidence;
- a SERVFAIL is a DNSSEC failure when the resolver says so with an Extended DNS Error
  (RFC 8914 section 4: codes 1, 2 and 5 to 12), or when the same query with checking
  disabled (CD, RFC 4035 section 3.2.2) is answered: the data is there, but does not
  validate. Either way the lookup fails with :class:`DNSSECProblem`, never with "no
  records" (which for CAA would mean "any CA may issue").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.resolver

from padlock.errors import PadlockError

# RFC 8914 section 4: the Extended DNS Error codes that name a DNSSEC failure.
DNSSEC_EDE: dict[int, str] = {
    1: "unsupported DNSKEY algorithm",
    2: "unsupported DS digest type",
    5: "DNSSEC indeterminate",
    6: "DNSSEC bogus",
    7: "signature expired",
    8: "signature not yet valid",
    9: "DNSKEY missing",
    10: "RRSIGs missing",
    11: "no zone key bit set",
    12: "NSEC missing",
}
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no fragmented UDP answers


class DNSProblem(PadlockError):
    problem = "dns"


class DNSSECProblem(DNSProblem):
    """The resolver found the answer bogus: refused, whatever the records say."""


@dataclass(frozen=True)
class Answer:
    """The records of one type at one name ([] for NXDOMAIN or NODATA) and whether the
    validating resolver vouched for them (its AD bit)."""

    records: list[Any]
    secure: bool

    @property
    def dnssec(self) -> str:
        """What evidence records: secure or insecure (RFC 4035 section 4.3)."""
        return "secure" if self.secure else "insecure"


def _resolver(server: tuple[str, int] | None, timeout: float, flags: int) -> Any:
    res = dns.resolver.Resolver(configure=server is None)
    if server is not None:
        res.nameservers = [server[0]]
        res.port = server[1]
    res.lifetime = timeout
    res.timeout = timeout
    res.flags = flags
    res.use_edns(0, 0, EDNS_PAYLOAD)  # EDNS: room for the resolver's Extended DNS Errors
    return res


def _ad(response: Any) -> bool:
    return response is not None and bool(response.flags & dns.flags.AD)


def query(server: tuple[str, int] | None, timeout: float, qname: str, rdtype: str) -> Answer:
    """Records of one type; DNSSECProblem for a bogus answer, DNSProblem for other failures
    (SERVFAIL, timeout)."""
    res = _resolver(server, timeout, dns.flags.RD | dns.flags.AD)
    try:
        answer = res.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        responses = list(exc.responses().values())  # type: ignore[no-untyped-call]
        return Answer([], all(_ad(r) for r in responses) and bool(responses))
    except dns.resolver.NoNameservers as exc:
        why = _dnssec_failure(server, timeout, qname, rdtype, exc)
        if why:
            raise DNSSECProblem(
                f"DNSSEC validation of {rdtype} {qname} failed: {why}. A bogus answer is"
                " never used (BR 3.2.2.4 and 3.2.2.8, ballot SC-085).",
                hint="The zone's signatures do not validate: re-sign the zone or fix its DS"
                " record at the parent, then try again.",
            ) from exc
        raise DNSProblem(f"DNS lookup of {rdtype} {qname} failed (SERVFAIL): {exc}") from exc
    except dns.exception.Timeout as exc:
        raise DNSProblem(f"DNS lookup of {rdtype} {qname} timed out.") from exc
    except dns.exception.DNSException as exc:
        raise DNSProblem(f"DNS lookup of {rdtype} {qname} failed: {exc}") from exc
    return Answer(list(answer.rrset or []), _ad(answer.response))


def _dnssec_failure(
    server: tuple[str, int] | None,
    timeout: float,
    qname: str,
    rdtype: str,
    exc: dns.resolver.NoNameservers,
) -> str:
    """Why the resolver failed, when the failure is DNSSEC's; "" otherwise."""
    for error in exc.kwargs.get("errors") or ():
        response = error[-1] if error else None
        if not isinstance(response, dns.message.Message):
            continue
        for ede in response.extended_errors():
            if ede.code in DNSSEC_EDE:
                text = f" ({ede.text})" if ede.text else ""
                return f"{DNSSEC_EDE[ede.code]}{text}"
    # No Extended DNS Error: ask again with checking disabled. An answer now means the data
    # exists and only its validation failed.
    res = _resolver(server, timeout, dns.flags.RD | dns.flags.CD)
    try:
        res.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        pass
    except dns.exception.DNSException:
        return ""
    return "the resolver answers only with checking disabled (CD), so the answer is bogus"


@dataclass(frozen=True)
class ResolverCheck:
    """What ``padlock doctor`` says of the VA's resolver."""

    ok: bool
    detail: str


def check_resolver(
    server: tuple[str, int] | None,
    timeout: float,
    secure_name: str,
    bogus_name: str,
) -> ResolverCheck:
    """Whether the resolver validates DNSSEC, as ballot SC-085 needs (``padlock doctor``;
    the names are PADLOCK_VA_DNSSEC_SECURE and _BOGUS, by default ietf.org and
    dnssec-failed.org, which Comcast keeps broken for this test): its answer for a
    signed name carries the AD bit (RFC 4035 section 3.2.3) and it refuses a bogus one.
    A resolver that passes neither test does not validate; CAA and every DCV lookup through
    it would take forged answers from signed zones."""
    where = f"{server[0]}:{server[1]}" if server else "the system resolver"
    try:
        secure = query(server, timeout, secure_name, "A")
    except DNSProblem as exc:
        return ResolverCheck(False, f"{where} could not answer for {secure_name}: {exc.message}")
    try:
        query(server, timeout, bogus_name, "A")
        refused = False
    except DNSSECProblem:
        refused = True
    except DNSProblem as exc:
        return ResolverCheck(
            False, f"{where} failed for {bogus_name} without saying why: {exc.message}"
        )
    if secure.secure and refused:
        return ResolverCheck(
            True, f"{where} validates DNSSEC (AD for {secure_name}, refuses {bogus_name})"
        )
    why = []
    if not secure.secure:
        why.append(f"no AD bit for {secure_name}, which is signed")
    if not refused:
        why.append(f"it answers {bogus_name}, whose signatures are broken")
    return ResolverCheck(
        False,
        f"{where} does NOT validate DNSSEC ({'; '.join(why)}): CAA and domain validation"
        " need a validating resolver (ballot SC-085); set PADLOCK_VA_RESOLVER to one (unbound)",
    )
