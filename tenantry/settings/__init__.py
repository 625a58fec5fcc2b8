"""Django settings for Tenantry, read from the environment.

Everything a deployment changes is an environment variable; the defaults run the product on
one laptop: SQLite and the SQLite task queue under the data directory, the local Docker engine,
a local Traefik bound to 127.0.0.1. `base` holds Django's own settings, `platform` Tenantry's.
"""

from tenantry.settings.base import *  # noqa: F403
from tenantry.settings.brand import *  # noqa: F403  (white label: TENANTRY_BRAND)
from tenantry.settings.platform import *  # noqa: F403
