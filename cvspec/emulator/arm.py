"""Azure Resource Manager's Microsoft.CognitiveServices accounts, as the emulator keeps them:
create (a long-running operation), get, update the SKU, delete, list, list and regenerate
keys, for the three kinds that serve Custom Vision (cvspec.accounts).

Every account gets its own Custom Vision endpoint on the emulator's server,
``{url}/accounts/{name}/``, and its own two keys (cvspec.emulator.accounts_auth checks them).
Choices where the real service is not documented or cannot be reached from here:

- account names are unique across the whole emulator (the real endpoint is a globally unique
  custom subdomain), compared case-insensitively;
- a create answers 201 with ``provisioningState: Creating`` and an ``Azure-AsyncOperation``
  URL; the operation answers ``Succeeded`` at its first poll (the account then reads
  ``Succeeded``; it also does once it is two seconds old);
- error codes: ``InvalidResourceLocation``, ``InvalidApiSetId`` (unknown kind),
  ``InvalidSkuId``, ``CanNotCreateMultipleFreeAccounts``, ``Conflict`` (another kind under
  the same name), ``ResourceNotFound``, ``AuthorizationFailed`` (list keys refused),
  ``AuthenticationFailed`` (no or a wrong bearer token);
- projects are not partitioned by training account: every training-capable account sees the
  emulator's projects (the real service keeps each resource's projects apart).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cvspec import accounts as rules
from cvspec.emulator.core import generate_key
from cvspec.emulator.models import now
from cvspec.emulator.store import Store, loads

ACCOUNT_TYPE = "Microsoft.CognitiveServices/accounts"
SETTLE_SECONDS = 2.0


class ArmError(Exception):
    """An ARM error: ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class Account:
    arm_id: str
    name: str
    kind: str
    sku: str
    location: str
    key1: str
    key2: str

    @property
    def trains(self) -> bool:
        return self.kind in rules.TRAINS

    @property
    def predicts(self) -> bool:
        return self.kind in rules.PREDICTS

    def has_key(self, key: str | None) -> bool:
        return bool(key) and key in (self.key1, self.key2)


