"""A stand-in for OpenAI's chat completions API, for tests only: the n8n SEO workflows call it
through the instance's OpenAI credential (its base URL setting), exactly as they call OpenAI in
production. Deterministic answers derived from the prompt:

- "... keyword variations of "<seed>" ..."  → {"keywords": [<seed> + suffix, ...]}
- "Group these keywords into clusters ... Keywords: [...]"  → {"clusters": [[a, b, c], ...]}
- "Write an SEO article ... targeting the keywords: a, b, c. ..."  → {"title", "html", "excerpt"}

Switches make it answer an HTTP error or garbage instead, to show how the workflows fail. It
checks the bearer key, so a run that reaches it proves n8n sent the stored credential.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.http_stub import BackgroundServer, QuietHandler

MODEL = "gpt-4o-mini"
VARIATION_SUFFIXES = ("for beginners", "checklist", "cost", "tools", "best practices", "step by step",
                      "vs cloud", "security", "backups", "hardware", "mistakes", "for small business")
_SEED = re.compile(r'keyword variations of "([^"]+)"')
_KEYWORDS_LIST = re.compile(r"Keywords: (\[.*\])\s*$", re.S)
_ARTICLE = re.compile(r"targeting the keywords: (.+?)\. Answer", re.S)


def variations(seed: str) -> list[str]:
    return [f"{seed} {suffix}" for suffix in VARIATION_SUFFIXES]


def clusters(keywords: list[str]) -> list[list[str]]:
    return [keywords[i:i + 3] for i in range(0, len(keywords), 3)]


def article(keywords: str) -> dict[str, str]:
    """The article for a cluster, as the stand-in writes it (tests compare posts to this)."""
    first = keywords.split(",")[0].strip()
    return {"title": f"The complete guide to {first}",
            "html": f"<h2>{first}</h2><p>Everything about {keywords}.</p>",
            "excerpt": f"What to know about {first}."}


def answer_for(prompt: str) -> dict[str, Any]:
    """The JSON object the stand-in answers a prompt with; ValueError for a prompt it does not know."""
    if match := _SEED.search(prompt):
        return {"keywords": variations(match.group(1))}
    if prompt.startswith("Group these keywords") and (match := _KEYWORDS_LIST.search(prompt)):
        return {"clusters": clusters(json.loads(match.group(1)))}
    if match := _ARTICLE.search(prompt):
        return article(match.group(1))
    raise ValueError(f"the stand-in has no answer for: {prompt[:120]!r}")


@dataclass
class Call:
    path: str
    authorization: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return self.body["messages"][-1]["content"]


class LlmStub:
    """The server and its switches. `mode`: "ok", "error" (HTTP 500 with OpenAI's error shape) or
    "garbage" (HTTP 200 whose message content is not JSON)."""

    def __init__(self, *, api_key: str, address: tuple[str, int] = ("127.0.0.1", 0)):
        self.api_key = api_key
        self.mode = "ok"
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.server = BackgroundServer(_handler(self), address)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/v1"

    def prompts(self) -> list[str]:
        with self._lock:
            return [c.prompt for c in self.calls if c.path.endswith("/chat/completions") and c.body]

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(content: str, model: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-stub-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _handler(stub: LlmStub) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {stub.api_key}":
                return True
            self._answer(401, _error("Incorrect API key provided.", "invalid_request_error"))
            return False

        def do_GET(self) -> None:
            stub.record(Call(self.path, self.headers.get("Authorization", "")))
            if not self._authorized():
                return
            if self.path.rstrip("/").endswith("/v1/models"):
                self._answer(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "stub"}]})
            else:
                self._answer(404, _error(f"no route {self.path}", "invalid_request_error"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            stub.record(Call(self.path, self.headers.get("Authorization", ""), body))
            if not self._authorized():
                return
            if not self.path.rstrip("/").endswith("/v1/chat/completions"):
                self._answer(404, _error(f"no route {self.path}", "invalid_request_error"))
                return
            if stub.mode == "error":
                self._answer(500, _error("The stand-in model is down (switched to error).", "server_error"))
                return
            model = body.get("model", MODEL)
            if stub.mode == "garbage":
                self._answer(200, _completion("Sorry, as a language model I cannot answer in JSON", model))
                return
            try:
                content = answer_for(body["messages"][-1]["content"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                self._answer(400, _error(str(exc), "invalid_request_error"))
                return
            self._answer(200, _completion(json.dumps(content), model))

    return Handler


# --- reaching it from an n8n container ---------------------------------------------------------
# Tenant containers reach no port of the host unless their spec declares it (network.host_ports):
# the tests run n8n from a variant of the real spec that declares the stand-in's port, and the
# stand-in listens on the address of Docker's default bridge (a host address the containers
# route to, that nothing outside the host reaches).
TEST_APP = "n8n-llm"


def docker_host_address(client: Any) -> str:
    """The host's address on Docker's default bridge (docker0), e.g. 172.17.0.1."""
    import ipaddress

    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def write_test_spec(directory: Any, *ports: int) -> str:
    """`n8n-llm`: the catalog's n8n (templates included) that may reach `ports` on the host."""
    from pathlib import Path

    import yaml

    n8n = yaml.safe_load((Path(__file__).resolve().parent.parent / "tenantry/catalog/apps/n8n.yaml").read_text())
    host_ports = sorted({*(n8n.get("network") or {}).get("host_ports", []), *ports})
    Path(directory, f"{TEST_APP}.yaml").write_text(
        "# Written by tests/llm_stub.py: n8n reaching the language-model stand-in on the host.\n"
        f"name: {TEST_APP}\nextends: n8n\ntitle: n8n (language-model stand-in)\n"
        f"network:\n  host_ports: {json.dumps(host_ports)}\n")
    return TEST_APP


class SiteDoor:
    """How n8n reaches a WordPress instance of the same host here: in production the site's public
    name resolves to the server, whose proxy serves it; the test run's names (`<slug>.localhost`)
    resolve nowhere inside a container. So n8n is given this address on the host, which hands each
    request to the test run's Traefik with the site's host name, untouched otherwise."""

    def __init__(self, address: str, proxy_port: int):
        self.proxy_port = proxy_port
        self.site_host = ""
        self.server = BackgroundServer(self._handler(), (address, 0))

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _handler(self) -> type[QuietHandler]:
        door = self

        class Handler(QuietHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream = http.client.HTTPConnection("127.0.0.1", door.proxy_port, timeout=60)
                upstream.request(self.command, self.path, body=body or None,
                                 headers={**headers, "Host": door.site_host})
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
