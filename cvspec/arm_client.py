"""Azure Resource Manager clients: azure-mgmt-cognitiveservices with azure-identity's
credential chain on Azure, or a static token on the built-in emulator.

Settings (environment):
  CVSPEC_ARM_ENDPOINT  Resource Manager's URL (default https://management.azure.com; an http://
                       URL, such as a running emulator's, is allowed too)
  CVSPEC_ARM_TOKEN     a bearer token to send instead of the credential chain (the emulator's,
                       printed by `cvspec emulator serve`)
Without either and without a Custom Vision endpoint in the environment, the built-in
emulator serves Resource Manager too (cvspec.service.connect).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

AZURE_ARM = "https://management.azure.com"
SCOPE = "https://management.azure.com/.default"


class StaticTokenCredential:
    """A TokenCredential that always answers the same bearer token (the emulator's)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def __repr__(self) -> str:  # the token never reaches logs or tracebacks
        return "StaticTokenCredential(<hidden>)"


class _PlainBearer(SansIOHTTPPolicy[Any, Any]):
    """Bearer authentication for an http:// endpoint (azure-core's policy insists on https;
    only a loopback emulator is served over plain http)."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    def on_request(self, request: PipelineRequest[Any]) -> None:
        token = self._credential.get_token(SCOPE).token
        request.http_request.headers["Authorization"] = f"Bearer {token}"


def arm_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """CVSPEC_ARM_ENDPOINT, when set."""
    env = os.environ if env is None else env
    return env.get("CVSPEC_ARM_ENDPOINT") or None


def default_credential(env: Mapping[str, str] | None = None) -> TokenCredential:
    """CVSPEC_ARM_TOKEN as a static token, else DefaultAzureCredential (environment, workload
    identity / OIDC federation, managed identity, Azure CLI login...)."""
    env = os.environ if env is None else env
    token = env.get("CVSPEC_ARM_TOKEN")
    if token:
        return StaticTokenCredential(token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def management_client(
    credential: TokenCredential, subscription: str, endpoint: str = AZURE_ARM
) -> CognitiveServicesManagementClient:
    """The official management client for one subscription at `endpoint`."""
    extra: dict[str, Any] = {"polling_interval": 1}
    if endpoint.lower().startswith("http://"):
        extra = {"polling_interval": 0, "authentication_policy": _PlainBearer(credential)}
    return CognitiveServicesManagementClient(
        credential, subscription, base_url=endpoint.rstrip("/"), **extra
    )
