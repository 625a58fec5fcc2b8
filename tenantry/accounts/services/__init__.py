"""Account services, split by subdomain: teams.py, invitations.py, api_keys.py."""
