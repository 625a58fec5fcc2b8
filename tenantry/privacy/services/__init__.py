"""Privacy services, split by subdomain: audit.py (retention, CSV), export.py, erase.py, teams.py."""
