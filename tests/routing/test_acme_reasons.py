"""What a customer or operator reads when the CA refuses a certificate: Traefik's log line
reduced to the CA's reason, in plain words for the problems one can act on (rate limited,
challenge failed), and nothing for other hosts."""

from __future__ import annotations

from tenantry.routing.certificates import last_acme_error

_PREFIX = ('2026-12-02T10:00:00Z ERR github.com/traefik/traefik/v3/pkg/provider/acme/provider.go:457 > '
           'Unable to obtain ACME certificate for domains error=')


def _line(error: str, domain: str) -> str:
    escaped = error.replace('"', '\\"')
    return (f'{_PREFIX}"{escaped}" ACME CA=https://127.0.0.1:14000/dir acmeCA=https://127.0.0.1:14000/dir '
            f'domains=["{domain}"] providerName=tenantry-http.acme routerName=r@file rule="Host(`{domain}`)"')


def test_rate_limited_and_failed_challenges_are_said_plainly(tmp_path):
    log = tmp_path / "traefik.log"
    log.write_text("\n".join([
        _line("unable to generate a certificate for the domains [limited.example.com]: acme: error: 429 :: "
              "POST :: https://127.0.0.1:14000/order-plz :: urn:ietf:params:acme:error:rateLimited :: "
              "too many certificates already issued for \"example.com\"", "limited.example.com"),
        _line("unable to generate a certificate for the domains [broken.example.net]: error: one or more domains "
              "had a problem:\\n[broken.example.net] invalid authorization: acme: error: 400 :: "
              "urn:ietf:params:acme:error:connection :: Connection refused", "broken.example.net"),
        "2026-12-02T10:00:01Z INF something else entirely",
    ]) + "\n")
    limited = last_acme_error("limited.example.com", log)
    assert limited.startswith("the certificate authority's rate limit is reached; the proxy tries again later")
    assert 'too many certificates already issued for "example.com"' in limited
    broken = last_acme_error("broken.example.net", log)
    assert broken == "the certificate authority could not reach this service on port 80 (Connection refused)"
    assert last_acme_error("fine.example.com", log) == ""
    assert last_acme_error("limited.example.com", tmp_path / "absent.log") == ""
