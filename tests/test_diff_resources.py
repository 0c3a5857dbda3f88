"""The accounts diff (cvspec.diff_resources): pure, so a table of spec sections against
Resource Manager states, with the operations or the refusal each makes."""

from __future__ import annotations

import pytest

from cvspec import ops
from cvspec.diff_resources import LiveAccount, LiveAccounts, destroy_accounts, diff_accounts
from cvspec.errors import PlanError
from cvspec.spec.resources import ResourcesSpec, desired_accounts

R = ops.Reason
SUB = "11111111-2222-3333-4444-555555555555"
PROVIDER = "/providers/Microsoft.CognitiveServices"
ACCOUNT_OPS = ("CreateAccount", "UpdateAccountSku", "DeleteAccount")
ACCOUNT_REASONS = (R.ACCOUNT_MISSING, R.SKU_DIFFERS, R.DESTROY_ACCOUNT)


def section(training: dict[str, str], *prediction: dict[str, str]) -> ResourcesSpec:
    return ResourcesSpec.model_validate(
        {
            "subscription": SUB,
            "resource_group": "rg",
            "location": "westeurope",
            "training": training,
            "prediction": list(prediction),
            "destroy_with_project": True,
        }
    )


def arm_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg{PROVIDER}/accounts/{name}"


def account(name: str, kind: str, sku: str = "S0", location: str = "westeurope") -> LiveAccount:
    return LiveAccount(arm_id(name), name, kind, sku, location, f"http://x/accounts/{name}/")


def live(*accounts: LiveAccount, free: dict[str, tuple[str, ...]] | None = None) -> LiveAccounts:
    return LiveAccounts(
        found={a.arm_id.lower(): a for a in accounts},
        free={(SUB, kind): names for kind, names in (free or {}).items()},
    )


TRAIN = {"name": "cvtrain", "kind": "CustomVision.Training"}
SERVICES = {"name": "cvservices", "kind": "CognitiveServices"}
Steps = list[tuple[str, str]]

CASES: list[tuple[str, ResourcesSpec, LiveAccounts, Steps]] = [
    (
        "nothing exists: both accounts are created",
        section(TRAIN, SERVICES),
        live(),
        [("CreateAccount", "cvtrain"), ("CreateAccount", "cvservices")],
    ),
    (
        "one AI Services account for both roles is created once",
        section(SERVICES, SERVICES),
        live(),
        [("CreateAccount", "cvservices")],
    ),
    (
        "everything exists as the spec says: nothing to do",
        section(TRAIN, SERVICES),
        live(
            account("cvtrain", "CustomVision.Training"), account("cvservices", "CognitiveServices")
        ),
        [],
    ),
    (
        "a changed SKU is an update in place",
        section({**TRAIN, "sku": "S0"}),
        live(
            account("cvtrain", "CustomVision.Training", "F0"),
            free={"CustomVision.Training": ("cvtrain",)},
        ),
        [("UpdateAccountSku", "cvtrain")],
    ),
    (
        "an existing account without a kind in the spec is used as it is",
        section({"name": "cvtrain"}),
        live(account("cvtrain", "CustomVision.Training", "F0")),
        [],
    ),
]


@pytest.mark.parametrize(("name", "spec", "state", "expected"), CASES, ids=[c[0] for c in CASES])
def test_diff_accounts(
    name: str, spec: ResourcesSpec, state: LiveAccounts, expected: Steps
) -> None:
    found = diff_accounts(desired_accounts(spec), state)
    assert [(type(op).__name__, getattr(op, "name", "")) for op in found] == expected
    for op in found:
        if isinstance(op, ops.CreateAccount):
            assert op.reason_code is R.ACCOUNT_MISSING and op.location == "westeurope"
        if isinstance(op, ops.UpdateAccountSku):
            assert (op.before, op.after, op.reason_code) == ("F0", "S0", R.SKU_DIFFERS)


def test_the_role_of_an_account_in_both_roles_says_so() -> None:
    (op,) = diff_accounts(desired_accounts(section(SERVICES, SERVICES)), live())
    assert isinstance(op, ops.CreateAccount) and op.role == "training+prediction"


REFUSED: list[tuple[str, ResourcesSpec, LiveAccounts, str]] = [
    (
        "an account of another kind",
        section(TRAIN, SERVICES),
        live(account("cvservices", "CustomVision.Prediction")),
        "resources.prediction[0] (cvservices): the account exists with kind "
        "CustomVision.Prediction, the spec says CognitiveServices",
    ),
    (
        "an existing prediction-only account named as the training resource",
        section({"name": "cvpredict"}),
        live(account("cvpredict", "CustomVision.Prediction")),
        "resources.training (cvpredict): a CustomVision.Prediction account cannot train",
    ),
    (
        "a missing account the spec gives no kind for",
        section({"name": "cvtrain"}),
        live(),
        "resources.training (cvtrain): account /subscriptions/",
    ),
    (
        "a second free account of a kind in the subscription",
        section({**TRAIN, "sku": "F0"}),
        live(free={"CustomVision.Training": ("someone-elses",)}),
        "the subscription has a free (F0) CustomVision.Training account already (someone-elses)",
    ),
    (
        "an account in another region",
        section(TRAIN),
        live(account("cvtrain", "CustomVision.Training", location="eastus")),
        "the account is in eastus, the spec says westeurope; an account cannot move",
    ),
]


@pytest.mark.parametrize(("name", "spec", "state", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_at_plan_time(
    name: str, spec: ResourcesSpec, state: LiveAccounts, message: str
) -> None:
    with pytest.raises(PlanError) as refused:
        diff_accounts(desired_accounts(spec), state)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_destroy_deletes_only_existing_accounts_the_spec_manages() -> None:
    spec = section(TRAIN, {"name": "shared"}, SERVICES)
    state = live(
        account("cvtrain", "CustomVision.Training"), account("shared", "CognitiveServices")
    )
    found = destroy_accounts(desired_accounts(spec), state)
    assert [(type(op).__name__, op.name, op.reason_code) for op in found] == [
        ("DeleteAccount", "cvtrain", R.DESTROY_ACCOUNT)
    ]


def test_every_account_operation_and_reason_is_covered() -> None:
    made = [op for case in CASES for op in diff_accounts(desired_accounts(case[1]), case[2])]
    spec = section(TRAIN)
    made += destroy_accounts(
        desired_accounts(spec), live(account("cvtrain", "CustomVision.Training"))
    )
    assert {type(op).__name__ for op in made} == set(ACCOUNT_OPS)
    assert {op.reason_code for op in made} == set(ACCOUNT_REASONS)
