"""The spec's optional `resources` section: the Azure accounts that train and serve the
project, found (and, given a kind, created) through Azure Resource Manager; and its offline
checks (kinds, SKUs, locations, the free tier's one account of a kind per subscription)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cvspec import accounts as rules
from cvspec.spec.yamldoc import Loc

Role = str
"""training, prediction, or training+prediction (one account in both roles)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class AccountSpec(_Model):
    """One Azure AI account: by `id`, or by `name` (with the subscription and resource group
    given here or in the section). With `kind`, cvspec creates it when it does not exist."""

    id: str | None = None
    """Full ARM id (/subscriptions/SUB/resourceGroups/RG/providers/
    Microsoft.CognitiveServices/accounts/NAME); instead of subscription/resource_group/name."""
    name: str | None = None
    """Account name (also how publish.prediction_resource names it)."""
    subscription: str | None = None
    """Subscription id (default: the section's)."""
    resource_group: str | None = None
    """Resource group (default: the section's)."""
    kind: str | None = None
    """CustomVision.Training, CustomVision.Prediction or CognitiveServices (Azure AI
    Services, which trains and predicts). Given: cvspec creates the account when missing and
    refuses one of another kind. Omitted: the account must exist."""
    sku: str | None = None
    """F0 (free) or S0; default S0. A changed SKU is planned as an update."""
    location: str | None = None
    """Azure region to create it in (default: the section's)."""

    @field_validator("id")
    @classmethod
    def _arm_id(cls, value: str | None) -> str | None:
        if value is not None and rules.parse_arm_id(value) is None:
            raise ValueError(
                "must be an account's full ARM id (/subscriptions/SUB/resourceGroups/RG/"
                f"providers/Microsoft.CognitiveServices/accounts/NAME), not {value!r}"
            )
        return value


class ResourcesSpec(_Model):
    """Azure accounts of the project, resolved (and created) through Resource Manager; their
    endpoints and keys are read at run time and kept in memory only."""

    subscription: str | None = None
    """Default subscription id of the accounts."""
    resource_group: str | None = None
    """Default resource group of the accounts."""
    location: str | None = None
    """Default region of accounts to create."""
    training: AccountSpec
    """The training resource (CustomVision.Training or CognitiveServices)."""
    prediction: list[AccountSpec] = Field(default_factory=list)
    """Prediction resources (CustomVision.Prediction or CognitiveServices); publish goes to
    publish.prediction_resource (a name or id of these), else the first, else the training
    resource when it is an Azure AI Services account."""
    destroy_with_project: bool = False
    """`cvspec destroy` also deletes the accounts that have a `kind` here (off: accounts are
    left alone)."""


@dataclass(frozen=True)
class DesiredAccount:
    """One account of the section, resolved to its ARM id."""

    role: Role
    where: rules.AccountId
    kind: str | None
    sku: str | None
    location: str | None
    loc: Loc  # where it is in the spec, for messages
    location_loc: Loc = ()  # where its location is given (its own, or the section's)

    @property
    def name(self) -> str:
        return self.where.name

    @property
    def arm_id(self) -> str:
        return self.where.arm_id

    @property
    def managed(self) -> bool:
        """cvspec may create it (the spec gives its kind)."""
        return self.kind is not None


def desired_accounts(section: ResourcesSpec) -> tuple[DesiredAccount, ...]:
    """Every account of the section (training first). Assumes check_resources passed."""
    found = [_resolve(section, section.training, "training", ("resources", "training"))]
    for index, account in enumerate(section.prediction):
        found.append(_resolve(section, account, "prediction", ("resources", "prediction", index)))
    return tuple(found)


def publish_target(section: ResourcesSpec, wanted: str | None) -> DesiredAccount | None:
    """The account publish goes to: named by `wanted` (name or ARM id), else the first
    prediction resource, else the training resource when it predicts."""
    accounts = desired_accounts(section)
    predictors = [a for a in accounts if a.role == "prediction"]
    if wanted:
        key = wanted.lower()
        return next(
            (a for a in predictors if key in (a.name.lower(), a.arm_id.lower())),
            next(
                (a for a in accounts if key in (a.name.lower(), a.arm_id.lower()) and _predicts(a)),
                None,
            ),
        )
    if predictors:
        return predictors[0]
    training = accounts[0]
    return training if _predicts(training) else None


def _predicts(account: DesiredAccount) -> bool:
    return account.kind is None or account.kind in rules.PREDICTS


def _resolve(section: ResourcesSpec, spec: AccountSpec, role: Role, loc: Loc) -> DesiredAccount:
    where = rules.parse_arm_id(spec.id) if spec.id else None
    if where is None:
        where = rules.AccountId(
            spec.subscription or section.subscription or "",
            spec.resource_group or section.resource_group or "",
            spec.name or "",
        )
    sku = spec.sku or ("S0" if spec.kind else None)
    location_loc = (*loc, "location") if spec.location else ("resources", "location")
    location = spec.location or section.location
    return DesiredAccount(role, where, spec.kind, sku, location, loc, location_loc)


