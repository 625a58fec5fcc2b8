"""Custom domains through the API: the records to create, verification by real DNS lookups
(pebble-challtestsrv's DNS server as TENANTRY_DNS_RESOLVER), the route carrying the verified
domain, no takeover by another team, the plan's limit, removal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from tenantry.accounts.models import ApiKeyScope, Team
from tenantry.accounts.services.api_keys import api_key_create
from tenantry.instances.models import Instance, Status
from tenantry.routing.backends.base import Route
from tenantry.routing.models import CustomDomain
from tenantry.routing.registry import routing
from tenantry.routing.selectors import route_hosts, verified_hosts_by_instance
from tenantry.routing.services import normalize_domain, ownership_token
from tenantry.runtime.placement import default_server
from tests.billing.billing_helpers import make_team
from tests.billing.entitlement_helpers import subscribe
from tests.routing.acme import Challtestsrv, start_challtestsrv

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory) -> Challtestsrv:
    server = start_challtestsrv(tmp_path_factory.mktemp("dns"))
    yield server
    server.stop()


@pytest.fixture()
def resolver(dns_server, settings) -> Challtestsrv:
    settings.TENANTRY = {**settings.TENANTRY, "DNS_RESOLVER": dns_server.dns_address}
    return dns_server


def _team(slug: str, **plan) -> tuple[Team, Client]:
    team = make_team(slug)
    subscribe(team, **plan)
    return team, Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(team=team, name='k').plaintext}")


def _instance(team: Team, slug: str) -> Instance:
    instance = Instance.objects.create(team=team, slug=slug, app="hello", server=default_server(), memory_mb=64,
                                       cpus=Decimal("0.25"), pids=64, status=Status.RUNNING)
    routing().publish(Route(key=str(instance.pk), hosts=(instance.host,), upstream="http://127.0.0.1:9"))
    return instance


def _add(client: Client, ref: str, domain: str):
    return client.post(f"/api/v1/instances/{ref}/domains", data={"domain": domain}, content_type="application/json")


def _verify(client: Client, ref: str, domain: str):
    return client.post(f"/api/v1/instances/{ref}/domains/{domain}/verify")


def _point(dns: Challtestsrv, domain: str, target: str, token: str) -> None:
    dns.post("/set-cname", host=domain, target=target)
    dns.post("/set-txt", host=f"_tenantry.{domain}.", value=token)  # TXT names are fully qualified


def _unpoint(dns: Challtestsrv, domain: str) -> None:
    dns.post("/clear-cname", host=domain)
    dns.post("/clear-txt", host=f"_tenantry.{domain}.")


def test_add_verify_route_and_remove(resolver):
    team, client = _team("domteam")
    instance = _instance(team, "flows")
    added = _add(client, "flows", "Flows.Example.com.")
    assert added.status_code == 201, added.content
    body = added.json()
    token = ownership_token(team, "flows.example.com")
    assert body["domain"] == "flows.example.com" and body["status"] == "pending"
    assert body["records"] == [
        {"type": "CNAME", "name": "flows.example.com", "value": "flows.localhost",
         "why": "sends the domain's visitors to the instance"},
        {"type": "TXT", "name": "_tenantry.flows.example.com", "value": token,
         "why": "proves that your team controls the domain"}]
    assert _add(client, "flows", "flows.example.com").status_code == 201  # adding twice: the same row
    assert CustomDomain.objects.count() == 1

    # nothing in DNS yet: both records named as missing, the domain stays pending and unrouted
    failed = _verify(client, "flows", "flows.example.com")
    assert failed.status_code == 422
    problems = failed.json()["details"]["problems"]
    assert [(p["type"], p["record"], p["problem"]) for p in problems] == [
        ("CNAME", "flows.example.com", "missing"), ("TXT", "_tenantry.flows.example.com", "missing")]
    assert failed.json()["code"] == "domain_not_verified"
    assert "No CNAME record at flows.example.com (expected flows.localhost)." in failed.json()["message"]
    assert route_hosts(instance) == ("flows.localhost",)

    # a CNAME to the wrong place and the right token: the CNAME is named as wrong, with what was found
    resolver.post("/set-cname", host="flows.example.com", target="elsewhere.example.net")
    resolver.post("/set-txt", host="_tenantry.flows.example.com.", value=token)
    wrong = _verify(client, "flows", "flows.example.com")
    assert wrong.status_code == 422
    assert wrong.json()["details"]["problems"] == [
        {"record": "flows.example.com", "type": "CNAME", "expected": "flows.localhost",
         "found": ["elsewhere.example.net"], "problem": "wrong"}]
    assert "is elsewhere.example.net; it must be flows.localhost" in wrong.json()["message"]
    listed = client.get("/api/v1/instances/flows/domains").json()
    assert listed[0]["status"] == "pending" and listed[0]["problems"][0]["problem"] == "wrong"

    resolver.post("/set-cname", host="flows.example.com", target="flows.localhost")
    verified = _verify(client, "flows", "flows.example.com")
    assert verified.status_code == 200, verified.content
    assert verified.json()["status"] == "verified" and verified.json()["problems"] == []
    assert verified.json()["url"].startswith("http://flows.example.com")
    # the route carries the domain now, still pointing at the app
    route = routing().current(str(instance.pk))
    assert route == Route(key=str(instance.pk), hosts=("flows.localhost", "flows.example.com"),
                          upstream="http://127.0.0.1:9")

    removed = client.delete("/api/v1/instances/flows/domains/flows.example.com")
    assert removed.status_code == 204
    assert routing().current(str(instance.pk)).hosts == ("flows.localhost",)
    assert not CustomDomain.objects.exists()
    assert client.delete("/api/v1/instances/flows/domains/flows.example.com").json()["code"] == "domain_not_found"
    _unpoint(resolver, "flows.example.com")


def test_no_takeover_of_a_domain_verified_by_another_team(resolver):
    owner, owner_client = _team("domowner")
    shop = _instance(owner, "shop")
    assert _add(owner_client, "shop", "shop.example.org").status_code == 201
    _point(resolver, "shop.example.org", "shop.localhost", ownership_token(owner, "shop.example.org"))
    assert _verify(owner_client, "shop", "shop.example.org").status_code == 200

    thief, thief_client = _team("domthief", max_custom_domains=5)
    grab = _instance(thief, "grab")
    taken = _add(thief_client, "grab", "shop.example.org")
    assert taken.status_code == 409 and taken.json()["code"] == "domain_taken"
    # the token is bound to the team: even a claim made before the owner verified cannot verify
    # with the owner's TXT record, whatever the CNAME says
    assert ownership_token(thief, "shop.example.org") != ownership_token(owner, "shop.example.org")
    assert _add(thief_client, "grab", "other.example.org").status_code == 201
    resolver.post("/set-cname", host="other.example.org", target="grab.localhost")
    resolver.post("/set-txt", host="_tenantry.other.example.org.", value=ownership_token(owner, "other.example.org"))
    refused = _verify(thief_client, "grab", "other.example.org")
    assert refused.status_code == 422
    assert [p["type"] for p in refused.json()["details"]["problems"]] == ["TXT"]
    assert route_hosts(shop) == ("shop.localhost", "shop.example.org")
    assert route_hosts(grab) == ("grab.localhost",)
    assert verified_hosts_by_instance() == {str(shop.pk): ["shop.example.org"]}  # what the reconciler routes

    # once the owner's instance is deleted, the domain is free to claim
    Instance.objects.filter(pk=shop.pk).update(status=Status.DELETED)
    assert verified_hosts_by_instance() == {}
    assert _add(thief_client, "grab", "shop.example.org").status_code == 201
    _unpoint(resolver, "shop.example.org")
    _unpoint(resolver, "other.example.org")


def test_team_scoping_plan_limit_permissions_and_bad_input(resolver):
    team, client = _team("domlimit", max_custom_domains=1)
    _instance(team, "alpha")
    other, other_client = _team("domother")
    _instance(other, "beta")
    assert _add(client, "alpha", "one.example.com").status_code == 201
    limit = _add(client, "alpha", "two.example.com")
    assert limit.status_code == 409 and limit.json()["code"] == "plan_limit_reached"
    assert limit.json()["details"] == {"max_custom_domains": 1, "domains": 1}
    assert CustomDomain.objects.filter(team=team).count() == 1  # nothing half-created

    # another team's instance and domains are a 404, like ones that do not exist
    assert other_client.get("/api/v1/instances/alpha/domains").status_code == 404
    assert _add(other_client, "alpha", "x.example.com").status_code == 404
    assert _verify(other_client, "alpha", "one.example.com").status_code == 404
    assert other_client.get("/api/v1/instances/beta/domains").json() == []

    for bad in ("not a domain", "localhost", "x.localhost", "deep.x.localhost", "a..b.com", "-a.example.com",
                "1.2.3.4"):
        answer = _add(other_client, "beta", bad)
        assert answer.status_code == 422, bad
        assert answer.json()["code"] in ("invalid_domain", "invalid_input"), bad
    assert not CustomDomain.objects.filter(team=other).exists()

    key = api_key_create(team=other, name="ro", scope=ApiKeyScope.READ).plaintext
    read_only = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert _add(read_only, "beta", "ro.example.com").status_code == 403
    assert read_only.get("/api/v1/instances/beta/domains").status_code == 200


def test_normalize_domain():
    assert normalize_domain(" Flows.EXAMPLE.com. ") == "flows.example.com"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"


def test_the_edge_answers_on_a_verified_domain_and_only_there(platform, resolver):
    """A stopped instance's page shows at its verified domain too (the edge checks the host
    against the instance's domains); a domain still pending is not routed at all."""
    team, client = _team("domedge", max_custom_domains=5)
    instance = _instance(team, "parked")
    Instance.objects.filter(pk=instance.pk).update(status=Status.STOPPED)
    routing().publish(Route(key=str(instance.pk), hosts=(instance.host,)))
    assert _add(client, "parked", "parked.example.com").status_code == 201
    assert _add(client, "parked", "pending.example.com").status_code == 201
    _point(resolver, "parked.example.com", "parked.localhost", ownership_token(team, "parked.example.com"))
    assert _verify(client, "parked", "parked.example.com").status_code == 200
    page = platform.wait_until("parked.example.com", lambda r: r.status_code == 503, what="the stopped page")
    assert "parked is stopped" in page.text
    assert platform.get("pending.example.com").status_code == 404  # Traefik: no route for it
    _unpoint(resolver, "parked.example.com")


