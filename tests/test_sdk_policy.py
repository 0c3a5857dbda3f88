"""cvspec.sdk's retry policy through the official SDK, in-process: an endpoint that cannot be
reached fails fast with one line, a refused key is not retried and says so, the retry budget
ends in the service's own error, policies are per endpoint and per API; and the few words
each transport failure is reduced to (real exception types, as urllib3, requests and the
socket layer raise them)."""

from __future__ import annotations

import http.client
import socket
import ssl
import uuid
from pathlib import Path

import pytest
import requests
import urllib3.exceptions
from msrest.exceptions import ClientRequestError

from cvspec import sdk
from cvspec.emulator.faults import FaultConfig
from cvspec.errors import ServiceError
from cvspec.service import Settings, make_service
from tests.apply_support import emulator


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_endpoint_that_never_answered_fails_fast_with_one_line() -> None:
    port = _closed_port()
    endpoint = f"http://127.0.0.1:{port}/some/path"
    service = make_service(Settings(endpoint, "key"), target="test")
    notices: list[sdk.RetryNotice] = []
    policy = sdk.configure(endpoint, rate=1000, on_retry=notices.append)
    with pytest.raises(ServiceError) as refused:
        sdk.call(service.training.get_projects)
    assert str(refused.value) == (
        f"cannot reach the Custom Vision endpoint http://127.0.0.1:{port}: connection refused"
    )
    assert policy.stats.calls == {"get_projects": sdk.UNREACHABLE_RETRIES + 1}
    assert [(n.operation, n.attempt, n.reason) for n in notices] == [
        ("get_projects", 1, "connection"),
        ("get_projects", 2, "connection"),
    ]
    assert not policy.reached


def test_a_wrong_key_is_refused_once_in_plain_words(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        wrong = make_service(Settings(emu.server.training_endpoint, "wrong-key"), target="test")
        policy = sdk.configure(emu.server.training_endpoint, rate=1000)
        with pytest.raises(ServiceError) as refused:
            sdk.call(wrong.training.get_projects)
        assert refused.value.status == 401
        assert str(refused.value).endswith(
            "access denied: the key is invalid or does not belong to this endpoint"
        )
        assert policy.stats.total_calls == 1 and policy.reached


def test_the_retry_budget_ends_with_the_service_error(tmp_path: Path) -> None:
    with emulator(tmp_path, faults=FaultConfig(rate=1.0, kinds=("503",))) as emu:
        notices: list[sdk.RetryNotice] = []
        policy = sdk.configure(emu.service.endpoint, rate=1000, retries=2, on_retry=notices.append)
        with pytest.raises(ServiceError) as failed:
            sdk.call(emu.service.training.get_projects)
        assert str(failed.value) == ("ErrorServerTimeOut: The service is temporarily unavailable.")
        assert (failed.value.status, failed.value.code) == (503, "ErrorServerTimeOut")
        assert policy.stats.calls == {"get_projects": 3}
        assert policy.stats.retries == {"503": 2}
        # exponential backoff with jitter: 0.25 s then 0.5 s, each between half and all of it
        assert [n.attempt for n in notices] == [1, 2]
        assert 0.125 <= notices[0].delay <= 0.25 and 0.25 <= notices[1].delay <= 0.5


def test_each_endpoint_and_api_has_its_own_policy() -> None:
    host = f"https://{uuid.uuid4().hex}.example"  # policies live as long as the process
    training = sdk.policy_for(host.upper() + "/", "training")
    assert sdk.policy_for(host, "training") is training
    assert sdk.policy_for(host, "prediction") is not training
    assert sdk.policy_for(host + ".other", "training") is not training
    assert training.limiter.rate == sdk.DEFAULT_RATE
    configured = sdk.configure(host, rate=3, retries=1)
    assert configured is training and training.limiter.rate == 3 and training.retries == 1
    training.stats.count("x")
    again = sdk.configure(host)
    assert again.limiter.rate == 3 and again.retries == 1 and again.stats.total_calls == 0


def test_backoff_doubles_up_to_its_ceiling_with_jitter() -> None:
    for attempt, full in [(0, 0.25), (1, 0.5), (3, 2.0), (5, 8.0), (9, 8.0)]:
        for _ in range(20):
            assert full / 2 <= sdk._backoff(attempt) <= full


class _Pool:
    """What urllib3 errors name as their source (only its repr is used)."""

    def __repr__(self) -> str:
        return "pool"


def _wrapped(inner: BaseException) -> ClientRequestError:
    """As msrest raises it: a ClientRequestError over requests' error over urllib3's."""
    outer = requests.exceptions.ConnectionError(inner)
    return ClientRequestError("Error occurred in request.", outer)


@pytest.mark.parametrize(
    ("exc", "unreachable", "transport"),
    [
        (ConnectionRefusedError(111, "refused"), "connection refused", "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "host name not found (DNS)", None),
        (
            urllib3.exceptions.NameResolutionError("h", None, socket.gaierror(-2, "x")),  # type: ignore[arg-type]
            "host name not found (DNS)",
            None,
        ),
        (
            urllib3.exceptions.NewConnectionError(
                None, "Failed to establish: [Errno 101] No route"
            ),  # type: ignore[arg-type]
            "[Errno 101] No route",
            None,
        ),
        (
            urllib3.exceptions.ConnectTimeoutError(None, "timed out"),
            "connection timed out",
            None,
        ),
        (TimeoutError("timed out"), "connection timed out", None),
        (ssl.SSLError(1, "bad handshake"), None, "TLS/SSL error"),
        (
            urllib3.exceptions.ReadTimeoutError(_Pool(), "/x", "Read timed out."),  # type: ignore[arg-type]
            None,
            "no answer in time (read timed out)",
        ),
        (ConnectionResetError(104, "reset"), None, "the connection was dropped"),
        (http.client.RemoteDisconnected("closed"), None, "the connection was dropped"),
        (requests.exceptions.ChunkedEncodingError("cut"), None, "the connection was dropped"),
    ],
)
def test_transport_failures_are_named_in_a_few_words(
    exc: BaseException, unreachable: str | None, transport: str | None
) -> None:
    for raised in (exc, _wrapped(exc)):
        assert sdk.unreachable_reason(raised) == unreachable
        assert sdk.transport_reason(raised) == (transport or unreachable)


def test_an_unknown_transport_failure_is_its_first_line() -> None:
    assert sdk.transport_reason(OSError("first line\nsecond")) == "first line"
    assert sdk.transport_reason(OSError()) == "OSError"
    assert sdk.transport_reason(OSError("x" * 300)) == "x" * 200
    looped = OSError("loop")
    looped.__context__ = looped  # a cycle of causes ends
    assert sdk.unreachable_reason(looped) is None
