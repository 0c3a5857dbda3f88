"""Image-classification domains: names and ids (service-behavior.md §9), and their lookup."""

from __future__ import annotations

import re

CLASSIFICATION_DOMAINS: dict[str, str] = {
    "General": "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
    "General [A1]": "a8e3c40f-fb4a-466f-832a-5e457ae4a344",
    "General [A2]": "2e37d7fb-3a54-486a-b4d6-cfc369af0018",
    "Food": "c151d5b5-dd07-472a-acc8-15d29dea8518",
    "Landmarks": "ca455789-012d-4b50-9fec-5bb63841c793",
    "Retail": "b30a91ae-e3c1-4f73-a81e-c270bff27c39",
    "Adult": "45badf75-3591-4f26-a705-45678d3e9f5f",
    "General (compact)": "0732100f-1a38-4e49-a514-c9b44c697ab5",
    "General (compact) [S1]": "a1db07ca-a19a-4830-bae8-e004a42dc863",
    "Landmarks (compact)": "b5cfd229-2ac7-4b2b-8d0a-2b0661344894",
    "Retail (compact)": "6b4faeda-8396-481b-9f8b-177b9fa3097f",
    "Food (compact)": "8882951b-82cd-4c32-970b-d5f8cb8bf6d7",
}
"""Classification domain name -> id. Adult is probably retired; Food (compact) is unconfirmed."""

EXPORTABLE_DOMAINS: frozenset[str] = frozenset(
    name for name in CLASSIFICATION_DOMAINS if "(compact)" in name
)
"""Only compact domains can be exported."""

OBJECT_DETECTION_DOMAINS: dict[str, str] = {
    "General": "da2e3a8a-40a5-4171-82f4-58522f70fbc1",
    "General [A1]": "9c616dff-2e7d-ea11-af59-1866da359ce6",
    "Logo": "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4",
    "Products on shelves": "3780a898-81c3-4516-81ae-3a139614e1f3",
    "General (compact)": "a27d5ca5-bb19-49d8-a70a-fec086c47f5b",
    "General (compact) [S1]": "7ec2ac80-887b-48a6-8df9-8b1357765430",
}
"""Object-detection domains: out of cvspec's scope, listed so that their ids are refused."""

DEFAULT_DOMAIN = "General"

_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_BY_LOWER_NAME = {name.lower(): guid for name, guid in CLASSIFICATION_DOMAINS.items()}
_NAME_BY_ID = {guid: name for name, guid in CLASSIFICATION_DOMAINS.items()}
_DETECTION_NAME_BY_ID = {guid: name for name, guid in OBJECT_DETECTION_DOMAINS.items()}


def resolve_domain(name_or_guid: str) -> str:
    """Return the id of a classification domain given by name (any case) or id.

    Raises:
        ValueError: the domain is unknown or is an object-detection domain; the message
            lists the known names.
    """
    text = name_or_guid.strip()
    if _GUID.fullmatch(text):
        return _resolve_guid(text.lower())
    guid = _BY_LOWER_NAME.get(text.lower())
    if guid is None:
        raise ValueError(f"unknown domain {name_or_guid!r}; known domains: {known_names()}")
    return guid


def domain_name(guid: str) -> str | None:
    """The classification domain's name for an id, or None if the id is not one."""
    return _NAME_BY_ID.get(guid.lower())


def known_names() -> str:
    """The known classification domain names, quoted and comma-separated."""
    return ", ".join(f'"{name}"' for name in CLASSIFICATION_DOMAINS)


def _resolve_guid(guid: str) -> str:
    if guid in _NAME_BY_ID:
        return guid
    if guid in _DETECTION_NAME_BY_ID:
        name = _DETECTION_NAME_BY_ID[guid]
        raise ValueError(
            f"domain {guid} is the object-detection domain {name!r}; "
            f"cvspec builds classifiers; known domains: {known_names()}"
        )
    raise ValueError(f"unknown domain id {guid}; known domains: {known_names()}")
