"""cvspec.sdk in the small, fast: which policy a call is counted in (per API, per operation,
with its keyword arguments), when an endpoint counts as reached, how a Retry-After that is
not a number falls back to backoff, what a refusal without the service's error body becomes,
and the few words a transport failure is reduced to when it hides behind `.reason` or behind
a sibling exception. Real SDK clients and exceptions (msrest builds them from a real
requests.Response, as the SDK does), no sleeps."""

from __future__ import annotations

import functools
import json
import socket
import uuid
from pathlib import Path

import pytest
import requests
import urllib3.exceptions
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.exceptions import ClientRequestError, DeserializationError

from cvspec import sdk
from cvspec.errors import ServiceError
from cvspec.ratelimit import RateLimiter
from cvspec.service import Settings, make_service
from tests.apply_support import emulator


def test_a_plain_callable_is_counted_under_its_name_or_as_call() -> None:
    policy = sdk.configure("", rate=1000)  # no client: the policy of no endpoint

    def answer(value: int, *, plus: int = 0) -> int:
        return value + plus

    assert sdk.call(answer, 1, plus=2) == 3  # keyword arguments reach the function
    assert sdk.call(functools.partial(answer, 5)) == 5  # a partial has no __name__
    assert policy.stats.calls == {"answer": 1, "call": 1}


def test_prediction_calls_count_in_the_prediction_policy(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        prediction = emu.service.prediction
        assert prediction is not None
        endpoint = emu.server.prediction_endpoint
        predicting = sdk.configure(endpoint, rate=1000, kind="prediction")
        training = sdk.configure(endpoint, rate=1000, kind="training")
        with pytest.raises(ServiceError):
            sdk.call(prediction.classify_image_url, str(uuid.uuid4()), "nope", url="http://x/a.png")
        assert predicting.stats.calls == {"classify_image_url": 1}
        assert training.stats.total_calls == 0


def test_a_successful_call_marks_the_endpoint_reached(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:  # a new port: a policy nothing has used yet
        policy = sdk.configure(emu.service.endpoint, rate=1000)
        assert policy.reached is False
        project = sdk.call(emu.service.training.create_project, "reached", description="said")
        assert project.description == "said"  # keyword arguments reach the SDK
        assert policy.reached is True


def _deserializer() -> object:
    service = make_service(Settings("https://example.invalid", "key"), target="test")
    return service.training._deserialize


def _refusal(status: int, body: bytes, headers: dict[str, str] | None = None) -> Exception:
    """The exception the SDK raises for an answer with this status, body and headers."""
    response = requests.Response()
    response.status_code = status
    response.reason = {429: "Too Many Requests", 502: "Bad Gateway"}.get(status, "Refused")
    response.url = "https://example.invalid/customvision/v3.4-preview/training/projects"
    response._content = body
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    return CustomVisionErrorException(_deserializer(), response)


def test_a_refusal_without_the_service_error_body_keeps_the_sdk_message() -> None:
    policy = sdk.Policy(limiter=RateLimiter(1000), retries=0)
    gateway = _refusal(502, b"<html>Bad gateway</html>")
    with pytest.raises(ServiceError) as failed:
        sdk._retryable(gateway, 0, policy)
    assert str(failed.value) == "Operation returned an invalid status code 'Bad Gateway'"
    assert (failed.value.code, failed.value.status) == (None, 502)
    coded = _refusal(502, json.dumps({"code": "BadGateway"}).encode())
    with pytest.raises(ServiceError) as failed:
        sdk._retryable(coded, 0, policy)
    assert (
        str(failed.value) == "BadGateway: Operation returned an invalid status code 'Bad Gateway'"
    )


def test_a_retry_after_that_is_not_a_positive_number_falls_back_to_backoff() -> None:
    for header in ("soon", "Wed, 21 Oct 2015 07:28:00 GMT", "-3", "0"):
        policy = sdk.Policy(limiter=RateLimiter(1000))
        throttled = _refusal(429, b"{}", {"Retry-After": header})
        delay, reason = sdk._retryable(throttled, 0, policy)
        assert reason == "429" and sdk.BACKOFF_BASE / 2 <= delay <= sdk.BACKOFF_BASE, header
        assert policy.limiter.acquire() == 0.0  # nobody else is held
    policy = sdk.Policy(limiter=RateLimiter(1000))
    delay, _ = sdk._retryable(_refusal(429, b"{}", {"Retry-After": "2"}), 0, policy)
    assert delay == 2.0


def test_backoff_jitter_spans_half_to_all_of_the_step() -> None:
    delays = [sdk._backoff(2) for _ in range(500)]  # step 1 s
    assert min(delays) >= 0.5 and max(delays) <= 1.0
    assert max(delays) > 0.9 and min(delays) < 0.6  # 500 draws: each misses with p < 1e-20


def test_a_cause_behind_reason_or_a_sibling_is_found() -> None:
    refused = ConnectionRefusedError(111, "refused")
    # urllib3's MaxRetryError keeps its cause in `.reason` only (its message is a repr)
    pool_error = urllib3.exceptions.MaxRetryError(None, "/x", reason=refused)  # type: ignore[arg-type]
    assert sdk.unreachable_reason(pool_error) == "connection refused"
    # the cause is one of two arguments, the other one explored first
    assert sdk.unreachable_reason(OSError(refused, ValueError("other"))) == "connection refused"


def test_a_connection_error_without_words_is_cannot_connect() -> None:
    bare = urllib3.exceptions.NewConnectionError(None, "Failed to establish: ")  # type: ignore[arg-type]
    wrapped = ClientRequestError("Error", requests.exceptions.ConnectionError(bare))
    assert sdk.unreachable_reason(wrapped) == "cannot connect"
    assert sdk.transport_reason(wrapped) == "cannot connect"
    dns = socket.gaierror(-2, "Name or service not known")
    assert sdk.unreachable_reason(OSError("x", dns)) == "host name not found (DNS)"


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("", ""),
        (" \n ", ""),
        ("'Xabc')\nmore", "Xabc"),
        ("  'quoted' ) ", "quoted"),
        ("Xone\ttwoX", "Xone\ttwoX"),
    ],
)
def test_first_line_strips_quotes_and_brackets_only(text: str, first: str) -> None:
    assert sdk._first_line(text) == first


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://host.example:8443/customvision/v3.4?x=1", "https://host.example:8443"),
        ("", ""),
        ("host.example", "host.example"),
        ("//host.example/path", "//host.example/path"),
        ("file:relative", "file:relative"),
    ],
)
def test_origin_is_scheme_and_host_or_the_endpoint_as_given(endpoint: str, origin: str) -> None:
    assert sdk._origin(endpoint) == origin


