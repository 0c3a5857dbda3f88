"""The agreement invariant (issue 9): every call apply makes that changes something maps to
an operation of the plan it executes, and every planned operation is done or reported.

cvspec runs in-process (click's CliRunner) against an emulator served from the test process
with its call recorder on (cvspec.emulator.recorder); tests/agreement.py checks the calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cvspec.emulator.server import EmulatorServer
from cvspec.service import Service, Settings, make_service
from tests.agreement import Step, plan_and_apply
from tests.apply_support import SpecModel
from tests.helpers import emulator_env

_names = itertools.count()


@dataclass
class Recorded:
    server: EmulatorServer
    service: Service

    def env(self) -> dict[str, str]:
        return emulator_env(self.server)

    def step(self, model: SpecModel, root: Path, faults: object = None) -> Step:
        spec = model.write(root)
        return plan_and_apply(self.server, self.service, spec, self.env(), faults)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    with EmulatorServer(data_dir=tmp_path_factory.mktemp("emulator"), record=True) as server:
        settings = Settings(
            training_endpoint=server.training_endpoint,
            training_key=server.training_key,
            prediction_endpoint=server.prediction_endpoint,
            prediction_key=server.prediction_key,
            prediction_resource_id=server.prediction_resource_id,
        )
        yield Recorded(server, make_service(settings, target="emulator"))


def _model(prefix: str, **kw: object) -> SpecModel:
    seeds = iter(range(10_000))
    return SpecModel(
        name=f"{prefix}-{next(_names)}",
        tags={"red": "", "blue": ""},
        images={t: [next(seeds) for _ in range(5)] for t in ("red", "blue")},
        keep=2,
        **kw,  # type: ignore[arg-type]
    )


def test_first_apply_agrees(emu: Recorded, tmp_path: Path) -> None:
    model = _model("agree-first")
    step = emu.step(model, tmp_path)
    print(step.report())
    assert not step.violations, step.report()
    assert emu.step(model, tmp_path).plan.is_empty()


def test_publish_name_change(emu: Recorded, tmp_path: Path) -> None:
    model = _model("agree-rename")
    assert not emu.step(model, tmp_path).violations
    model.publish = "model-v2"
    step = emu.step(model, tmp_path)
    print(step.report())
    assert not step.violations, step.report()
