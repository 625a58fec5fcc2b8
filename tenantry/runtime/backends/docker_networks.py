"""Networks, their host firewall and the image check of the Docker runtime (mixed into
DockerRuntime, which gives `client`, `firewall`, `installation_id`, `_labels`, `_check_owner`).

Each instance gets its own user-defined bridge on a subnet Tenantry allocates; a network is never
left unconfined: its firewall rules are installed as soon as it is created, or it is removed.
"""

from __future__ import annotations

import time
from typing import Any

import docker
import docker.errors

from tenantry.core.logging import get_logger
from tenantry.runtime.backends.base import BackendError, Deployment, TransientBackendError
from tenantry.runtime.backends.docker_confinement import IptablesFirewall, bridge_interface
from tenantry.runtime.backends.docker_errors import ignore_not_found, translate_errors
from tenantry.runtime.backends.docker_observe import LABEL_INSTALLATION

# A network's firewall exceptions, so they can be re-installed when the backend starts (after a
# host reboot the rules are gone, the networks are not).
LABEL_HOST_PORTS = "tenantry.host_ports"
LABEL_CLOUD_METADATA = "tenantry.cloud_metadata"
# How long an image found on the host is taken as present without asking the engine again.
IMAGE_SEEN_SECONDS = 60.0

log = get_logger(__name__)