def test_dashboard_adds_shows_records_verifies_and_removes(resolver):
    from tests.dashboard.helpers import make_user, signed_in

    team, _ = _team("domdash")
    instance = _instance(team, "webapp")
    owner = signed_in(team.memberships.get(role="owner").user)  # made by make_team
    member = signed_in(make_user("member@domdash.test", team=team, role="member"))
    page_url = "/t/domdash/instances/webapp/domains/"

    added = owner.post(page_url, {"domain": "www.example.com"}, follow=True)
    assert added.status_code == 200
    page = added.content.decode()
    token = ownership_token(team, "www.example.com")
    assert "<code>webapp.localhost</code>" in page and f"<code>{token}</code>" in page
    assert "<code>_tenantry.www.example.com</code>" in page

    failed = owner.post(f"{page_url}www.example.com/verify/", follow=True).content.decode()
    assert "No CNAME record at www.example.com (expected webapp.localhost)." in failed

    _point(resolver, "www.example.com", "webapp.localhost", token)
    verified = owner.post(f"{page_url}www.example.com/verify/", follow=True).content.decode()
    assert "www.example.com is verified: it now reaches webapp." in verified
    assert routing().current(str(instance.pk)).hosts == ("webapp.localhost", "www.example.com")

    # a member sees the domains but cannot change them
    seen = member.get(page_url).content.decode()
    assert "www.example.com" in seen and "Remove</button>" not in seen
    assert member.post(f"{page_url}www.example.com/remove/").status_code == 404
    assert CustomDomain.objects.filter(domain="www.example.com").exists()

    removed = owner.post(f"{page_url}www.example.com/remove/", follow=True).content.decode()
    assert "www.example.com is removed." in removed
    assert routing().current(str(instance.pk)).hosts == ("webapp.localhost",)
    # another team's user: 404
    stranger = signed_in(make_user("x@elsewhere.test"))
    assert stranger.get(page_url).status_code == 404
    _unpoint(resolver, "www.example.com")