def test_an_unreachable_endpoint_without_a_url_is_named_without_one() -> None:
    policy = sdk.Policy(limiter=RateLimiter(1000), retries=0)
    with pytest.raises(ServiceError) as failed:
        sdk._retryable(ConnectionRefusedError(111, "refused"), 0, policy)  # no endpoint given
    assert str(failed.value) == "cannot reach the Custom Vision endpoint: connection refused"


def test_the_last_dropped_connection_is_named_in_a_few_words() -> None:
    policy = sdk.Policy(limiter=RateLimiter(1000), retries=1, reached=True)
    dropped = ClientRequestError("Error", requests.exceptions.ConnectionError("reset"))
    dropped.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    delay, reason = sdk._retryable(dropped, 0, policy, "https://h.example/x")
    assert reason == "connection" and sdk.BACKOFF_BASE / 2 <= delay <= sdk.BACKOFF_BASE
    with pytest.raises(ServiceError) as failed:
        sdk._retryable(dropped, 1, policy, "https://h.example/x")
    assert str(failed.value) == (
        "cannot reach the Custom Vision endpoint https://h.example: the connection was dropped"
    )


def test_an_answer_cut_off_is_retried_then_named() -> None:
    policy = sdk.Policy(limiter=RateLimiter(1000), retries=1)
    cut = DeserializationError("Unterminated string at char 40\nthe rest")
    delay, reason = sdk._retryable(cut, 0, policy)
    assert reason == "truncated" and sdk.BACKOFF_BASE / 2 <= delay <= sdk.BACKOFF_BASE
    with pytest.raises(ServiceError) as failed:
        sdk._retryable(cut, 1, policy)
    assert str(failed.value) == (
        "unreadable answer from the service: Unterminated string at char 40"
    )


def test_after_a_call_the_sdk_itself_retries_nothing(tmp_path: Path) -> None:
    with emulator(tmp_path) as emu:
        client = emu.service.training
        sdk.configure(emu.service.endpoint, rate=1000)
        assert sdk.call(client.get_projects) == []
        retry = client.config.retry_policy.policy  # the urllib3 Retry the SDK sends with
        with pytest.raises(urllib3.exceptions.MaxRetryError):  # a dropped GET: not again
            retry.increment("GET", "/projects", error=urllib3.exceptions.ProtocolError("cut"))
        for status in (429, 500, 503):
            assert not retry.is_retry("GET", status, has_retry_after=True)


def test_one_policy_per_endpoint_whatever_its_case_or_trailing_slash() -> None:
    host = f"https://{uuid.uuid4().hex}.example"
    assert sdk.policy_for(host) is sdk.policy_for(host.upper() + "/", "training")
    # only slashes are trimmed: endpoints that differ in a last letter stay apart
    assert sdk.policy_for(host + ".X") is not sdk.policy_for(host + ".")