class DockerNetworks:
    installation_id: str
    firewall: IptablesFirewall | None
    _images_seen: dict[str, float]

    @property
    def client(self) -> docker.DockerClient:  # provided by DockerRuntime
        raise NotImplementedError

    def _labels(self, deployment: Deployment, **extra: str) -> dict[str, str]:  # provided by DockerRuntime
        raise NotImplementedError

    def _check_owner(self, kind: str, name: str, labels: dict[str, str] | None,
                     instance_id: str) -> bool:  # provided by DockerRuntime
        raise NotImplementedError

    def _instance_filter(self, instance_id: str) -> dict[str, str | list[str] | bool]:  # DockerObservation
        raise NotImplementedError

    # --- firewall -------------------------------------------------------------------------------
    def sync_firewall(self) -> None:
        """When the backend starts: rules for every network of this installation (a reboot
        loses them), none for networks that are gone. Best effort here; creating or starting a
        network installs its rules or fails."""
        if self.firewall is None:
            return
        flt: dict[str, str | list[str] | bool] = {"label": [f"{LABEL_INSTALLATION}={self.installation_id}"]}
        try:
            # The rules first, then the networks: a network created in between (a worker
            # provisioning meanwhile) is listed, and its rules, installed by its creator after
            # this reading, are not taken for stale ones (they were removed: it stayed unconfined).
            installed = self.firewall.installed()
            with translate_errors("list networks"):
                networks = self.client.networks.list(filters=flt)
            for network in networks:
                self._confine_network(network.attrs, present=installed.get(network.name or "", []))
            self.firewall.prune({n.name or "" for n in networks}, installed)
        except BackendError as exc:
            log.warning("firewall.sync_failed", error=exc.message)

    def _confine_network(self, attrs: dict[str, Any], deployment: Deployment | None = None, *,
                         present: list[tuple[str, list[str]]] | None = None) -> None:
        if self.firewall is None:
            return
        if deployment is not None:
            host_ports, cloud_metadata = deployment.host_ports, deployment.cloud_metadata
        else:
            host_ports, cloud_metadata = _firewall_options(attrs)
        self.firewall.ensure(network=attrs["Name"], bridge=bridge_interface(attrs), host_ports=host_ports,
                             cloud_metadata=cloud_metadata, present=present)

    # --- images ---------------------------------------------------------------------------------
    def missing_images(self, images: list[str]) -> list[str]:
        missing = []
        now = time.monotonic()
        for image in images:
            # An image seen lately is not asked for again (a call per provisioning). Removed since,
            # creating the container fails with the same clear message (_create_container).
            seen = self._images_seen.get(image)
            if seen is not None and now - seen < IMAGE_SEEN_SECONDS:
                continue
            try:
                with translate_errors(f"inspect image {image}"):
                    self.client.images.get(image)
                self._images_seen[image] = now
            except BackendError as exc:
                if exc.code in ("not_found", "image_missing"):
                    missing.append(image)
                else:
                    raise
        return missing

    def used_subnets(self) -> list[str]:
        with translate_errors("list networks"):
            networks = self.client.networks.list()
        return [config["Subnet"] for n in networks for config in (n.attrs.get("IPAM", {}).get("Config") or [])
                if config.get("Subnet")]

    # --- networks -------------------------------------------------------------------------------
    def ensure_network(self, deployment: Deployment) -> None:
        # A provisioning creates a new network: try that first (one engine call, its answer names
        # the bridge); the name is looked up only when it is taken (a resumed operation, a START
        # that heals, a leftover of an older instance).
        network_id = self._create_network(deployment)
        if network_id is None:
            with translate_errors(f"create network {deployment.network}"):
                for network in self.client.networks.list(names=[deployment.network]):
                    if network.name != deployment.network:
                        continue
                    if self._check_owner("network", network.name, network.attrs.get("Labels"),
                                         deployment.instance_id):
                        configs = network.attrs.get("IPAM", {}).get("Config") or [{}]
                        if configs[0].get("Subnet") == deployment.subnet:
                            self._confine_network(network.attrs, deployment)
                            return
                    self._remove_network_object(network)
            network_id = self._create_network(deployment)
            if network_id is None:
                raise TransientBackendError(f"Could not create network {deployment.network}: the name is taken")
        try:
            if self.firewall is not None:
                self.firewall.install_new(network=deployment.network, bridge=bridge_interface({"Id": network_id}),
                                          host_ports=deployment.host_ports, cloud_metadata=deployment.cloud_metadata)
        except BackendError:
            # No container may ever sit on an unconfined network.
            self._remove_network_object(self.client.networks.prepare_model(
                {"Id": network_id, "Name": deployment.network}))
            raise

    def _create_network(self, deployment: Deployment) -> str | None:
        """The new network's id, or None when a network of that name exists."""
        ipam = docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=deployment.subnet, gateway=deployment.gateway)]
        )
        with translate_errors(f"create network {deployment.network}"):
            try:
                created = self.client.api.create_network(
                    deployment.network,
                    driver="bridge",
                    ipam=ipam,
                    labels=self._labels(deployment, **{
                        LABEL_HOST_PORTS: ",".join(str(p) for p in deployment.host_ports),
                        LABEL_CLOUD_METADATA: "true" if deployment.cloud_metadata else "false"}),
                    check_duplicate=True,
                )
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    return None
                raise
        return created["Id"]

    def remove_network(self, instance_id: str) -> list[str]:
        with translate_errors("list networks"):
            networks = self.client.networks.list(filters=self._instance_filter(instance_id))
        removed = []
        for network in networks:
            self._remove_network_object(network)
            removed.append(network.name or "")
        return removed

    def _remove_network_object(self, network: Any) -> None:
        """Remove the network, then its firewall rules. A network from a listing is removed with
        one engine call: an inspect reads every network of the engine (15 ms at 1,000, on each
        deletion). Only a bare model (id and name) is inspected first, for the labels that say
        which rules it has; only a network the engine refuses to remove for its attached
        containers (a container left behind, a foreign one) is inspected to disconnect them."""
        # A bare model's rules are found by its name when it is gone already (no labels to read).
        attrs: dict[str, Any] = network.attrs if "Labels" in network.attrs else {}
        with ignore_not_found(), translate_errors(f"remove network {network.name}"):
            if not attrs:
                network.reload()
                attrs = network.attrs
            try:
                network.remove()
            except docker.errors.NotFound:
                raise
            except docker.errors.APIError:
                # Refused: containers still attached (403 "has active endpoints")? Disconnect them
                # and remove it; refused for anything else, the refusal stands.
                network.reload()
                attrs = network.attrs
                attached = attrs.get("Containers") or {}
                if not attached:
                    raise
                for container_id in attached:
                    with ignore_not_found():
                        network.disconnect(container_id, force=True)
                network.remove()
        if self.firewall is not None:  # after the network: it is never there unconfined
            if attrs.get("Id"):
                host_ports, cloud_metadata = _firewall_options(attrs)
                self.firewall.remove(network.name or "", bridge=bridge_interface(attrs), host_ports=host_ports,
                                     cloud_metadata=cloud_metadata)
            else:
                self.firewall.remove(network.name or "")


def _firewall_options(attrs: dict[str, Any]) -> tuple[tuple[int, ...], bool]:
    """(host ports, cloud metadata) of a network's rules, from the labels it was created with."""
    labels = attrs.get("Labels") or {}
    return (tuple(int(p) for p in labels.get(LABEL_HOST_PORTS, "").split(",") if p),
            labels.get(LABEL_CLOUD_METADATA) == "true")
