"""The spec's resources section through the CLI: accounts planned, created through Resource
Manager, trained on and published to, predicted through; keys never in a plan file or in
the output; bad accounts refused in one line with nothing created. Resource Manager is the
emulator's, checked with the official management SDK and a static token (never the network).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices import models as m
from click.testing import CliRunner, Result

from cvspec.arm_client import StaticTokenCredential, management_client
from cvspec.cli import main
from cvspec.emulator.server import EmulatorServer
from tests.helpers import clean_env, copy_example

SUB = "11111111-2222-3333-4444-555555555555"
MIXED = """
  prediction_resource: {prediction}
resources:
  subscription: {subscription}
  resource_group: cv-rg
  location: westeurope
  training:
    name: {training}
    kind: CustomVision.Training
    sku: {sku}
  prediction:
    - name: {prediction}
      kind: CognitiveServices
"""
ONE_ACCOUNT = """
resources:
  subscription: {subscription}
  resource_group: cv-rg
  location: westeurope
  training: {{name: {name}, kind: CognitiveServices}}
  prediction: [{{name: {name}, kind: CognitiveServices}}]
"""


def spec_with(tmp_path: Path, section: str, **values: str) -> Path:
    spec = copy_example(tmp_path)
    text = spec.read_text()
    if "destroy_with_project" in values:
        section += f"  destroy_with_project: {values.pop('destroy_with_project')}\n"
    spec.write_text(text + section.format(subscription=SUB, **values).lstrip("\n"))
    return spec


def cli(env: dict[str, str], *args: str | Path) -> Result:
    return CliRunner(env={**env, "COLUMNS": "100"}).invoke(main, [str(a) for a in args])


def arm_of(server: EmulatorServer) -> CognitiveServicesManagementClient:
    return management_client(StaticTokenCredential(server.arm_token), SUB, server.arm_endpoint)


def names(arm: CognitiveServicesManagementClient) -> dict[str, tuple[str, str]]:
    return {a.name: (a.kind, a.sku.name) for a in arm.accounts.list()}


def all_keys(arm: CognitiveServicesManagementClient) -> list[str]:
    found = []
    for account in arm.accounts.list():
        keys = arm.accounts.list_keys("cv-rg", account.name)
        found += [keys.key1, keys.key2]
    return found


def test_built_in_emulator_mixed_accounts_plan_apply_predict_destroy(tmp_path: Path) -> None:
    """No Azure settings: the built-in emulator serves Resource Manager too."""
    spec = spec_with(tmp_path, MIXED, training="cvtrain", prediction="cvservices", sku="S0")
    env = clean_env(NO_COLOR="1")
    saved = tmp_path / "accounts.plan"

    planned = cli(env, "plan", spec, "-out", saved)
    assert planned.exit_code == 0, planned.output
    assert "+ account.cvtrain" in planned.output and "+ account.cvservices" in planned.output
    assert (
        "Accounts: create cvservices (CognitiveServices, S0); "
        "create cvtrain (CustomVision.Training, S0)." in planned.output
    )

    applied = cli(env, "apply", saved)
    assert applied.exit_code == 0, applied.output
    assert "published cvspec-" in applied.output
    image = next((tmp_path / "digits" / "seven").glob("*.png"))
    predicted = cli(env, "predict", spec, image)
    assert predicted.exit_code == 0, predicted.output
    assert predicted.output.splitlines()[1].split()[0] == "seven"
    again = cli(env, "plan", spec, "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    state = tmp_path / ".cvspec" / "emulator"
    with EmulatorServer(state) as server:  # the state the commands left, read between them
        published = server.backend.store.all("SELECT publish_resource_id FROM iterations")
    assert [row[0] for row in published] == [
        f"/subscriptions/{SUB}/resourceGroups/cv-rg/providers/Microsoft.CognitiveServices"
        "/accounts/cvservices"
    ]

    destroyed = cli(env, "destroy", spec, "--auto-approve")
    assert destroyed.exit_code == 0, destroyed.output
    with EmulatorServer(state) as server:
        arm = arm_of(server)
        assert names(arm) == {
            "cvtrain": ("CustomVision.Training", "S0"),
            "cvservices": ("CognitiveServices", "S0"),
        }  # destroy leaves accounts alone by default
        keys = all_keys(arm)
    shown = saved.read_text() + "".join(
        r.output for r in (planned, applied, predicted, again, destroyed)
    )
    assert len(keys) == 4 and not [key for key in keys if key in shown]
    # nor in any file cvspec wrote (the hash cache, ...), the emulator's own database aside
    written = [
        path.read_bytes()
        for path in tmp_path.rglob("*")
        if path.is_file() and state not in path.parents
    ]
    assert not [key for key in keys for data in written if key.encode() in data]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(tmp_path / "azure") as running:
        yield running


def arm_env(server: EmulatorServer) -> dict[str, str]:
    """cvspec pointed at a Resource Manager by URL and token, as at Azure."""
    return clean_env(
        NO_COLOR="1", CVSPEC_ARM_ENDPOINT=server.arm_endpoint, CVSPEC_ARM_TOKEN=server.arm_token
    )


def test_one_ai_services_account_trains_and_publishes(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = spec_with(tmp_path, ONE_ACCOUNT, name="cvboth")
    env = arm_env(server)
    applied = cli(env, "apply", spec, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert 'role     = "training+prediction"' in applied.output
    assert names(arm_of(server)) == {"cvboth": ("CognitiveServices", "S0")}
    image = next((tmp_path / "digits" / "zero").glob("*.png"))
    predicted = cli(env, "predict", spec, image)
    assert predicted.exit_code == 0, predicted.output
    assert predicted.output.splitlines()[1].split()[0] == "zero"


def test_changed_sku_plans_an_update_and_destroy_can_take_accounts(
    tmp_path: Path, server: EmulatorServer
) -> None:
    values = {"training": "cvtrain", "prediction": "cvservices"}
    spec = spec_with(tmp_path, MIXED, sku="S0", destroy_with_project="true", **values)
    env = arm_env(server)
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    spec.write_text(spec.read_text().replace("sku: S0", "sku: F0"))

    planned = cli(env, "plan", spec, "--format", "json")
    assert planned.exit_code == 0, planned.output
    assert '"account": {\n        "add": 0,\n        "change": 1,' in planned.output
    text = cli(env, "plan", spec)
    assert "~ account.cvtrain" in text.output and '~ sku = "S0" -> "F0"' in text.output
    assert cli(env, "apply", spec, "--auto-approve").exit_code == 0
    assert names(arm_of(server))["cvtrain"] == ("CustomVision.Training", "F0")

    destroyed = cli(env, "destroy", spec, "--auto-approve")
    assert destroyed.exit_code == 0, destroyed.output
    assert "  - account.cvtrain  # resources.destroy_with_project is true" in destroyed.output
    assert names(arm_of(server)) == {}  # destroy_with_project: true


def one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_an_existing_account_of_another_kind_is_refused_at_plan_time(
    tmp_path: Path, server: EmulatorServer
) -> None:
    arm = arm_of(server)
    body = m.Account(kind="CustomVision.Prediction", sku=m.Sku(name="S0"), location="westeurope")
    arm.accounts.begin_create("cv-rg", "cvservices", body).result()
    spec = spec_with(tmp_path, MIXED, training="cvtrain", prediction="cvservices", sku="S0")
    for command in (("plan", spec), ("apply", spec, "--auto-approve")):
        result = cli(arm_env(server), *command)
        one_line_error(
            result,
            "resources.prediction[0] (cvservices)",
            "exists with kind CustomVision.Prediction, the spec says CognitiveServices",
        )
    assert set(names(arm)) == {"cvservices"}  # nothing created


def test_refused_list_keys_is_one_line_naming_the_account(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = spec_with(tmp_path, ONE_ACCOUNT, name="cvboth")
    arm = arm_of(server)
    body = m.Account(kind="CognitiveServices", sku=m.Sku(name="S0"), location="westeurope")
    arm.accounts.begin_create("cv-rg", "cvboth", body).result()
    server.deny_list_keys()
    result = cli(arm_env(server), "apply", spec, "--auto-approve")
    one_line_error(
        result,
        "resources.training (cvboth): Resource Manager refused to list keys of the account: "
        "AuthorizationFailed",
        "Cognitive Services Contributor",
    )
    server.deny_list_keys(False)
    assert server.backend.store.all("SELECT id FROM projects") == []  # nothing created


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        ({"kind: CognitiveServices": "kind: Face"}, "resources.prediction[0].kind: unknown kind"),
        ({"sku: S0": "sku: P1"}, "resources.training.sku: kind CustomVision.Training does not"),
        ({"location: westeurope": "location: atlantis"}, "unknown location 'atlantis'"),
    ],
)
def test_bad_kind_sku_location_one_line_nothing_created(
    tmp_path: Path, server: EmulatorServer, edit: dict[str, str], where: str
) -> None:
    spec = spec_with(tmp_path, MIXED, training="cvtrain", prediction="cvservices", sku="S0")
    text = spec.read_text()
    for old, new in edit.items():
        text = text.replace(old, new)
    spec.write_text(text)
    result = cli(arm_env(server), "apply", spec, "--auto-approve")
    assert result.exit_code == 1
    problems = result.output.strip().splitlines()
    assert len(problems) == 2 and where in problems[0], result.output  # + "Error: ..." summary
    assert problems[0].startswith("digits.yaml:") or ".yaml:" in problems[0]
    assert names(arm_of(server)) == {}


def test_a_refused_identity_is_one_line_naming_the_account(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = spec_with(tmp_path, ONE_ACCOUNT, name="cvboth")
    env = {**arm_env(server), "CVSPEC_ARM_TOKEN": "not-the-token"}
    planned = cli(env, "plan", spec)
    one_line_error(
        planned,
        "resources.training (cvboth): Resource Manager refused to read the account: "
        "AuthenticationFailed",
        "sign in: az login",
    )
    assert names(arm_of(server)) == {}


def test_plan_names_resource_manager_as_the_target_until_the_account_exists(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = spec_with(tmp_path, ONE_ACCOUNT, name="cvboth")
    planned = cli(arm_env(server), "plan", spec)
    first = planned.output.splitlines()[0]
    assert first == f"Target: 127.0.0.1:{server.port}, project 'digits-example'", first
    image = next((tmp_path / "digits" / "zero").glob("*.png"))
    one_line_error(
        cli(arm_env(server), "predict", spec, image),
        "the spec's training account does not exist yet; run `cvspec apply`",
    )


def test_a_saved_plan_whose_account_appeared_since_is_stale(
    tmp_path: Path, server: EmulatorServer
) -> None:
    spec = spec_with(tmp_path, ONE_ACCOUNT, name="cvboth")
    saved = tmp_path / "saved.plan"
    assert cli(arm_env(server), "plan", spec, "-out", saved).exit_code == 0
    body = m.Account(kind="CognitiveServices", sku=m.Sku(name="S0"), location="westeurope")
    arm_of(server).accounts.begin_create("cv-rg", "cvboth", body).result()
    applied = cli(arm_env(server), "apply", saved)
    one_line_error(applied, "Saved plan is stale: account cvboth now exists (CognitiveServices")
    assert server.backend.store.all("SELECT id FROM projects") == []