Problem = tuple[Loc, str]


def check_resources(
    section: ResourcesSpec, publish_resource: str | None, publishes: bool = False
) -> list[Problem]:
    """Offline checks of the section; `publish_resource` is publish.prediction_resource,
    `publishes` whether the spec publishes at all."""
    problems = _where_problems(section)
    if problems:
        return problems
    accounts = desired_accounts(section)
    for account in accounts:
        problems += _account_problems(account)
    problems = list(dict.fromkeys(problems))  # a section-wide location is reported once
    problems += _free_tier(accounts)
    problems += _duplicates(accounts)
    if publishes and publish_resource is None and publish_target(section, None) is None:
        problems.append(
            (
                ("publish",),
                "needs a prediction resource: list one in resources.prediction "
                "(CustomVision.Prediction or CognitiveServices), or give "
                "publish.prediction_resource",
            )
        )
    named = publish_resource is not None and not rules.parse_arm_id(publish_resource)
    if named and publish_target(section, publish_resource) is None:
        names = ", ".join(a.name for a in accounts if _predicts(a)) or "none"
        problems.append(
            (
                ("publish", "prediction_resource"),
                f"names no prediction resource of the resources section: "
                f"{publish_resource!r} (prediction resources: {names})",
            )
        )
    return problems


def _where_problems(section: ResourcesSpec) -> list[Problem]:
    problems: list[Problem] = []
    entries: list[tuple[Loc, AccountSpec]] = [(("resources", "training"), section.training)]
    entries += [(("resources", "prediction", i), a) for i, a in enumerate(section.prediction)]
    for loc, spec in entries:
        if spec.id:
            continue
        if not spec.name:
            problems.append((loc, "give the account's id, or its name"))
        elif not rules.NAME.fullmatch(spec.name):
            problems.append(((*loc, "name"), f"invalid account name {spec.name!r}"))
        for field in ("subscription", "resource_group"):
            if not (getattr(spec, field) or getattr(section, field)):
                problems.append(
                    (loc, f"no {field}: give it here or in resources.{field} (or give the id)")
                )
    return problems


def _account_problems(account: DesiredAccount) -> list[Problem]:
    loc = account.loc
    if account.kind is None:
        if account.sku is not None:
            return [
                (
                    (*loc, "sku"),
                    "a SKU needs the account's kind (cvspec creates no account without it)",
                )
            ]
        return []
    if account.kind not in rules.KIND_SKUS:
        return [((*loc, "kind"), rules.kind_problem(account.kind, None, None) or "")]
    if account.role == "training" and account.kind not in rules.TRAINS:
        return [
            (
                (*loc, "kind"),
                f"a {account.kind} account cannot train: the training resource must be "
                f"{rules.TRAINING} or {rules.AI_SERVICES}",
            )
        ]
    if account.role == "prediction" and account.kind not in rules.PREDICTS:
        return [
            (
                (*loc, "kind"),
                f"a {account.kind} account cannot serve predictions: a prediction resource "
                f"must be {rules.PREDICTION} or {rules.AI_SERVICES}",
            )
        ]
    problems: list[Problem] = []
    sku_problem = rules.kind_problem(account.kind, account.sku, None)
    if sku_problem is not None:
        problems.append(((*loc, "sku"), sku_problem))
    if account.location is None:
        problems.append(((*loc, "location"), "a location is needed to create the account"))
    else:
        where_problem = rules.kind_problem(account.kind, None, account.location)
        if where_problem is not None:
            problems.append((account.location_loc, where_problem))
    return problems


def _free_tier(accounts: tuple[DesiredAccount, ...]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], DesiredAccount] = {}
    for account in _distinct(accounts):
        if account.sku != "F0" or account.kind is None:
            continue
        key = (account.where.subscription.lower(), account.kind)
        first = seen.setdefault(key, account)
        if first is not account:
            problems.append(
                (
                    (*account.loc, "sku"),
                    f"a subscription has at most one free (F0) {account.kind} account; "
                    f"{first.name!r} is one already",
                )
            )
    return problems


def _duplicates(accounts: tuple[DesiredAccount, ...]) -> list[Problem]:
    """The same account twice must say the same thing (one account may train and predict)."""
    problems: list[Problem] = []
    first: dict[str, DesiredAccount] = {}
    for account in accounts:
        other = first.setdefault(account.arm_id.lower(), account)
        if other is not account and (other.kind, other.sku) != (account.kind, account.sku):
            problems.append(
                (account.loc, f"account {account.name!r} is given twice with different settings")
            )
    return problems


def _distinct(accounts: tuple[DesiredAccount, ...]) -> list[DesiredAccount]:
    seen: set[str] = set()
    found = []
    for account in accounts:
        if account.arm_id.lower() not in seen:
            seen.add(account.arm_id.lower())
            found.append(account)
    return found
