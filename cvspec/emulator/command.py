"""``cvspec emulator serve``: run the emulator until SIGINT/SIGTERM and print its endpoints
and keys as shell-sourceable ``NAME=value`` lines (the names Microsoft's samples read), and
its Resource Manager's URL and token. CVSPEC_EMULATOR_ARM_TOKEN fixes the token;
CVSPEC_EMULATOR_DENY_LIST_KEYS=1 makes listKeys answer 403 AuthorizationFailed."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from cvspec.emulator.faults import FAULT_KINDS, FaultConfig
from cvspec.emulator.limits import TIERS

if TYPE_CHECKING:
    from cvspec.emulator.server import EmulatorServer

DEFAULT_DATA_DIR = Path(".cvspec") / "emulator"


@click.group()
def emulator() -> None:
    """The built-in offline Custom Vision emulator."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="CVSPEC_EMULATOR_HOST")
@click.option(
    "--port",
    default=0,
    type=int,
    envvar="CVSPEC_EMULATOR_PORT",
    help="TCP port; 0 picks a free one.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    envvar="CVSPEC_EMULATOR_DATA",
    help="Where the emulator keeps its state (SQLite + images).",
)
@click.option(
    "--tier",
    type=click.Choice(sorted(TIERS)),
    default="S0",
    show_default=True,
    envvar="CVSPEC_EMULATOR_TIER",
)
@click.option(
    "--training-key",
    envvar="CVSPEC_EMULATOR_TRAINING_KEY",
    help="Fix the training key (default: generated once, kept in the data dir).",
)
@click.option(
    "--prediction-key",
    envvar="CVSPEC_EMULATOR_PREDICTION_KEY",
    help="Fix the prediction resource's key.",
)
@click.option(
    "--prediction-resource-id",
    envvar="CVSPEC_EMULATOR_PREDICTION_RESOURCE_ID",
    help="Fix the prediction resource's ARM id.",
)
@click.option(
    "--extra-prediction-resource",
    "extra_resources",
    multiple=True,
    metavar="KEY=RESOURCE_ID",
    help="Another prediction resource (repeatable); printed as VISION_PREDICTION_KEY_2 etc.",
)
@click.option(
    "--tps-limit/--no-tps-limit",
    default=False,
    envvar="CVSPEC_EMULATOR_TPS_LIMIT",
    help="Throttle to the tier's transactions per second (429 + Retry-After).",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    envvar="CVSPEC_EMULATOR_FAULT_RATE",
    help="Share of API requests that get an injected fault.",
)
@click.option(
    "--fault-kind",
    "fault_kinds",
    multiple=True,
    type=click.Choice(FAULT_KINDS),
    help="Fault kinds to inject (repeatable; default: all).",
)
@click.option(
    "--fault-slow-seconds",
    type=float,
    default=2.0,
    show_default=True,
    help="Delay of a 'slow' fault.",
)
def serve(
    host: str,
    port: int,
    data_dir: Path,
    tier: str,
    training_key: str | None,
    prediction_key: str | None,
    prediction_resource_id: str | None,
    extra_resources: tuple[str, ...],
    tps_limit: bool,
    fault_rate: float | None,
    fault_kinds: tuple[str, ...],
    fault_slow_seconds: float,
) -> None:
    """Serve the Training and Prediction APIs until interrupted."""
    from cvspec.emulator.server import EmulatorServer

    faults = (
        FaultConfig(
            rate=fault_rate, kinds=fault_kinds or FAULT_KINDS, slow_seconds=fault_slow_seconds
        )
        if fault_rate
        else FaultConfig.from_env()
    )
    server = EmulatorServer(
        data_dir,
        host=host,
        port=port,
        tier=tier,
        training_key=training_key,
        prediction_key=prediction_key,
        prediction_resource_id=prediction_resource_id,
        tps_limit=tps_limit,
        faults=faults,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    extra = []
    for spec in extra_resources:
        key, sep, resource_id = spec.partition("=")
        if not sep or not key or not resource_id:
            raise click.BadParameter(
                f"{spec!r} is not KEY=RESOURCE_ID", param_hint="--extra-prediction-resource"
            )
        extra.append(server.add_prediction_resource(resource_id, key))
    server.start()
    try:
        lines = environment_lines(server)
        for number, (resource_id, key) in enumerate(extra, start=2):
            lines += [
                (f"VISION_PREDICTION_KEY_{number}", key),
                (f"VISION_PREDICTION_RESOURCE_ID_{number}", resource_id),
            ]
        lines += arm_lines(server)
        for name, value in lines:
            click.echo(f"{name}={shlex.quote(value)}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    click.echo("# cvspec emulator stopped", err=True)


def environment_lines(server: EmulatorServer) -> list[tuple[str, str]]:
    """The ``VISION_*`` variables Microsoft's samples read, for a started server."""
    return [
        ("VISION_TRAINING_ENDPOINT", server.training_endpoint),
        ("VISION_TRAINING_KEY", server.training_key),
        ("VISION_PREDICTION_ENDPOINT", server.prediction_endpoint),
        ("VISION_PREDICTION_KEY", server.prediction_key),
        ("VISION_PREDICTION_RESOURCE_ID", server.prediction_resource_id),
    ]


def arm_lines(server: EmulatorServer) -> list[tuple[str, str]]:
    """Resource Manager's URL and bearer token (a spec's resources section), printed last."""
    return [("CVSPEC_ARM_ENDPOINT", server.arm_endpoint), ("CVSPEC_ARM_TOKEN", server.arm_token)]
