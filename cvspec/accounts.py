"""Azure AI (Cognitive Services) accounts that serve Custom Vision: their kinds, the SKUs each
kind offers, the regions Custom Vision runs in, and ARM ids. Shared by the spec's offline
checks, the planner and the emulator's Resource Manager surface (one set of rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass

TRAINING = "CustomVision.Training"
PREDICTION = "CustomVision.Prediction"
AI_SERVICES = "CognitiveServices"
"""The Azure AI Services multi-service account: serves Training and Prediction both."""

KIND_SKUS: dict[str, tuple[str, ...]] = {
    TRAINING: ("F0", "S0"),
    PREDICTION: ("F0", "S0"),
    AI_SERVICES: ("S0",),
}
"""What each kind offers (Custom Vision: free F0 and standard S0; the multi-service account
has no free tier)."""

TRAINS = frozenset({TRAINING, AI_SERVICES})
PREDICTS = frozenset({PREDICTION, AI_SERVICES})

LOCATIONS: tuple[str, ...] = (
    "australiaeast",
    "brazilsouth",
    "canadacentral",
    "centralindia",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "japaneast",
    "koreacentral",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "southafricanorth",
    "southcentralus",
    "southeastasia",
    "swedencentral",
    "switzerlandnorth",
    "uksouth",
    "westeurope",
    "westus",
    "westus2",
    "westus3",
)
"""Regions where Custom Vision accounts can be created (Azure's product-by-region page;
compared in lower case without spaces, as ARM does)."""

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,62}")
"""An account name: 2-64 letters, digits, `_ . -`, starting with a letter or digit."""

_ARM_ID = re.compile(
    r"/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.CognitiveServices/accounts/(?P<name>[^/]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AccountId:
    """Where an account is: subscription, resource group, name."""

    subscription: str
    resource_group: str
    name: str

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.name}"
        )


def parse_arm_id(text: str) -> AccountId | None:
    """The parts of an account's ARM id, or None when `text` is not one."""
    match = _ARM_ID.fullmatch(text.strip())
    if match is None:
        return None
    return AccountId(match["subscription"], match["group"], match["name"])


def normal_location(location: str) -> str:
    """`West Europe` -> `westeurope`, as ARM compares locations."""
    return location.replace(" ", "").lower()


def kind_problem(kind: str, sku: str | None, location: str | None) -> str | None:
    """Why an account of this kind, SKU and location cannot be created (None: it can)."""
    if kind not in KIND_SKUS:
        return f"unknown kind {kind!r} (known: {', '.join(KIND_SKUS)})"
    if sku is not None and sku not in KIND_SKUS[kind]:
        offered = ", ".join(KIND_SKUS[kind])
        return f"kind {kind} does not offer SKU {sku!r} (it offers: {offered})"
    if location is not None and normal_location(location) not in LOCATIONS:
        return f"unknown location {location!r} for Custom Vision (known: {', '.join(LOCATIONS)})"
    return None
