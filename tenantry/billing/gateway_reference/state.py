"""The reference gateway's ledger: one SQLite table (a file, or memory for tests)."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from typing import Any

PHONE = re.compile(r"^\+?[0-9]{8,15}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
ZERO_DECIMAL = {"XOF", "XAF", "GNF", "RWF", "UGX", "JPY", "KRW", "CLP", "VND"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    phone TEXT NOT NULL,
    description TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_message TEXT NOT NULL DEFAULT '',
    phone_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_delivered INTEGER NOT NULL DEFAULT 0
)
"""


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount:,} {currency}"
    return f"{amount // 100:,}.{amount % 100:02d} {currency}"


class Ledger:
    """Thread-safe access to the payments table (the HTTP server is threaded)."""

    def __init__(self, path: str = ":memory:"):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _row(self, payment_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
        if row is None:
            raise GatewayError(404, "not_found", "no such payment")
        return dict(row)

    def get(self, payment_id: str) -> dict[str, Any]:
        with self._lock:
            return self._row(payment_id)

    def by_reference(self, reference: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT * FROM payments WHERE reference = ?", (reference,)).fetchone()
        if row is None:
            raise GatewayError(404, "not_found", "no payment with this reference")
        return dict(row)

    def create(self, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Validate and store a new payment; a repeated reference returns the first one."""
        reference = str(data.get("reference") or "")
        amount, currency = data.get("amount"), str(data.get("currency") or "")
        phone, callback_url = str(data.get("phone") or ""), str(data.get("callback_url") or "")
        if not reference or len(reference) > 100:
            raise GatewayError(422, "invalid_reference", "reference is required (at most 100 characters)")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise GatewayError(422, "invalid_amount", "amount must be a positive integer in minor units")
        if not CURRENCY.match(currency):
            raise GatewayError(422, "invalid_currency", "currency must be an ISO 4217 code")
        if not PHONE.match(phone):
            raise GatewayError(422, "invalid_phone", "phone must be 8 to 15 digits, optionally with +")
        if not callback_url.startswith(("http://", "https://")):
            raise GatewayError(422, "invalid_callback_url", "callback_url must be an http(s) URL")
        now = time.time()
        with self._lock:
            existing = self._db.execute("SELECT * FROM payments WHERE reference = ?", (reference,)).fetchone()
            if existing is not None:
                if existing["amount"] != amount or existing["currency"] != currency:
                    raise GatewayError(409, "reference_reused", "this reference was used for another payment")
                return dict(existing), False
            payment_id = "mm_" + secrets.token_hex(10)
            self._db.execute(
                "INSERT INTO payments (id, reference, amount, currency, phone, description, callback_url, metadata,"
                " status, phone_token, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                (payment_id, reference, amount, currency, phone, str(data.get("description") or "")[:200],
                 callback_url, json.dumps(data.get("metadata") or {}), secrets.token_urlsafe(16), now, now))
            return self._row(payment_id), True

    def transition(self, payment_id: str, status: str, failure_message: str = "") -> dict[str, Any]:
        """pending -> succeeded / failed / cancelled; anything else is a conflict."""
        with self._lock:
            row = self._row(payment_id)
            if row["status"] != "pending":
                raise GatewayError(409, "not_pending", f"the payment is already {row['status']}")
            self._db.execute("UPDATE payments SET status = ?, failure_message = ?, updated_at = ? WHERE id = ?",
                             (status, failure_message, time.time(), payment_id))
            return self._row(payment_id)

    def record_attempt(self, payment_id: str, delivered: bool) -> None:
        with self._lock:
            self._db.execute("UPDATE payments SET callback_attempts = callback_attempts + 1,"
                             " callback_delivered = MAX(callback_delivered, ?) WHERE id = ?",
                             (int(delivered), payment_id))


def public_view(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    """What the API shows of a payment (never the phone token or the full number)."""
    masked = row["phone"][:-4].rstrip("0123456789") + "•" * 4 + row["phone"][-4:] if len(row["phone"]) > 4 else ""
    view = {
        "id": row["id"], "reference": row["reference"], "status": row["status"], "amount": row["amount"],
        "currency": row["currency"], "phone": masked, "description": row["description"],
        "metadata": json.loads(row["metadata"]), "failure_message": row["failure_message"],
        "created_at": int(row["created_at"]),
        "callback": {"attempts": row["callback_attempts"], "delivered": bool(row["callback_delivered"])},
    }
    if row["status"] == "pending":
        view["instructions"] = (f"Confirm the payment of {format_amount(row['amount'], row['currency'])} "
                                f"on your phone {masked}.")
        view["phone_url"] = f"{base_url}/phone/{row['id']}?token={row['phone_token']}"
    return view
