from __future__ import annotations

from tenantry.accounts.models import Membership, Role, User
from tenantry.accounts.services.teams import operator_team
from tenantry.instances.deployment import build_deployment
from tenantry.instances.models import Instance
from tenantry.runtime.registry import runtime_for


def owner_of_operators(email: str = "owner@operators.test") -> User:
    user = User.objects.create_user(email=email, password="x" * 16)
    Membership.objects.create(team=operator_team(), user=user, role=Role.OWNER)
    return user


def sh(instance: Instance, script: str) -> str:
    """Run a shell script in the hello instance's container; its output."""
    result = runtime_for(instance.server).exec(build_deployment(instance), "web", ["sh", "-c", script])
    assert result.exit_code == 0, result.output
    return result.output


def data_digest(instance: Instance) -> str:
    """Every path under /data with its mode, owner and content's md5 (one entry per line), except
    the boot log, which every start of the app appends to."""
    listing = sh(instance, "cd /data && for f in $(/bin/busybox find . | /bin/busybox sort); do "
                           "echo \"$f $(/bin/busybox stat -c '%a %u' \"$f\") "
                           "$([ -f \"$f\" ] && /bin/busybox md5sum < \"$f\")\"; done")
    return "\n".join(line for line in listing.splitlines() if not line.startswith("./boots "))


def mail_about(mailbox, address: str, subject_part: str):
    """The first message to `address` whose subject contains `subject_part` (waits for it)."""
    from tests.conftest import wait_for

    return wait_for(lambda: next((m for m in mailbox.to(address) if subject_part in m["Subject"].lower()), None),
                    timeout=10, what=f"a mail about {subject_part!r} to {address}")
