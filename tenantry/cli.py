"""The `tenantry` console script: Django's management commands under the product's name.

`tenantry up`, `tenantry instances create hello1 --app hello --wait`, `tenantry migrate`, …
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenantry.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    args[0] = "tenantry"
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
