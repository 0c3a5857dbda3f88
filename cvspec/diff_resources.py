"""The accounts of the spec's resources section against Resource Manager's: which to create,
which change SKU, and what is refused at plan time (an account of another kind, one that
cannot train or predict, a missing account cvspec may not create, a second free account of a
kind). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cvspec import accounts as rules
from cvspec import ops
from cvspec.errors import PlanError
from cvspec.spec.problems import field_path
from cvspec.spec.resources import DesiredAccount

R = ops.Reason


@dataclass(frozen=True)
class LiveAccount:
    """An account as Resource Manager shows it (never its keys)."""

    arm_id: str
    name: str
    kind: str
    sku: str
    location: str
    endpoint: str
    state: str = "Succeeded"


@dataclass(frozen=True)
class LiveAccounts:
    """The accounts the spec names (None: not found) and the free (F0) accounts of their
    subscriptions, by (subscription in lower case, kind) -> account names."""

    found: Mapping[str, LiveAccount | None]  # by ARM id in lower case
    free: Mapping[tuple[str, str], tuple[str, ...]]

    def get(self, arm_id: str) -> LiveAccount | None:
        return self.found.get(arm_id.lower())


def diff_accounts(desired: tuple[DesiredAccount, ...], live: LiveAccounts) -> list[ops.Op]:
    """The account operations of the plan.

    Raises:
        PlanError: an account exists with another kind or location, cannot serve its role, is
            missing with no kind to create it with, or would be a second free account.
    """
    found: list[ops.Op] = []
    for account in _merged(desired):
        current = live.get(account.arm_id)
        if current is None:
            found.append(_create(account, live))
            continue
        _check_existing(account, current)
        if account.sku is not None and account.sku != current.sku:
            _check_free(account, live, current.name)
            found.append(
                ops.UpdateAccountSku(
                    reason=f"the account's SKU is {current.sku}, the spec says {account.sku}",
                    reason_code=R.SKU_DIFFERS,
                    name=current.name,
                    arm_id=current.arm_id,
                    kind=current.kind,
                    before=current.sku,
                    after=account.sku,
                )
            )
    return found


def destroy_accounts(desired: tuple[DesiredAccount, ...], live: LiveAccounts) -> list[ops.Op]:
    """DeleteAccount for every existing account the spec manages (gives a kind for)."""
    return [
        ops.DeleteAccount(
            reason="resources.destroy_with_project is true",
            reason_code=R.DESTROY_ACCOUNT,
            name=current.name,
            arm_id=current.arm_id,
            kind=current.kind,
        )
        for account in _merged(desired)
        if account.managed and (current := live.get(account.arm_id)) is not None
    ]


def _merged(desired: tuple[DesiredAccount, ...]) -> list[DesiredAccount]:
    by_id: dict[str, DesiredAccount] = {}
    for account in desired:
        key = account.arm_id.lower()
        if key not in by_id:
            by_id[key] = account
        elif account.role not in by_id[key].role.split("+"):
            first = by_id[key]
            by_id[key] = DesiredAccount(
                f"{first.role}+{account.role}",
                first.where,
                first.kind or account.kind,
                first.sku or account.sku,
                first.location or account.location,
                first.loc,
                first.location_loc,
            )
    return list(by_id.values())


def _where(account: DesiredAccount) -> str:
    return f"{field_path(account.loc)} ({account.name})"


def _create(account: DesiredAccount, live: LiveAccounts) -> ops.Op:
    if account.kind is None:
        raise PlanError(
            f"{_where(account)}: account {account.arm_id} does not exist; give its kind, sku "
            "and location for cvspec to create it"
        )
    _check_free(account, live, None)
    return ops.CreateAccount(
        reason="the account does not exist",
        reason_code=R.ACCOUNT_MISSING,
        name=account.name,
        arm_id=account.arm_id,
        role=account.role,
        kind=account.kind,
        sku=account.sku or "S0",
        location=rules.normal_location(account.location or ""),
    )


def _check_existing(account: DesiredAccount, current: LiveAccount) -> None:
    if account.kind is not None and account.kind != current.kind:
        raise PlanError(
            f"{_where(account)}: the account exists with kind {current.kind}, the spec says "
            f"{account.kind}; an account's kind cannot change (fix the spec, or delete the "
            "account yourself)"
        )
    roles = account.role.split("+")
    if "training" in roles and current.kind not in rules.TRAINS:
        raise PlanError(f"{_where(account)}: a {current.kind} account cannot train")
    if "prediction" in roles and current.kind not in rules.PREDICTS:
        raise PlanError(f"{_where(account)}: a {current.kind} account cannot serve predictions")
    wanted = rules.normal_location(account.location or "")
    if account.kind is not None and wanted and wanted != rules.normal_location(current.location):
        raise PlanError(
            f"{_where(account)}: the account is in {current.location}, the spec says "
            f"{account.location}; an account cannot move"
        )


def _check_free(account: DesiredAccount, live: LiveAccounts, itself: str | None) -> None:
    if account.sku != "F0" or account.kind is None:
        return
    others = [
        name
        for name in live.free.get((account.where.subscription.lower(), account.kind), ())
        if name.lower() != (itself or "").lower()
    ]
    if others:
        raise PlanError(
            f"{_where(account)}: the subscription has a free (F0) {account.kind} account "
            f"already ({', '.join(others)}); one is allowed per subscription"
        )


def stale_accounts(operations: Iterable[ops.Op], live: LiveAccounts) -> list[str]:
    """What changed in the accounts since a saved plan was made (empty: nothing)."""
    changed = []
    for op in operations:
        if isinstance(op, ops.CreateAccount) and (now := live.get(op.arm_id)) is not None:
            changed.append(f"account {op.name} now exists ({now.kind}, {now.sku})")
        elif isinstance(op, ops.UpdateAccountSku):
            current = live.get(op.arm_id)
            sku = current.sku if current is not None else "none (deleted)"
            if sku != op.before:
                changed.append(f"account {op.name} SKU: {op.before} -> {sku}")
    return changed
