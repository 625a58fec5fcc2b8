"""Where Traefik's routes live on disk: a fixed number of shard files, each holding the routes
whose key hashes to it.

Traefik's file provider re-reads every file of its directory at each change, and renders each
one as a template first (with a fresh function map per file): with one file per route, that
per-file cost was a third of each change at 1,000 instances. `bench/traefik_reload.py` on this
machine, 1,000 routes: one more route applied (p50) in 207 ms from 1,025 files and 121 ms from
64 shards, costing Traefik 266 against 178 ms of CPU per change.

A shard is rewritten whole under an exclusive lock (flock: the worker's threads, the reconciler
and the CLI may write the same shard at once), written elsewhere and renamed in, so Traefik
never reads a half-written file. Each route's own first line in its shard is a comment holding
the Route as JSON: reading the routes back never parses YAML.

Files of the layout before shards (`route-<key>.yml`, one per route) are still read; the
reconciler moves each into its shard (`outdated()`), and publishing or removing a route removes
its old file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tenantry.routing.backends.base import RateLimit, Route

SHARD_COUNT = 64
_SHARD_FILE = re.compile(r"^routes-(\d+)\.yml$")
_LEGACY_FILE = re.compile(r"^route-([A-Za-z0-9_-]+)\.yml$")
# "# tenantry-route <key> <json>" before each route's document in a shard; a legacy file's first
# line is "# tenantry-route: <json>" (its key is in its name).
_HEADER = "# tenantry-route "
_LEGACY_HEADER = "# tenantry-route: "
# libyaml's safe loader and dumper when PyYAML was built with it: same documents, a tenth of the time.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Version = tuple[int, int, int]


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=True)


def replace_file(directory: Path, staging: Path, name: str, text: str, *, mode: int = 0o644) -> bool:
    """Put `text` in `directory/name` by renaming a finished file in; False when it already said
    exactly that (a rewrite would only make Traefik reload for nothing)."""
    target = directory / name
    with contextlib.suppress(OSError):
        if target.read_text() == text:
            return False
    directory.mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=staging, suffix=".yml")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, target)
    return True


def shard_name(key: str) -> str:
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % SHARD_COUNT
    return f"routes-{number:02d}.yml"


def _encode(route: Route) -> str:
    limit = route.rate_limit
    return json.dumps({"hosts": list(route.hosts), "upstream": route.upstream,
                       "rate_limit": [limit.average, limit.period_seconds, limit.burst] if limit else None},
                      separators=(",", ":"))


def _decode(key: str, text: str) -> Route | None:
    try:
        found = json.loads(text)
        limit = found["rate_limit"]
        return Route(key=key, hosts=tuple(found["hosts"]), upstream=found["upstream"],
                     rate_limit=RateLimit(*limit) if limit else None)
    except (ValueError, KeyError, TypeError):
        return None


def _read_shard(path: Path) -> dict[str, Route]:
    """The routes a shard holds, from their header lines (what follows them is Traefik's)."""
    routes: dict[str, Route] = {}
    with path.open() as handle:
        for line in handle:
            if line.startswith(_HEADER) and line.endswith("\n"):
                key, _, encoded = line[len(_HEADER):].partition(" ")
                route = _decode(key, encoded)
                if route is not None:
                    routes[key] = route
    return routes


class RouteFiles:
    """The routes in a directory Traefik watches. `render(route)` is the route's document
    (its `http` section) as Traefik reads it."""

    def __init__(self, directory: Path, staging: Path, render: Callable[[Route], dict[str, Any]],
                 parse_legacy: Callable[[str, str], Route]):
        self.directory = directory
        self.staging = staging
        self._render = render
        self._parse_legacy = parse_legacy  # (key, YAML text) → Route, for legacy files without a header
        # published() reads each file once per version of it (the reconciler asks every minute):
        # {file name: (stat version, routes in it)}.
        self._read: dict[str, tuple[Version, dict[str, Route]]] = {}
        self._outdated: set[str] = set()

    # --- writing ---------------------------------------------------------------------------------
    def put(self, route: Route) -> None:
        with self._shard(route.key) as routes:
            routes[route.key] = route
        (self.directory / f"route-{route.key}.yml").unlink(missing_ok=True)  # moved into its shard

    def remove(self, key: str) -> None:
        with self._shard(key) as routes:
            routes.pop(key, None)
        (self.directory / f"route-{key}.yml").unlink(missing_ok=True)

    @contextlib.contextmanager
    def _shard(self, key: str) -> Iterator[dict[str, Route]]:
        """The shard's routes, locked: what the caller leaves in the dict is written back."""
        name = shard_name(key)
        self.staging.mkdir(parents=True, exist_ok=True)
        with (self.staging / f"{name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            path = self.directory / name
            try:
                routes = _read_shard(path)
            except FileNotFoundError:
                routes = {}
            yield routes
            if not routes:
                path.unlink(missing_ok=True)
                return
            # Rendered again even when no route changed: how a route is written may have (TLS
            # turned on); an unchanged text is not rewritten.
            replace_file(self.directory, self.staging, name, self._text(routes))

    def _text(self, routes: dict[str, Route]) -> str:
        http: dict[str, dict[str, Any]] = {}
        headers = []
        for key in sorted(routes):
            headers.append(f"{_HEADER}{key} {_encode(routes[key])}\n")
            for section, items in self._render(routes[key]).items():
                http.setdefault(section, {}).update(items)
        return "".join(headers) + dump({"http": http})

    # --- reading ---------------------------------------------------------------------------------
    def get(self, key: str) -> Route | None:
        try:
            route = _read_shard(self.directory / shard_name(key)).get(key)
        except FileNotFoundError:
            route = None
        if route is None:
            with contextlib.suppress(FileNotFoundError):
                route = self._read_legacy(key, self.directory / f"route-{key}.yml")
        return route

    def all(self) -> dict[str, Route]:
        """Every route in force, by key; `outdated` then names those still in a legacy file."""
        found: dict[str, Route] = {}
        legacy: dict[str, Route] = {}
        read: dict[str, tuple[Version, dict[str, Route]]] = {}
        if not self.directory.exists():
            self._read, self._outdated = read, set()
            return found
        with os.scandir(self.directory) as entries:
            for entry in entries:
                shard, old = _SHARD_FILE.match(entry.name), _LEGACY_FILE.match(entry.name)
                if not shard and not old:
                    continue
                try:
                    info = entry.stat()
                    # Every write renames a new file in: a new inode, whatever the clock's resolution.
                    version = (info.st_ino, info.st_mtime_ns, info.st_size)
                    known = self._read.get(entry.name)
                    if known and known[0] == version:
                        routes = known[1]
                    elif shard:
                        routes = _read_shard(Path(entry.path))
                    else:
                        assert old is not None
                        routes = {old.group(1): self._read_legacy(old.group(1), Path(entry.path))}
                except FileNotFoundError:  # removed meanwhile
                    continue
                read[entry.name] = (version, routes)
                (found if shard else legacy).update(routes)
        self._read = read
        self._outdated = set(legacy)
        return {**legacy, **found}  # a route already in its shard wins over its old file

    def outdated(self) -> set[str]:
        return set(self._outdated)

    def _read_legacy(self, key: str, path: Path) -> Route:
        with path.open() as handle:
            first = handle.readline()
            if first.startswith(_LEGACY_HEADER) and first.endswith("\n"):
                route = _decode(key, first[len(_LEGACY_HEADER):])
                if route is not None:
                    return route
            return self._parse_legacy(key, first + handle.read())


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