class Accounts:
    """The accounts of one emulator data directory."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.public_url = "http://127.0.0.1"
        self.deny_list_keys = False  # tests of a missing permission (AuthorizationFailed)
        self._operations: dict[str, str] = {}  # operation id -> account ARM id
        self._lock = threading.Lock()

    # -- reading ----------------------------------------------------------------------

    def by_name(self, name: str) -> Account | None:
        row = self.store.one("SELECT * FROM accounts WHERE name = ?", (name,))
        return None if row is None else _account(row)

    def get(self, where: rules.AccountId) -> dict[str, Any]:
        return self._view(self._row(where))

    def list(self, subscription: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        if resource_group is None:
            rows = self.store.all(
                "SELECT * FROM accounts WHERE subscription = ? ORDER BY name", (subscription,)
            )
        else:
            rows = self.store.all(
                "SELECT * FROM accounts WHERE subscription = ? AND resource_group = ? "
                "ORDER BY name",
                (subscription, resource_group),
            )
        return [self._view(row) for row in rows]

    def endpoint(self, name: str) -> str:
        return f"{self.public_url}/accounts/{name}/"

    # -- changes ----------------------------------------------------------------------

    def create(self, where: rules.AccountId, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Create (or update in place) an account; returns its view and the id of the
        operation that provisions it ("" when nothing was created)."""
        kind = str(body.get("kind") or "")
        sku = str((body.get("sku") or {}).get("name") or "")
        location = str(body.get("location") or "")
        _check_new(kind, sku, location)
        with self.store.tx() as c:
            current = self._find(where)
            if current is not None:
                return self._update_in_place(c, current, kind, sku, body), ""
            self._check_name_free(where.name)
            self._check_free_tier(where.subscription, kind, sku)
            c.execute(
                "INSERT INTO accounts (arm_id, subscription, resource_group, name, kind, sku, "
                "location, key1, key2, state, created, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'Creating', ?, ?)",
                (
                    where.arm_id,
                    where.subscription,
                    where.resource_group,
                    where.name,
                    kind,
                    sku,
                    rules.normal_location(location),
                    generate_key(),
                    generate_key(),
                    now(),
                    _tags(body),
                ),
            )
            if kind in rules.PREDICTS:
                self._register_prediction(c, where.arm_id)
        operation = uuid.uuid4().hex
        with self._lock:
            self._operations[operation] = where.arm_id
        return self._view(self._row(where)), operation

    def update(self, where: rules.AccountId, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: the SKU (and tags) of an existing account."""
        with self.store.tx() as c:
            row = self._row(where)
            kind = str(body.get("kind") or row["kind"])
            sku = str((body.get("sku") or {}).get("name") or row["sku"])
            return self._update_in_place(c, row, kind, sku, body)

    def delete(self, where: rules.AccountId) -> bool:
        """True when an account was deleted (False: there was none)."""
        with self.store.tx() as c:
            row = self._find(where)
            if row is None:
                return False
            c.execute("DELETE FROM accounts WHERE arm_id = ?", (row["arm_id"],))
            c.execute(
                "DELETE FROM prediction_resources WHERE lower(resource_id) = lower(?)",
                (row["arm_id"],),
            )
        return True

    def list_keys(self, where: rules.AccountId) -> dict[str, str]:
        if self.deny_list_keys:
            raise ArmError(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action "
                "'Microsoft.CognitiveServices/accounts/listKeys/action' over scope "
                f"'{where.arm_id}' or the scope is invalid.",
            )
        row = self._row(where)
        return {"key1": row["key1"], "key2": row["key2"]}

    def regenerate_key(self, where: rules.AccountId, key_name: str) -> dict[str, str]:
        column = {"key1": "key1", "key2": "key2"}.get(key_name.lower())
        if column is None:
            raise ArmError(400, "InvalidKeyName", f"Invalid key name '{key_name}'.")
        with self.store.tx() as c:
            row = self._row(where)
            c.execute(
                f"UPDATE accounts SET {column} = ? WHERE arm_id = ?",
                (generate_key(), row["arm_id"]),
            )
        return self.list_keys(where)

    def finish(self, operation: str) -> str | None:
        """The status of a create operation: it succeeds at its first poll."""
        with self._lock:
            arm_id = self._operations.get(operation)
        if arm_id is None:
            return None
        with self.store.tx() as c:
            c.execute("UPDATE accounts SET state = 'Succeeded' WHERE arm_id = ?", (arm_id,))
        return "Succeeded"

    # -- helpers ----------------------------------------------------------------------

    def _find(self, where: rules.AccountId) -> sqlite3.Row | None:
        return self.store.one("SELECT * FROM accounts WHERE arm_id = ?", (where.arm_id,))

    def _row(self, where: rules.AccountId) -> sqlite3.Row:
        row = self._find(where)
        if row is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{ACCOUNT_TYPE}/{where.name}' under resource group "
                f"'{where.resource_group}' was not found.",
            )
        return row

    def _check_name_free(self, name: str) -> None:
        if self.by_name(name) is not None:
            raise ArmError(
                409,
                "CustomDomainInUse",
                f"The subdomain name '{name}' is not available as it's already used by a resource.",
            )

    def _check_free_tier(self, subscription: str, kind: str, sku: str) -> None:
        if sku != "F0":
            return
        other = self.store.one(
            "SELECT name FROM accounts WHERE subscription = ? AND kind = ? AND sku = 'F0'",
            (subscription, kind),
        )
        if other is not None:
            raise ArmError(
                409,
                "CanNotCreateMultipleFreeAccounts",
                f"Operation failed. Only one free account is allowed for account type '{kind}' "
                f"(the subscription has '{other['name']}').",
            )

    def _update_in_place(
        self, c: sqlite3.Connection, row: sqlite3.Row, kind: str, sku: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if kind != row["kind"]:
            raise ArmError(
                409,
                "Conflict",
                f"The account '{row['name']}' exists with kind '{row['kind']}'; its kind "
                f"cannot change to '{kind}'.",
            )
        problem = rules.kind_problem(kind, sku, None)
        if problem is not None:
            raise ArmError(400, "InvalidSkuId", problem)
        if sku != row["sku"]:
            self._check_free_tier(row["subscription"], kind, sku)
        c.execute(
            "UPDATE accounts SET sku = ?, tags = COALESCE(?, tags) WHERE arm_id = ?",
            (sku, _tags(body), row["arm_id"]),
        )
        updated = self.store.one("SELECT * FROM accounts WHERE arm_id = ?", (row["arm_id"],))
        assert updated is not None
        return self._view(updated)

    def _register_prediction(self, c: sqlite3.Connection, arm_id: str) -> None:
        """A prediction-capable account is a publish target (cvspec.emulator.iterations);
        its prediction keys are checked per account, so the row's key is never handed out."""
        c.execute(
            "INSERT OR REPLACE INTO prediction_resources (resource_id, key, created) "
            "VALUES (?, ?, ?)",
            (arm_id, "account:" + secrets.token_hex(24), now()),
        )

    def _view(self, row: sqlite3.Row) -> dict[str, Any]:
        state = row["state"]
        if state == "Creating" and _age(row["created"]) > SETTLE_SECONDS:
            state = "Succeeded"
        endpoint = self.endpoint(row["name"])
        return {
            "id": row["arm_id"],
            "name": row["name"],
            "type": ACCOUNT_TYPE,
            "kind": row["kind"],
            "location": row["location"],
            "sku": {"name": row["sku"]},
            "tags": loads(row["tags"]) or {},
            "etag": '"' + uuid.uuid5(uuid.NAMESPACE_URL, row["arm_id"] + row["sku"]).hex + '"',
            "properties": {
                "provisioningState": state,
                "endpoint": endpoint,
                "endpoints": _endpoints(row["kind"], endpoint),
                "dateCreated": row["created"],
                "internalId": uuid.uuid5(uuid.NAMESPACE_URL, row["arm_id"]).hex,
            },
        }


def _check_new(kind: str, sku: str, location: str) -> None:
    if kind not in rules.KIND_SKUS:
        raise ArmError(400, "InvalidApiSetId", rules.kind_problem(kind, None, None) or "")
    if rules.normal_location(location) not in rules.LOCATIONS:
        raise ArmError(
            400,
            "InvalidResourceLocation",
            rules.kind_problem(kind, None, location or "(none)") or "",
        )
    if sku not in rules.KIND_SKUS[kind]:
        raise ArmError(400, "InvalidSkuId", rules.kind_problem(kind, sku, None) or "")


def _endpoints(kind: str, endpoint: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if kind in rules.TRAINS:
        found["Custom Vision Training"] = endpoint
    if kind in rules.PREDICTS:
        found["Custom Vision Prediction"] = endpoint
    return found


def _tags(body: dict[str, Any]) -> str | None:
    tags = body.get("tags")
    return None if tags is None else json.dumps(tags, separators=(",", ":"))


def _age(created: str) -> float:
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return SETTLE_SECONDS + 1
    return time.time() - then.timestamp()


def _account(row: sqlite3.Row) -> Account:
    return Account(
        row["arm_id"],
        row["name"],
        row["kind"],
        row["sku"],
        row["location"],
        row["key1"],
        row["key2"],
    )
