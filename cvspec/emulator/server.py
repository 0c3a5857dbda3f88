"""EmulatorServer: the emulator on a real loopback socket, served by uvicorn in a
background thread. Keys and resource ids persist in the data directory, so separate
processes that use the same directory talk to the same service."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from types import TracebackType

import uvicorn

from cvspec.emulator.app import create_app
from cvspec.emulator.backend import Backend
from cvspec.emulator.faults import FaultConfig, FaultMiddleware
from cvspec.emulator.limits import tier_limits
from cvspec.emulator.recorder import Recorder

START_TIMEOUT_SECONDS = 30.0
# The API gateway's 401 reads "HTTP/1.1 401 Access Denied" (docs/real-service-departures: the
# official SDK's exception then says "Operation returned an invalid status code 'Access
# Denied'"). ASGI cannot set a reason phrase, so uvicorn's table is changed; nothing else in
# the emulator answers 401.
GATEWAY_401_REASON = b"Access Denied"


def _gateway_reason_phrase() -> None:
    from uvicorn.protocols.http import h11_impl

    h11_impl.STATUS_PHRASES[401] = GATEWAY_401_REASON
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools is optional
        return
    httptools_impl.STATUS_LINE[401] = b"HTTP/1.1 401 " + GATEWAY_401_REASON + b"\r\n"


_gateway_reason_phrase()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class EmulatorServer:
    """A running (or startable) emulator. ``start()`` returns once it is listening."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        tier: str = "S0",
        training_key: str | None = None,
        prediction_key: str | None = None,
        prediction_resource_id: str | None = None,
        tps_limit: bool = False,
        faults: FaultConfig | None = None,
        record: bool = False,
        arm_token: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.tier = tier
        # as for `cvspec emulator serve`, the environment can turn these on
        self.tps_limit = tps_limit or _env_flag("CVSPEC_EMULATOR_TPS_LIMIT")
        self.faults = faults if faults is not None else FaultConfig.from_env()
        self.backend = Backend(self.data_dir, tier_limits(tier))
        # record=True: every mutating call that reaches the service is logged (recorder.py)
        self.recorder: Recorder | None = Recorder() if record else None
        self._app: FaultMiddleware | None = None
        self.training_key = self.backend.ensure_training_key(training_key)
        resource = self.backend.ensure_prediction_resource(prediction_resource_id, prediction_key)
        self.prediction_key = resource.key
        self.prediction_resource_id = resource.resource_id
        # Resource Manager: the bearer token it accepts (a static token credential's), and the
        # switch that refuses listKeys (403 AuthorizationFailed) for tests of a missing role
        self.arm_token = self.backend.ensure_arm_token(
            arm_token or os.environ.get("CVSPEC_EMULATOR_ARM_TOKEN")
        )
        self.backend.accounts.deny_list_keys = _env_flag("CVSPEC_EMULATOR_DENY_LIST_KEYS")
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- endpoints --------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def training_endpoint(self) -> str:
        return self.url

    @property
    def prediction_endpoint(self) -> str:
        return self.url

    @property
    def arm_endpoint(self) -> str:
        """Resource Manager's base URL (azure-mgmt's `base_url`)."""
        return self.url

    def deny_list_keys(self, deny: bool = True) -> None:
        """Refuse (or allow again) listKeys with 403 AuthorizationFailed."""
        self.backend.accounts.deny_list_keys = deny

    def add_prediction_resource(
        self, resource_id: str | None = None, key: str | None = None
    ) -> tuple[str, str]:
        """Register another prediction resource; returns its (resource id, key)."""
        resource = self.backend.add_prediction_resource(resource_id, key)
        return resource.resource_id, resource.key

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self.backend.public_url = self.url
        self.backend.accounts.public_url = self.url
        self.backend.start()
        app = create_app(
            self.backend,
            tps_limit=self.tps_limit,
            faults=self.faults,
            recorder=self.recorder,
            arm_token=self.arm_token,
        )
        inner = getattr(app, "app", None)
        self._app = inner if isinstance(inner, FaultMiddleware) else None
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="cvspec-emulator", daemon=True
        )
        self._thread.start()
        ready = threading.Event()
        while not self._server.started and self._thread.is_alive():
            ready.wait(0.01)
        if not self._server.started:
            raise RuntimeError("the emulator's HTTP server did not start")
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=START_TIMEOUT_SECONDS)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.backend.close()

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Change the fault injection of the running server (None: no faults)."""
        self.faults = faults
        if self._app is not None:
            self._app.configure(faults)

    def wait_for_training(self, timeout: float | None = None) -> bool:
        """Block until no training is queued or running (for tests and benchmarks)."""
        return self.backend.trainer.wait_idle(timeout)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
