"""The emulator's Resource Manager surface through the official management SDK
(azure-mgmt-cognitiveservices, static token credential, never the network), and each created
account's own Custom Vision endpoint through the official Custom Vision SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices import models as m
from msrest.authentication import ApiKeyCredentials
from msrest.exceptions import HttpOperationError

from cvspec.arm_client import StaticTokenCredential, management_client
from cvspec.emulator.server import EmulatorServer

from .support import PALETTE, unique_name, upload, wait_trained

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def arm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path_factory.mktemp("arm")) as srv:
        yield srv


@pytest.fixture(scope="module")
def arm(arm_server: EmulatorServer) -> CognitiveServicesManagementClient:
    return management_client(
        StaticTokenCredential(arm_server.arm_token), SUBSCRIPTION, arm_server.arm_endpoint
    )


def create(
    arm: CognitiveServicesManagementClient, kind: str, sku: str = "S0", where: str = "westeurope"
) -> m.Account:
    name = unique_name("acct").replace("-", "")
    poller = arm.accounts.begin_create(
        "rg1", name, m.Account(kind=kind, sku=m.Sku(name=sku), location=where)
    )
    return poller.result()


def trainer_of(account: m.Account, key: str) -> CustomVisionTrainingClient:
    creds = ApiKeyCredentials(in_headers={"Training-key": key})
    return CustomVisionTrainingClient(account.properties.endpoint, creds)


def predictor_of(account: m.Account, key: str) -> CustomVisionPredictionClient:
    creds = ApiKeyCredentials(in_headers={"Prediction-key": key})
    return CustomVisionPredictionClient(account.properties.endpoint, creds)


def status_of(excinfo: pytest.ExceptionInfo[Any]) -> int:
    return int(excinfo.value.response.status_code)


def test_create_is_a_long_running_operation_and_reads_back(
    arm: CognitiveServicesManagementClient, arm_server: EmulatorServer
) -> None:
    account = create(arm, "CustomVision.Training")
    assert account.properties.provisioning_state == "Succeeded"
    assert account.kind == "CustomVision.Training" and account.sku.name == "S0"
    assert account.properties.endpoint == f"{arm_server.url}/accounts/{account.name}/"
    got = arm.accounts.get("rg1", account.name)
    assert got.id == account.id
    assert account.id.lower().endswith(
        f"/resourcegroups/rg1/providers/microsoft.cognitiveservices/accounts/{account.name}".lower()
    )
    assert account.name in {a.name for a in arm.accounts.list()}
    assert account.name in {a.name for a in arm.accounts.list_by_resource_group("rg1")}
    assert account.name not in {a.name for a in arm.accounts.list_by_resource_group("other")}


def test_each_account_has_its_own_keys_and_regenerating_one_invalidates_it(
    arm: CognitiveServicesManagementClient,
) -> None:
    first, second = create(arm, "CustomVision.Training"), create(arm, "CognitiveServices")
    keys = arm.accounts.list_keys("rg1", first.name)
    other = arm.accounts.list_keys("rg1", second.name)
    assert keys.key1 != keys.key2 and keys.key1 not in (other.key1, other.key2)
    assert trainer_of(first, keys.key1).get_projects() is not None
    assert trainer_of(first, keys.key2).get_projects() is not None
    with pytest.raises(HttpOperationError) as refused:
        trainer_of(first, other.key1).get_projects()  # another account's key
    assert status_of(refused) == 401
    fresh = arm.accounts.regenerate_key("rg1", first.name, "Key1")
    assert fresh.key1 != keys.key1 and fresh.key2 == keys.key2
    with pytest.raises(HttpOperationError) as stale:
        trainer_of(first, keys.key1).get_projects()
    assert status_of(stale) == 401
    assert trainer_of(first, fresh.key1).get_projects() is not None


def test_a_prediction_account_does_not_serve_training(
    arm: CognitiveServicesManagementClient,
) -> None:
    account = create(arm, "CustomVision.Prediction")
    key = arm.accounts.list_keys("rg1", account.name).key1
    with pytest.raises(HttpOperationError) as refused:
        trainer_of(account, key).get_projects()
    assert status_of(refused) == 401


def test_train_on_a_training_account_publish_to_an_ai_services_account(
    arm: CognitiveServicesManagementClient,
) -> None:
    training, services = create(arm, "CustomVision.Training"), create(arm, "CognitiveServices")
    trainer = trainer_of(training, arm.accounts.list_keys("rg1", training.name).key1)
    project = trainer.create_project(unique_name(), classification_type="Multiclass")
    red, blue = trainer.create_tag(project.id, "red"), trainer.create_tag(project.id, "blue")
    upload(trainer, project.id, [red.id], 6, PALETTE["red"], first_seed=70_000)
    upload(trainer, project.id, [blue.id], 6, PALETTE["blue"], first_seed=70_100)
    iteration = wait_trained(trainer, project.id, trainer.train_project(project.id))
    with pytest.raises(HttpOperationError) as not_prediction:
        trainer.publish_iteration(project.id, iteration.id, "m", training.id)
    assert status_of(not_prediction) == 400
    trainer.publish_iteration(project.id, iteration.id, "m", services.id)
    services_key = arm.accounts.list_keys("rg1", services.name).key2
    result = predictor_of(services, services_key).classify_image(
        project.id, "m", upload_bytes(PALETTE["red"])
    )
    assert result.predictions[0].tag_name == "red"


def upload_bytes(color: tuple[int, int, int]) -> bytes:
    from .support import make_image

    return make_image(color, seed=70_500)


@pytest.mark.parametrize(
    ("kind", "sku", "where", "code"),
    [
        ("Face", "S0", "westeurope", "InvalidApiSetId"),
        ("CognitiveServices", "F0", "westeurope", "InvalidSkuId"),
        ("CustomVision.Training", "S9", "westeurope", "InvalidSkuId"),
        ("CustomVision.Training", "S0", "moon", "InvalidResourceLocation"),
    ],
)
def test_bad_accounts_are_refused(
    arm: CognitiveServicesManagementClient, kind: str, sku: str, where: str, code: str
) -> None:
    with pytest.raises(HttpResponseError) as refused:
        create(arm, kind, sku, where)
    assert refused.value.error is not None and refused.value.error.code == code
    assert refused.value.status_code == 400


def test_one_free_account_of_a_kind_per_subscription(
    arm: CognitiveServicesManagementClient,
) -> None:
    create(arm, "CustomVision.Prediction", "F0")
    with pytest.raises(HttpResponseError) as refused:
        create(arm, "CustomVision.Prediction", "F0")
    assert refused.value.error is not None
    assert refused.value.error.code == "CanNotCreateMultipleFreeAccounts"
    create(arm, "CustomVision.Training", "F0")  # another kind has its own free account


def test_kind_cannot_change_and_sku_can(arm_server: EmulatorServer) -> None:
    token = StaticTokenCredential(arm_server.arm_token)
    arm = management_client(token, "99999999-2222-3333-4444-555555555555", arm_server.url)
    account = create(arm, "CustomVision.Training")
    body = m.Account(kind="CognitiveServices", sku=m.Sku(name="S0"), location="westeurope")
    with pytest.raises(HttpResponseError) as refused:
        arm.accounts.begin_create("rg1", account.name, body).result()
    assert refused.value.error is not None and refused.value.error.code == "Conflict"
    updated = arm.accounts.begin_update("rg1", account.name, m.Account(sku=m.Sku(name="F0")))
    assert updated.result().sku.name == "F0"
    assert arm.accounts.get("rg1", account.name).sku.name == "F0"


def test_delete_removes_the_account_and_its_endpoint(
    arm: CognitiveServicesManagementClient,
) -> None:
    account = create(arm, "CustomVision.Training")
    key = arm.accounts.list_keys("rg1", account.name).key1
    arm.accounts.begin_delete("rg1", account.name).result()
    with pytest.raises(ResourceNotFoundError):
        arm.accounts.get("rg1", account.name)
    with pytest.raises(HttpOperationError) as gone:
        trainer_of(account, key).get_projects()
    assert status_of(gone) == 401


def test_list_keys_can_be_refused(
    arm: CognitiveServicesManagementClient, arm_server: EmulatorServer
) -> None:
    account = create(arm, "CustomVision.Training")
    arm_server.deny_list_keys()
    try:
        with pytest.raises(HttpResponseError) as refused:
            arm.accounts.list_keys("rg1", account.name)
    finally:
        arm_server.deny_list_keys(False)
    assert refused.value.status_code == 403
    assert refused.value.error is not None and refused.value.error.code == "AuthorizationFailed"


def test_a_wrong_bearer_token_is_refused(arm_server: EmulatorServer) -> None:
    client = management_client(StaticTokenCredential("wrong"), SUBSCRIPTION, arm_server.url)
    with pytest.raises(HttpResponseError) as refused:
        list(client.accounts.list())
    assert refused.value.status_code == 401


def test_serve_prints_the_resource_manager_settings(arm_server: EmulatorServer) -> None:
    from cvspec.emulator.command import arm_lines

    printed = dict(arm_lines(arm_server))
    token = StaticTokenCredential(printed["CVSPEC_ARM_TOKEN"])
    client = management_client(token, SUBSCRIPTION, printed["CVSPEC_ARM_ENDPOINT"])
    made = create(client, "CustomVision.Training")
    assert made.name in {a.name for a in arm_of_server(arm_server).accounts.list()}


def arm_of_server(server: EmulatorServer) -> CognitiveServicesManagementClient:
    return management_client(StaticTokenCredential(server.arm_token), SUBSCRIPTION, server.url)
