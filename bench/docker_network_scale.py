"""Why does `docker network create` slow down with many networks? (issue 15)

    python bench/docker_network_scale.py --backend nft|legacy|none [--name tn-a] [--pool 10.214.0.0/16]
                                         [--counts 0,250,500,1000] [--probes 5] [--strace]

Runs its own dockerd in its own network namespace (the machine's engine is never touched: each
netns has its own iptables tables, nft and legacy alike), with `iptables*` resolving to the chosen
backend's binaries through a directory first in dockerd's PATH (`none`: dockerd --iptables=false,
to see what the rest of a network create costs; Tenantry's rules are not probed then). It then creates bridge networks
as Tenantry does (explicit /27, gateway, labels, CheckDuplicate) up to each count and, at each
count, times:

- `docker network create` + `docker network rm` (the CLI, as the issue measured it);
- create + start of a tiny container on a fresh network, and its removal;
- Tenantry's confinement rules for one network (IptablesFirewall.install_new, then remove);
- a bare kernel bridge (`ip link add ... type bridge`, up, del), to tell the kernel's share;

and, per network created while filling, dockerd's own CPU and its children's (the iptables
processes it runs: cutime/cstime), the number of rules (iptables-save lines), the size of
libnetwork's store (local-kv.db). With --strace: the processes dockerd runs for one create.
Everything it made (networks, containers, dockerd, containerd, netns, data root) is removed at
the end, also when interrupted.
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLONE_NEWNET = 0x40000000
BINARIES = ("iptables", "ip6tables", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.path)


class Engine:
    def __init__(self, name: str, backend: str):
        self.name = name
        self.backend = backend
        self.run_dir = Path(f"/run/{name}")
        self.data_root = Path(f"/var/lib/{name}")
        self.socket = str(self.run_dir / "docker.sock")
        self.bin_dir = self.run_dir / "bin"
        self.proc: subprocess.Popen[bytes] | None = None

    # --- set-up -------------------------------------------------------------------------------
    def start(self) -> None:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        # Enter it: dockerd, iptables and every probe run by this process inherit the namespace.
        with open(f"/run/netns/{self.name}") as handle:
            if ctypes.CDLL(None, use_errno=True).setns(handle.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        for binary in BINARIES:
            base, _, tail = binary.partition("-")
            backend = "nft" if self.backend == "none" else self.backend
            target = shutil.which(f"{base}-{backend}{'-' + tail if tail else ''}")
            assert target, binary
            (self.bin_dir / binary).symlink_to(target)
        os.environ["PATH"] = f"{self.bin_dir}:{os.environ['PATH']}"
        with open(self.run_dir / "dockerd.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--host", f"unix://{self.socket}", "--data-root", str(self.data_root),
                 "--exec-root", str(self.run_dir / "exec"), "--pidfile", str(self.run_dir / "docker.pid"),
                 "--bridge", "none", "--cgroup-parent", self.name,
                 *(["--iptables=false"] if self.backend == "none" else [])],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(240):
            try:
                if self.api("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"dockerd did not start: see {self.run_dir}/dockerd.log")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                for network in self.api("GET", "/networks")[1] or []:
                    if network["Name"] not in ("none", "host"):
                        self.api("DELETE", f"/networks/{network['Id']}")
            except OSError:
                pass
            os.kill(self.proc.pid, signal.SIGTERM)  # dockerd stops its own containerd
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        for path in (self.data_root, self.run_dir):
            subprocess.run(["umount", "-R", str(path)], check=False, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # --- engine -------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        conn = UnixHTTP(self.socket)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data.strip().startswith((b"{", b"[")) else data)
        finally:
            conn.close()

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", f"unix://{self.socket}", *args],
                              capture_output=True, text=True, check=True)

    def create_network(self, name: str, subnet: ipaddress.IPv4Network) -> str:
        status, body = self.api("POST", "/networks/create", {
            "Name": name, "Driver": "bridge", "CheckDuplicate": True,
            "IPAM": {"Config": [{"Subnet": str(subnet), "Gateway": str(next(subnet.hosts()))}]},
            "Labels": {"tenantry.bench": self.name}})
        assert status == 201, (status, body)
        return body["Id"]  # type: ignore[index]

    def cpu(self) -> tuple[float, float]:
        """dockerd's own CPU seconds, and its reaped children's (iptables, containerd-shims...)."""
        assert self.proc
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000


def probe(engine: Engine, subnets, probes: int, firewall) -> dict[str, float]:  # type: ignore[no-untyped-def]
    rows: dict[str, list[float]] = {"net_create": [], "net_rm": [], "ctr_run": [], "ctr_rm": [],
                                    "fw_install": [], "fw_remove": [], "kernel_bridge": []}
    for index in range(probes):
        subnet = next(subnets)
        name = f"{engine.name}-probe-{index}"
        rows["net_create"].append(timed(engine.docker, "network", "create", "--driver", "bridge",
                                        "--subnet", str(subnet), "--gateway", str(next(subnet.hosts())), name))
        network_id = engine.docker("network", "inspect", "-f", "{{.Id}}", name).stdout.strip()
        bridge = f"br-{network_id[:12]}"
        if firewall:
            rows["fw_install"].append(timed(firewall.install_new, network=name, bridge=bridge, host_ports=(8080,)))
        rows["ctr_run"].append(timed(engine.docker, "run", "-d", "--name", name, "--network", name,
                                     "tenantry/hello:1"))
        rows["ctr_rm"].append(timed(engine.docker, "rm", "-f", name))
        if firewall:
            removed: list[int] = []
            rows["fw_remove"].append(timed(lambda: removed.append(firewall.remove(name))))  # noqa: B023
            assert removed == [4], removed
        rows["net_rm"].append(timed(engine.docker, "network", "rm", name))
        rows["kernel_bridge"].append(timed(lambda: [subprocess.run(cmd, check=True) for cmd in (
            ["ip", "link", "add", "tnprobe0", "type", "bridge"], ["ip", "link", "set", "tnprobe0", "up"],
            ["ip", "link", "del", "tnprobe0"])]))
    return {key: statistics.median(values) if values else 0.0 for key, values in rows.items()}


def exec_count(engine: Engine, subnets) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The programs dockerd runs for one `network create` + `rm` (strace -f on dockerd)."""
    assert engine.proc
    out = engine.run_dir / "strace.txt"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none",
                               "-o", str(out), "-p", str(engine.proc.pid)])
    time.sleep(1.5)
    subnet = next(subnets)
    network_id = engine.create_network(f"{engine.name}-strace", subnet)
    engine.api("DELETE", f"/networks/{network_id}")
    time.sleep(0.5)
    tracer.send_signal(signal.SIGINT)
    tracer.wait()
    counts: dict[str, int] = {}
    for line in out.read_text().splitlines():
        if "execve(" in line and "= 0" in line:
            program = line.split('execve("', 1)[1].split('"', 1)[0].rsplit("/", 1)[-1]
            counts[program] = counts.get(program, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("nft", "legacy", "none"), required=True)
    parser.add_argument("--name", default="tn-a")
    parser.add_argument("--pool", default="10.214.0.0/16")
    parser.add_argument("--counts", default="0,250,500,1000")
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument("--strace", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    subnets = ipaddress.ip_network(args.pool).subnets(new_prefix=27)

    engine = Engine(args.name, args.backend)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        engine.start()
        image = subprocess.run(["docker", "save", "tenantry/hello:1"], capture_output=True, check=True).stdout
        subprocess.run(["docker", "-H", f"unix://{engine.socket}", "load", "-q"], input=image,
                       capture_output=True, check=True)
        from tenantry.runtime.backends.docker_confinement import IptablesFirewall
        firewall = IptablesFirewall(installation_id=f"bench-{args.name}") if args.backend != "none" else None
        version = subprocess.run(["iptables", "--version"], capture_output=True, text=True).stdout.strip()
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        confinement = firewall.binary if firewall else "nothing"
        print(f"# backend={args.backend} ({version}, confinement uses {confinement}) netns={args.name} "
              f"loadavg={load}", flush=True)
        print("count\tfill_ms/net\tdockerd_cpu_ms/net\tchildren_cpu_ms/net\trules\tkv_kb\t"
              "net_create\tnet_rm\tctr_run\tctr_rm\tfw_install\tfw_remove\tkernel_bridge\tloadavg", flush=True)
        made = 0
        fill: list[float] = []
        for count in counts:
            cpu0, kids0 = engine.cpu()
            batch = []
            while made < count:
                batch.append(timed(engine.create_network, f"{args.name}-n{made:04d}", next(subnets)))
                made += 1
            cpu1, kids1 = engine.cpu()
            fill += batch
            per = max(len(batch), 1)
            tail = batch[-50:] or [0.0]
            result = probe(engine, subnets, args.probes, firewall)
            rules = len(subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines())
            kv = (engine.data_root / "network/files/local-kv.db").stat().st_size // 1024
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            print(f"{count}\t{statistics.median(tail):.0f}\t{(cpu1 - cpu0) * 1000 / per:.0f}\t"
                  f"{(kids1 - kids0) * 1000 / per:.0f}\t{rules}\t{kv}\t"
                  + "\t".join(f"{result[key]:.0f}" for key in ("net_create", "net_rm", "ctr_run", "ctr_rm",
                                                                 "fw_install", "fw_remove", "kernel_bridge"))
                  + f"\t{load}", flush=True)
            if args.strace and count in (counts[0], counts[-1]):
                print(f"# execs by dockerd for one create+rm at {count}: {exec_count(engine, subnets)}", flush=True)
        start = time.perf_counter()
        for network in engine.api("GET", "/networks")[1]:  # type: ignore[union-attr]
            if network["Name"].startswith(f"{args.name}-n"):
                engine.api("DELETE", f"/networks/{network['Id']}")
        print(f"# delete all {made}: {time.perf_counter() - start:.1f} s, "
              f"loadavg {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
