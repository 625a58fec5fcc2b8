"""DNS lookups that verify a custom domain, through a configurable resolver
(TENANTRY_DNS_RESOLVER: "host:port" or "host", several comma-separated; empty: the system's)."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from django.conf import settings


@dataclass(frozen=True)
class RecordProblem:
    record: str  # the name looked up
    type: str  # CNAME or TXT
    expected: str
    found: tuple[str, ...]
    problem: str  # missing | wrong | unreachable

    def as_dict(self) -> dict:
        return {"record": self.record, "type": self.type, "expected": self.expected, "found": list(self.found),
                "problem": self.problem}

    def sentence(self) -> str:
        if self.problem == "missing":
            return f"No {self.type} record at {self.record} (expected {self.expected})."
        if self.problem == "unreachable":
            return f"The DNS lookup of {self.record} ({self.type}) failed; try again in a minute."
        return f"The {self.type} record at {self.record} is {', '.join(self.found)}; it must be {self.expected}."


def resolver() -> dns.resolver.Resolver:
    configured = [s.strip() for s in settings.TENANTRY["DNS_RESOLVER"].split(",") if s.strip()]
    if not configured:
        return dns.resolver.Resolver()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = []
    for server in configured:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        resolver.nameservers.append(host)
        if port:
            resolver.port = int(port)
    resolver.lifetime = resolver.timeout = 5.0
    return resolver


def _lookup(name: str, rdtype: str) -> tuple[tuple[str, ...], str | None]:
    """(answers, None) or ((), "missing" | "unreachable")."""
    try:
        answer = resolver().resolve(name, rdtype, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return (), "missing"
    except dns.exception.DNSException:
        return (), "unreachable"
    values = []
    for rdata in answer.rrset or []:
        if rdata.rdtype == dns.rdatatype.TXT:
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        else:
            values.append(rdata.to_text().rstrip(".").lower())
    return tuple(values), None if values else "missing"


def check_domain(*, domain: str, target_host: str, token_record: str, token: str) -> list[RecordProblem]:
    """The records of a custom domain that are missing or wrong (empty: verified)."""
    problems = []
    cnames, failure = _lookup(domain, "CNAME")
    if failure or target_host not in cnames:
        problems.append(RecordProblem(record=domain, type="CNAME", expected=target_host, found=cnames,
                                      problem=failure or "wrong"))
    texts, failure = _lookup(token_record, "TXT")
    if failure or token not in texts:
        problems.append(RecordProblem(record=token_record, type="TXT", expected=token, found=texts,
                                      problem=failure or "wrong"))
    return problems
