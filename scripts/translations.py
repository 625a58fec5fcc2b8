"""Refresh French translations: extract messages, fill them from tenantry/locale/fr.json (and fr.d/*.json), compile.

    .venv/bin/python scripts/translations.py

Needs GNU gettext (msgfmt, xgettext). The compiled .mo is committed, so running the product
does not need gettext.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tenantry"
PO = PACKAGE / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tenantry.settings", "PYTHONPATH": str(ROOT),
           "TENANTRY_DATA_DIR": os.environ.get("TENANTRY_DATA_DIR", tempfile.mkdtemp(prefix="tenantry-i18n-"))}
    admin = Path(sys.executable).parent / "django-admin"
    subprocess.run([str(admin), "makemessages", "-l", "fr", "-i", "*/migrations/*", "--no-obsolete"], cwd=PACKAGE,
                   env=env, check=True)
    # fr.json holds the bulk; fr.d/*.json lets parallel work add strings without touching one file.
    translations = json.loads((PACKAGE / "locale" / "fr.json").read_text())
    for extra in sorted((PACKAGE / "locale" / "fr.d").glob("*.json")):
        translations.update(json.loads(extra.read_text()))
    blocks = PO.read_text().split("\n\n")
    missing = []
    for index, block in enumerate(blocks[1:], start=1):
        match = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        if not match:
            continue
        raw = "".join(re.findall(r'"(.*)"', match.group(1)))
        msgid = raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        if msgid not in translations:
            missing.append(msgid)
            continue
        block = re.sub(r'#, fuzzy\n', "", block)
        blocks[index] = re.sub(r'^msgstr ((?:".*"\n?)+)$', f"msgstr {_quote(translations[msgid])}", block, flags=re.M)
    PO.write_text("\n\n".join(blocks))
    subprocess.run(["msgfmt", "--check", "-o", str(PO.with_suffix(".mo")), str(PO)], check=True)
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
