"""`tenantry doctor` on a wildcard that does not resolve: a DNS server that answers, but NXDOMAIN
or no address for the base domain's names, is a failure naming the record to create (an
unreachable resolver is covered by test_doctor.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest

from tenantry.ops.doctor import FAILURE, check_wildcard_dns


@pytest.fixture()
def dns_answering(request) -> Iterator[str]:
    """A DNS server on 127.0.0.1 answering every query with `request.param` (an rcode name)."""
    rcode = dns.rcode.from_text(request.param)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            response = dns.message.make_response(dns.message.from_wire(data))
            response.set_rcode(rcode)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    sock.close()


@pytest.mark.parametrize("dns_answering", ["NXDOMAIN", "NOERROR"], indirect=True)
def test_a_wildcard_that_does_not_resolve_fails_with_its_fix(dns_answering, settings):
    settings.TENANTRY = {**settings.TENANTRY, "BASE_DOMAIN": "apps.example.com", "DNS_RESOLVER": dns_answering}
    findings = list(check_wildcard_dns())
    assert [f.status for f in findings] == [FAILURE]
    finding = findings[0]
    assert finding.check == "dns" and ".apps.example.com does not resolve" in finding.message
    assert "will not reach this server" in finding.message
    assert finding.fix == "create a wildcard record: *.apps.example.com A <this server's public address>"
