"""The resources section at run time: read the accounts from Resource Manager, create them or
change their SKU (plan operations), and list their keys to build the Custom Vision clients.

Keys are read with listKeys only when a client is built, live only inside that client's
credentials, and are never returned, printed, logged or saved (a plan holds names, kinds,
SKUs and ARM ids). Every Resource Manager refusal is one line naming the account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices import models as m

from cvspec import accounts as rules
from cvspec.diff_resources import LiveAccount, LiveAccounts
from cvspec.errors import CvspecError
from cvspec.spec.resources import DesiredAccount, ResourcesSpec, desired_accounts, publish_target

ClientFactory = Callable[[str], CognitiveServicesManagementClient]
LIST_KEYS_ROLE = "Cognitive Services Contributor"


class ResourceError(CvspecError):
    """Resource Manager refused a call about one account."""


@dataclass
class ResourceSession:
    """The spec's accounts and a management client per subscription."""

    section: ResourcesSpec
    publish_resource: str | None  # publish.prediction_resource (a name or an ARM id)
    clients: ClientFactory
    target: str  # "azure" or "emulator"
    endpoint: str = ""  # Resource Manager's URL, shown while no account endpoint is known
    _made: dict[str, CognitiveServicesManagementClient] = field(default_factory=dict)

    @property
    def desired(self) -> tuple[DesiredAccount, ...]:
        return desired_accounts(self.section)

    @property
    def training(self) -> DesiredAccount:
        return self.desired[0]

    @property
    def publish_to(self) -> DesiredAccount | None:
        wanted = self.publish_resource
        if wanted and rules.parse_arm_id(wanted) and publish_target(self.section, wanted) is None:
            return None  # an ARM id outside the section: published to, not predicted through
        return publish_target(self.section, wanted)

    def client(self, subscription: str) -> CognitiveServicesManagementClient:
        key = subscription.lower()
        if key not in self._made:
            self._made[key] = self.clients(subscription)
        return self._made[key]

    # -- reading ----------------------------------------------------------------------

    def read(self) -> LiveAccounts:
        """The spec's accounts as they are, and the free accounts of their subscriptions."""
        found = {a.arm_id.lower(): self.get(a) for a in self.desired}
        free: dict[tuple[str, str], tuple[str, ...]] = {}
        if any(a.sku == "F0" for a in self.desired):
            for subscription in {a.where.subscription for a in self.desired}:
                listed = _guard(self.training, "list accounts", self._list, subscription)
                for account in listed:
                    if account.sku == "F0":
                        key = (subscription.lower(), account.kind)
                        free[key] = (*free.get(key, ()), account.name)
        return LiveAccounts(found=found, free=free)

    def get(self, account: DesiredAccount) -> LiveAccount | None:
        return _guard(account, "read", self._get, account)

    def keys_of(self, account: DesiredAccount) -> str:
        """A key of the account (Key1), for building a client; never shown."""
        keys = _guard(account, "list keys of", self._keys, account)
        key: str = keys.key1 or keys.key2 or ""
        if not key:
            raise ResourceError(f"{_label(account)}: Resource Manager listed no key")
        return key

    # -- changing (plan operations) ----------------------------------------------------

    def create(self, name: str, arm_id: str, kind: str, sku: str, location: str) -> None:
        account = self._by_id(arm_id)
        body = m.Account(kind=kind, sku=m.Sku(name=sku), location=location)
        _guard(account, "create", self._create, account, body)

    def update_sku(self, arm_id: str, sku: str) -> None:
        account = self._by_id(arm_id)
        body = m.Account(sku=m.Sku(name=sku))
        _guard(account, "change the SKU of", self._update, account, body)

    def delete(self, arm_id: str) -> None:
        account = self._by_id(arm_id)
        _guard(account, "delete", self._delete, account)

    # -- calls ------------------------------------------------------------------------

    def _get(self, account: DesiredAccount) -> LiveAccount | None:
        where = account.where
        try:
            got = self.client(where.subscription).accounts.get(where.resource_group, where.name)
        except HttpResponseError as error:
            if error.status_code == 404:
                return None
            raise
        return _live(got)

    def _list(self, subscription: str) -> list[LiveAccount]:
        return [_live(a) for a in self.client(subscription).accounts.list()]

    def _keys(self, account: DesiredAccount) -> Any:
        where = account.where
        return self.client(where.subscription).accounts.list_keys(where.resource_group, where.name)

    def _create(self, account: DesiredAccount, body: m.Account) -> None:
        where = account.where
        accounts = self.client(where.subscription).accounts
        accounts.begin_create(where.resource_group, where.name, body).result()

    def _update(self, account: DesiredAccount, body: m.Account) -> None:
        where = account.where
        accounts = self.client(where.subscription).accounts
        accounts.begin_update(where.resource_group, where.name, body).result()

    def _delete(self, account: DesiredAccount) -> None:
        where = account.where
        accounts = self.client(where.subscription).accounts
        accounts.begin_delete(where.resource_group, where.name).result()

    def _by_id(self, arm_id: str) -> DesiredAccount:
        for account in self.desired:
            if account.arm_id.lower() == arm_id.lower():
                return account
        raise CvspecError(f"account {arm_id} is not in the spec's resources section; plan again")


def _live(account: Any) -> LiveAccount:
    props = account.properties
    return LiveAccount(
        arm_id=str(account.id),
        name=str(account.name),
        kind=str(account.kind),
        sku=str(account.sku.name if account.sku else ""),
        location=str(account.location),
        endpoint=str(props.endpoint if props else ""),
        state=str(props.provisioning_state if props else ""),
    )


def _label(account: DesiredAccount) -> str:
    from cvspec.spec.problems import field_path

    return f"{field_path(account.loc)} ({account.name})"


def _guard(account: DesiredAccount, action: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one Resource Manager call; a refusal becomes one line naming the account."""
    try:
        return fn(*args)
    except HttpResponseError as error:
        code = error.error.code if error.error is not None else None
        code = code or (str(error.status_code) if error.status_code else type(error).__name__)
        message = (error.error.message if error.error is not None else "") or str(error)
        hint = ""
        if code == "AuthorizationFailed" and action.startswith("list keys"):
            hint = f" (the identity needs a role that can list keys, e.g. {LIST_KEYS_ROLE})"
        elif isinstance(error, ClientAuthenticationError):
            hint = " (sign in: az login, workload identity, or a managed identity)"
        first_line = message.strip().splitlines()[0] if message.strip() else ""
        raise ResourceError(
            f"{_label(account)}: Resource Manager refused to {action} the account: "
            f"{code}: {first_line}{hint}"
        ) from None
    except AzureError as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ResourceError(
            f"{_label(account)}: cannot {action} the account through Resource Manager: {text}"
        ) from None
