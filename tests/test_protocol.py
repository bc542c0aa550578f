"""Pure tests of the sans-IO endpoint protocol: body building, response parsing, planning, error handling.

The retry / cold-start / splitting state machine is driven here by a scripted list of outcomes (no sockets):
that is the point of keeping it I/O-free. The same machine is exercised over real loopback HTTP in
tests/test_endpoint_client.py.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hf_pinecone import RetryPolicy
from hf_pinecone._protocol import (
    DEFAULT_BATCH_SIZE,
    MAX_DISCOVERED_BATCH_SIZE,
    ConcurrencyPolicy,
    EndpointProtocol,
    Flow,
    Get,
    Outcome,
    Response,
    Send,
    Sleep,
    TransportFailure,
    assemble,
    batch_size_from_info,
    build_body,
    check_texts,
    check_url,
    classify_error,
    info_url,
    is_loopback_host,
    learned_batch_size,
    parse_embeddings,
    server_message,
)
from hf_pinecone.errors import (
    ConfigurationError,
    EndpointAuthError,
    EndpointRequestError,
    EndpointResponseError,
    EndpointUnavailableError,
    InsecureTransportError,
)

URL = "https://xyz.endpoints.huggingface.cloud"
FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05)


# ------------------------------------------------------------------ bodies and inputs
def test_body_has_inputs_and_only_the_options_that_are_set() -> None:
    assert json.loads(build_body(["a", "b"])) == {"inputs": ["a", "b"]}
    body = json.loads(build_body(["a"], normalize=False, truncate=True, prompt_name="query"))
    assert body == {"inputs": ["a"], "normalize": False, "truncate": True, "prompt_name": "query"}


def test_body_is_compact_utf8() -> None:
    assert build_body(["é"]) == '{"inputs":["é"]}'.encode()


def test_check_texts_names_the_bad_position() -> None:
    with pytest.raises(TypeError, match=r"texts\[2\] must be str, got int"):
        check_texts(["a", "b", 3])
    with pytest.raises(TypeError, match="single string"):
        check_texts("abc")
    assert check_texts(("a", "b")) == ["a", "b"]


# ------------------------------------------------------------------ URL safety
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "api.localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)
    assert check_url(f"http://{host}:8080", has_token=True, allow_insecure_http=False)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.5", "localhost.example.com", "[2001:db8::1]"])
def test_token_over_plain_http_to_remote_host_is_refused(host: str) -> None:
    with pytest.raises(InsecureTransportError, match="plain http"):
        check_url(f"http://{host}/", has_token=True, allow_insecure_http=False)
    # Without a token, or with the opt-in, or over https, it is allowed.
    check_url(f"http://{host}/", has_token=False, allow_insecure_http=False)
    check_url(f"http://{host}/", has_token=True, allow_insecure_http=True)
    check_url(f"https://{host}/", has_token=True, allow_insecure_http=False)


@pytest.mark.parametrize("url", ["ftp://x.com", "xyz.endpoints.huggingface.cloud", "", "https://u:p@x.com"])
def test_invalid_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_url(url, has_token=False, allow_insecure_http=False)


# ------------------------------------------------------------------ response shapes
def test_toolkit_shape_2d_and_flat() -> None:
    assert parse_embeddings(b'{"embeddings": [[1, 2], [3, 4]]}', expected=2) == [[1.0, 2.0], [3.0, 4.0]]
    assert parse_embeddings(b'{"embeddings": [1, 2.5]}', expected=1) == [[1.0, 2.5]]
    out = parse_embeddings(b'{"embeddings": [[1, 2]]}', expected=1)
    assert all(isinstance(x, float) for x in out[0])


def test_tei_bare_2d() -> None:
    assert parse_embeddings(b"[[0.5, 1], [2, 3]]", expected=2) == [[0.5, 1.0], [2.0, 3.0]]


def test_openai_shape_is_ordered_by_index() -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [2.0, 2.0], "index": 1},
            {"object": "embedding", "embedding": [1.0, 1.0], "index": 0},
        ],
        "model": "m",
    }
    assert parse_embeddings(json.dumps(body).encode(), expected=2) == [[1.0, 1.0], [2.0, 2.0]]


def test_three_d_token_level_output_explains_the_fix() -> None:
    with pytest.raises(EndpointResponseError, match="token-level") as info:
        parse_embeddings(b"[[[1, 2], [3, 4]], [[5, 6]]]", expected=2, url=URL)
    message = str(info.value)
    assert "sentence-embeddings" in message and "text-embeddings-inference" in message
    assert URL in message
    with pytest.raises(EndpointResponseError, match="token-level"):
        parse_embeddings(b'{"embeddings": [[[1, 2], [3, 4]]]}', expected=1)


@pytest.mark.parametrize(
    ("body", "expected", "match"),
    [
        (b"[[1, 2]]", 2, "expected 2 vectors, got 1"),
        (b"[[1, 2], [1, 2, 3]]", 2, "dimension 3"),
        (b"[[1, NaN]]", 1, "non-finite"),
        (b"[[1, Infinity]]", 1, "non-finite"),
        (b'[[1, "x"]]', 1, "non-number"),
        (b"[[1, true]]", 1, "non-number"),
        (b"[[]]", 1, "non-empty"),
        (b"not json", 1, "not JSON"),
        (b'{"foo": 1}', 1, "unknown JSON object"),
        (b'{"error": "boom"}', 1, "boom"),
        (b'"x"', 1, "expected a list"),
        (b"[1, 2]", 2, "one flat vector for 2 inputs"),
        (b'{"data": [{"embedding": "AAAA", "index": 0}]}', 1, "base64"),
        (b'{"data": [{"embedding": [1], "index": 3}]}', 1, "indexes"),
    ],
)
def test_malformed_responses(body: bytes, expected: int, match: str) -> None:
    with pytest.raises(EndpointResponseError, match=match):
        parse_embeddings(body, expected=expected)


# ------------------------------------------------------------------ errors
def test_server_message_from_each_error_shape() -> None:
    assert server_message(b'{"error": "bad", "error_type": "Validation"}') == "bad"
    assert server_message(b'{"message": "oops", "code": 400}') == "oops"
    assert server_message(b'{"error": {"message": "nested"}}') == "nested"
    assert server_message(b"plain text") == "plain text"
    assert server_message(b"") is None
    long = server_message(b"x" * 2000)
    assert long is not None and len(long) < 600


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, EndpointAuthError),
        (403, EndpointAuthError),
        (400, EndpointRequestError),
        (422, EndpointRequestError),
        (424, EndpointRequestError),
        (429, EndpointUnavailableError),
        (503, EndpointUnavailableError),
        (500, EndpointUnavailableError),
    ],
)
def test_classify_error(status: int, cls: type[Exception]) -> None:
    error = classify_error(status, URL, "the reason", secrets=["hf_secretsecret"])
    assert type(error) is cls
    assert f"HTTP {status}" in str(error) and URL in str(error) and "the reason" in str(error)
    assert error.status_code == status and error.server_message == "the reason"


def test_classify_error_never_contains_the_token() -> None:
    error = classify_error(400, URL, "you sent Bearer abcdefgh and mytoken-123", secrets=["mytoken-123"])
    assert "mytoken-123" not in str(error) and "abcdefgh" not in str(error)
    assert "mytoken-123" not in (error.server_message or "")


def test_a_paused_or_failed_endpoint_is_a_state_error_with_the_resume_hint() -> None:
    """Hugging Face's proxy answers a paused endpoint 400 "Bad Request: Invalid state" (not a bad record)."""
    from hf_pinecone.lifecycle import EndpointStateError

    error = classify_error(400, URL, "Bad Request: Invalid state")
    assert isinstance(error, EndpointStateError) and not isinstance(error, EndpointRequestError)
    assert "hf-pinecone endpoint resume NAME" in str(error) and error.status_code == 400
    assert type(classify_error(400, URL, "Input validation error: inputs cannot be empty")) is EndpointRequestError


def test_a_paused_endpoint_is_neither_retried_nor_bisected() -> None:
    from hf_pinecone.lifecycle import EndpointStateError

    protocol = EndpointProtocol(URL, retry=FAST, cold_start_timeout=600)
    paused = err(400, "Bad Request: Invalid state")
    with pytest.raises(EndpointStateError):
        drive(protocol.batch_flow(["a", "b", "c", "d"], detailed=True), scripted([paused]))


def test_learned_batch_size() -> None:
    msg = "batch size 32 > maximum allowed batch size 8"
    assert learned_batch_size(422, msg, 32) == 8
    assert learned_batch_size(422, "input too long", 32) is None
    assert learned_batch_size(413, None, 32) == 16
    assert learned_batch_size(413, None, 1) is None
    assert learned_batch_size(400, msg, 32) is None


# ------------------------------------------------------------------ planning
def test_plan_by_count() -> None:
    protocol = EndpointProtocol(URL, batch_size=3)
    assert protocol.plan(["a"] * 7) == [[0, 1, 2], [3, 4, 5], [6]]


def test_plan_by_bytes_keeps_every_body_under_the_limit() -> None:
    protocol = EndpointProtocol(URL, batch_size=1000, max_batch_bytes=1000)
    texts = [f"{i:03d}" + "x" * 90 for i in range(50)]
    batches = protocol.plan(texts)
    assert [i for b in batches for i in b] == list(range(50))
    for batch in batches:
        assert len(protocol.body([texts[i] for i in batch])) < 1000
    # Greedy: adding the next text to a batch would reach the limit.
    for batch, following in itertools.pairwise(batches):
        assert len(protocol.body([texts[i] for i in [*batch, following[0]]])) >= 1000


def test_plan_isolates_an_oversized_text() -> None:
    protocol = EndpointProtocol(URL, batch_size=10, max_batch_bytes=100)
    assert protocol.plan(["a", "b" * 200, "c"]) == [[0, 2], [1]]


def test_plan_groups_texts_of_similar_length() -> None:
    """Batches hold neighbours in length order (less padding for the model); every position appears once."""
    protocol = EndpointProtocol(URL, batch_size=2)
    texts = ["x" * n for n in (9, 1, 5, 2, 8, 1)]
    batches = protocol.plan(texts)
    assert batches == [[1, 5], [3, 2], [4, 0]]  # stable: equal lengths keep input order
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))


def test_assemble_restores_input_order() -> None:
    assert assemble(4, [[2, 0], [3, 1]], [["c", "a"], ["d", "b"]]) == ["a", "b", "c", "d"]


def test_concurrency_policy_validates() -> None:
    with pytest.raises(ValueError):
        ConcurrencyPolicy(0)
    assert ConcurrencyPolicy(4).limit == 4


# ------------------------------------------------------------------ the state machine, scripted
def ok(n: int, dim: int = 2, value: float = 1.0) -> Response:
    return Response(200, {}, json.dumps([[value] * dim for _ in range(n)]).encode())


def err(status: int, message: str = "", headers: dict[str, str] | None = None) -> Response:
    return Response(status, headers or {}, json.dumps({"error": message}).encode())


def drive(flow: Flow, respond: Callable[[list[str]], Outcome]) -> tuple[Any, list[list[str]], list[float]]:
    """Run a flow against ``respond`` (called with each request's inputs); return result, requests, sleeps."""
    sent: list[list[str]] = []
    sleeps: list[float] = []
    try:
        action = next(flow)
        while True:
            if isinstance(action, Sleep):
                sleeps.append(action.seconds)
                action = flow.send(None)
            else:
                assert isinstance(action, Send)
                inputs = json.loads(action.body)["inputs"]
                sent.append(inputs)
                action = flow.send(respond(inputs))
    except StopIteration as stop:
        return stop.value, sent, sleeps


def scripted(outcomes: list[Outcome]) -> Callable[[list[str]], Outcome]:
    it: Iterator[Outcome] = iter(outcomes)
    return lambda inputs: next(it)


def test_success_first_try() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    result, sent, sleeps = drive(protocol.batch_flow(["a", "b"]), scripted([ok(2)]))
    assert result == [[1.0, 1.0], [1.0, 1.0]] and len(sent) == 1 and sleeps == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    protocol = EndpointProtocol(URL, retry=FAST, cold_start_timeout=0)
    result, sent, sleeps = drive(protocol.batch_flow(["a"]), scripted([err(status), err(status), ok(1)]))
    assert len(result) == 1 and len(sent) == 3 and len(sleeps) == 2
    assert all(0 <= s <= FAST.backoff_max for s in sleeps)


@pytest.mark.parametrize("kind", ["timeout", "connection"])
def test_transport_failures_are_retried(kind: str) -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    result, sent, _ = drive(protocol.batch_flow(["a"]), scripted([TransportFailure(kind, "reset"), ok(1)]))
    assert len(result) == 1 and len(sent) == 2


def test_retry_after_is_honoured() -> None:
    protocol = EndpointProtocol(URL, retry=RetryPolicy(max_retries=2, backoff_base=0.0, backoff_max=10))
    _, _, sleeps = drive(
        protocol.batch_flow(["a"]), scripted([err(429, "busy", {"retry-after": "3"}), ok(1)])
    )
    assert sleeps == [3.0]


def test_unavailable_after_retries_are_exhausted() -> None:
    protocol = EndpointProtocol(URL, retry=FAST, cold_start_timeout=0)
    with pytest.raises(EndpointUnavailableError, match="gave up after 4 attempts") as info:
        drive(protocol.batch_flow(["a"]), lambda inputs: err(429, "Model is overloaded"))
    assert info.value.status_code == 429 and "Model is overloaded" in str(info.value)


def test_auth_and_rejections_are_not_retried() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    with pytest.raises(EndpointAuthError):
        drive(protocol.batch_flow(["a"]), scripted([err(401, "Unauthorized")]))
    with pytest.raises(EndpointRequestError, match="Tokenizer broke"):
        drive(protocol.batch_flow(["a"]), scripted([err(422, "Tokenizer broke")]))


def test_redirect_is_not_followed_and_explained() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    response = Response(307, {"location": "https://elsewhere.example/"}, b"")
    with pytest.raises(EndpointRequestError, match=r"redirect.*elsewhere\.example"):
        drive(protocol.batch_flow(["a"]), scripted([response]))


def test_cold_start_503_is_retried_beyond_max_retries_until_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    protocol = EndpointProtocol(
        URL,
        retry=RetryPolicy(max_retries=1, backoff_base=1.0, backoff_max=5.0),
        cold_start_timeout=60.0,
        clock=lambda: now[0],
    )

    def respond(inputs: list[str]) -> Outcome:
        now[0] += 5.0  # each attempt takes 5 s of (fake) time
        return ok(1) if now[0] > 40 else err(503, "starting")

    with caplog.at_level(logging.INFO, logger="hf_pinecone"):
        result, sent, _ = drive(protocol.batch_flow(["a"]), respond)
    assert len(result) == 1
    assert len(sent) == 9  # far more than max_retries + 1
    assert sum("endpoint is starting" in r.getMessage() for r in caplog.records) == 1


def test_cold_start_gives_up_after_the_timeout() -> None:
    now = [0.0]
    protocol = EndpointProtocol(URL, retry=FAST, cold_start_timeout=30.0, clock=lambda: now[0])

    def respond(inputs: list[str]) -> Outcome:
        now[0] += 10.0
        return err(503, "Service Unavailable")

    with pytest.raises(EndpointUnavailableError, match="still unavailable after waiting 30 s"):
        drive(protocol.batch_flow(["a"]), respond)


def test_while_the_endpoint_starts_one_request_polls_and_the_others_wait() -> None:
    """The cold-start gate: after a 503, other requests sleep without sending until the poller gets through."""
    now = [0.0]
    protocol = EndpointProtocol(URL, retry=FAST, cold_start_timeout=60.0, clock=lambda: now[0])
    a, b = protocol.batch_flow(["a"]), protocol.batch_flow(["b"])
    assert isinstance(next(a), Send)
    assert isinstance(a.send(err(503, "starting")), Sleep)  # a is the poller
    assert isinstance(next(b), Sleep)  # b sends nothing while a polls
    assert isinstance(b.send(None), Sleep)
    assert isinstance(a.send(None), Send)
    assert isinstance(a.send(err(503, "starting")), Sleep)
    assert isinstance(a.send(None), Send)
    with pytest.raises(StopIteration) as done:
        a.send(ok(1))  # the endpoint is up
    assert len(done.value.value) == 1
    assert isinstance(b.send(None), Send)  # the gate is open
    with pytest.raises(StopIteration):
        b.send(ok(1))


def test_a_waiting_request_takes_over_polling_and_keeps_the_deadline() -> None:
    now = [0.0]
    protocol = EndpointProtocol(URL, retry=FAST, cold_start_timeout=60.0, clock=lambda: now[0])
    a, b, c = (protocol.batch_flow([t]) for t in "abc")
    next(a)
    assert isinstance(a.send(err(503, "starting")), Sleep)
    assert isinstance(next(b), Sleep) and isinstance(next(c), Sleep)
    a.close()  # the poller was cancelled
    assert isinstance(b.send(None), Send)  # b polls now; c still waits
    assert isinstance(c.send(None), Sleep)
    assert isinstance(b.send(err(503, "starting")), Sleep)
    now[0] = 61.0
    with pytest.raises(EndpointUnavailableError, match=r"503 while starting \(still unavailable after waiting 60 s"):
        c.send(None)


def test_scale_up_header_holds_less_than_the_request_timeout() -> None:
    def header(cold: float, timeout: float) -> str:
        protocol = EndpointProtocol(URL, cold_start_timeout=cold, request_timeout=timeout)
        return protocol.scale_up_timeout_header["X-Scale-Up-Timeout"]

    assert header(600, 60) == "59"
    assert header(30, 60) == "30"
    assert header(600, 1) == "1"


def tei_like(max_batch: int) -> Callable[[list[str]], Outcome]:
    def respond(inputs: list[str]) -> Outcome:
        if len(inputs) > max_batch:
            return err(422, f"batch size {len(inputs)} > maximum allowed batch size {max_batch}")
        return Response(200, {}, json.dumps([[float(len(t)), 1.0] for t in inputs]).encode())

    return respond


def test_batch_size_422_is_learned_and_kept() -> None:
    protocol = EndpointProtocol(URL, batch_size=32, retry=FAST)
    texts = ["x" * i for i in range(1, 21)]
    result, sent, _ = drive(protocol.batch_flow(texts), tei_like(8))
    assert [v[0] for v in result] == [float(len(t)) for t in texts]
    assert protocol.batch_size == 8
    assert [len(s) for s in sent] == [20, 8, 8, 4]
    _, sent_again, _ = drive(protocol.batch_flow(texts), tei_like(8))
    assert [len(s) for s in sent_again] == [8, 8, 4]  # no second rejection


def test_413_halves_the_batch() -> None:
    protocol = EndpointProtocol(URL, batch_size=16, retry=FAST)

    def respond(inputs: list[str]) -> Outcome:
        return Response(413, {}, b"Payload Too Large") if len(inputs) > 5 else ok(len(inputs))

    result, sent, _ = drive(protocol.batch_flow(["a"] * 16), respond)
    assert len(result) == 16 and protocol.batch_size == 4
    assert [len(s) for s in sent] == [16, 8, 4, 4, 4, 4]


def test_oversized_single_text_is_rejected_without_a_request() -> None:
    protocol = EndpointProtocol(URL, max_batch_bytes=100, retry=FAST)
    with pytest.raises(EndpointRequestError, match="bytes as a JSON body"):
        drive(protocol.batch_flow(["x" * 200]), scripted([]))
    result, sent, _ = drive(protocol.batch_flow(["x" * 200], detailed=True), scripted([]))
    assert isinstance(result[0], EndpointRequestError) and sent == []


def bad_record_server(bad: set[str]) -> Callable[[list[str]], Outcome]:
    def respond(inputs: list[str]) -> Outcome:
        rejected = [t for t in inputs if t in bad]
        if rejected:
            return err(422, f"input {rejected[0]} is too long")
        return Response(200, {}, json.dumps([[float(len(t)), 0.5] for t in inputs]).encode())

    return respond


def test_detailed_bisects_rejected_batches_down_to_the_bad_records() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    texts = [f"t{i}" for i in range(10)]
    result, _, _ = drive(protocol.batch_flow(texts, detailed=True), bad_record_server({"t3", "t7"}))
    for text, item in zip(texts, result, strict=True):
        if text in ("t3", "t7"):
            assert isinstance(item, EndpointRequestError) and text in str(item)
        else:
            assert item == [2.0, 0.5]


def test_not_detailed_raises_on_a_rejected_batch() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    with pytest.raises(EndpointRequestError, match="t3 is too long"):
        drive(protocol.batch_flow(["t1", "t3"]), bad_record_server({"t3"}))


def test_detailed_still_raises_run_level_errors() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    with pytest.raises(EndpointAuthError):
        drive(protocol.batch_flow(["a", "b"], detailed=True), scripted([err(403, "forbidden")]))
    with pytest.raises(EndpointResponseError):
        drive(protocol.batch_flow(["a", "b"], detailed=True), scripted([ok(1)]))


def test_openai_route_gets_an_openai_body() -> None:
    protocol = EndpointProtocol("http://127.0.0.1:1/v1/embeddings", normalize=True)
    assert json.loads(protocol.body(["a"])) == {"input": ["a"]}
    assert json.loads(EndpointProtocol(URL, normalize=True).body(["a"])) == {
        "inputs": ["a"],
        "normalize": True,
    }


def test_detailed_does_not_bisect_a_wrong_url() -> None:
    protocol = EndpointProtocol(URL, retry=FAST)
    requests: list[list[str]] = []

    def not_found(inputs: list[str]) -> Outcome:
        requests.append(inputs)
        return err(404, "Not Found")

    with pytest.raises(EndpointRequestError, match="HTTP 404"):
        drive(protocol.batch_flow([f"t{i}" for i in range(16)], detailed=True), not_found)
    assert len(requests) == 1


# ------------------------------------------------------------------ batch size from GET /info
def info(body: bytes, status: int = 200) -> Response:
    return Response(status, {"content-type": "application/json"}, body)


def test_info_url_is_taken_from_the_endpoint_base() -> None:
    assert info_url(URL) == URL + "/info"
    assert info_url(URL + "/") == URL + "/info"
    assert info_url(URL + "/embed") == URL + "/info"
    assert info_url(URL + "/v1/embeddings") == URL + "/info"  # TEI serves both from one server
    # The query string belongs to the URL, not to the path: ``/info`` goes before it.
    assert info_url(URL + "/?api-version=2") == URL + "/info?api-version=2"
    assert info_url(URL + "/embed?x=1&y=2") == URL + "/info?x=1&y=2"


@pytest.mark.parametrize(
    ("outcome", "size"),
    [
        (info(b'{"max_client_batch_size": 64}'), 64),
        (info(b'{"max_client_batch_size": 8, "model_id": "m"}'), 8),
        (info(b'{"max_client_batch_size": 100000}'), MAX_DISCOVERED_BATCH_SIZE),  # capped
        (info(b"{}"), None),  # e.g. an older server: no such field
        (info(b'{"max_client_batch_size": 0}'), None),
        (info(b'{"max_client_batch_size": -3}'), None),
        (info(b'{"max_client_batch_size": "64"}'), None),
        (info(b'{"max_client_batch_size": true}'), None),
        (info(b'{"max_client_batch_size": 6.5}'), None),
        (info(b"[64]"), None),
        (info(b"<html>not json</html>"), None),
        (info(b'{"max_client_batch_size": 64}', status=404), None),  # the inference toolkit has no /info
        (info(b"Method Not Allowed", status=405), None),
        (info(b'{"max_client_batch_size": 64}', status=503), None),
        (TransportFailure("timeout", "read timed out"), None),
        (TransportFailure("connection", "refused"), None),
    ],
)
def test_batch_size_from_info(outcome: Outcome, size: int | None) -> None:
    assert batch_size_from_info(outcome, url=URL) == size


def run_info_flow(protocol: EndpointProtocol, outcome: Outcome) -> list[Get]:
    """Drive :meth:`EndpointProtocol.batch_size_flow` answering every Get with ``outcome``."""
    flow = protocol.batch_size_flow()
    gets: list[Get] = []
    try:
        action = next(flow)
        while True:
            gets.append(action)
            action = flow.send(outcome)
    except StopIteration:
        return gets


def test_discovery_uses_the_endpoints_limit_once() -> None:
    protocol = EndpointProtocol(URL + "/embed", discover_batch_size=True, request_timeout=60)
    assert protocol.batch_size_pending and protocol.batch_size == DEFAULT_BATCH_SIZE
    gets = run_info_flow(protocol, info(b'{"max_client_batch_size": 64}'))
    assert [g.url for g in gets] == [URL + "/info"]
    assert 0 < gets[0].timeout <= 60
    assert protocol.batch_size == 64 and not protocol.batch_size_pending
    assert run_info_flow(protocol, info(b'{"max_client_batch_size": 8}')) == []  # never probed again
    assert protocol.batch_size == 64
    assert [len(b) for b in protocol.plan(["t"] * 130)] == [64, 64, 2]


def test_discovery_timeout_is_bounded_by_the_request_timeout() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, request_timeout=2)
    assert run_info_flow(protocol, info(b"{}"))[0].timeout <= 2


def test_discovery_failure_falls_back_to_32_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, secrets=("s3cret",))
    with caplog.at_level(logging.DEBUG, logger="hf_pinecone"):
        run_info_flow(protocol, info(b"Not Found", status=404))
    assert protocol.batch_size == DEFAULT_BATCH_SIZE and not protocol.batch_size_pending
    records = [r for r in caplog.records if "/info" in r.getMessage()]
    assert records and all(r.levelno == logging.DEBUG for r in records)
    assert "HTTP 404" in records[0].getMessage()


def test_without_discovery_no_info_is_requested() -> None:
    protocol = EndpointProtocol(URL, batch_size=16)
    assert not protocol.batch_size_pending
    assert run_info_flow(protocol, info(b'{"max_client_batch_size": 64}')) == []
    assert protocol.batch_size == 16


def test_a_batch_size_learned_from_422_wins_over_info() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    flow = protocol.batch_size_flow()
    get = next(flow)
    assert isinstance(get, Get)
    # A 422 arrives (e.g. from a call that did not wait for the probe) before /info's answer is applied.
    drive(protocol.batch_flow(["x"] * 20), tei_like(4))
    assert protocol.batch_size == 4
    with pytest.raises(StopIteration):
        flow.send(info(b'{"max_client_batch_size": 64}'))
    assert protocol.batch_size == 4


def test_the_discovered_size_still_respects_the_byte_budget() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, max_batch_bytes=1000)
    run_info_flow(protocol, info(b'{"max_client_batch_size": 512}'))
    batches = protocol.plan(["y" * 90] * 40)
    assert protocol.batch_size == 512 and len(batches) > 1
    assert all(len(protocol.body(["y" * 90] * len(b))) < 1000 for b in batches)


# ------------------------------------------------------------------ /info again after a cold start
def drive_with_info(
    flow: Flow, respond: Callable[[list[str]], Outcome], info_outcomes: list[Outcome]
) -> tuple[Any, list[str]]:
    """Like :func:`drive`, also answering Get actions from ``info_outcomes``; return result and the event log.

    The log holds ``"send"`` / ``"sleep"`` / ``"get"`` in the order the flow asked for them.
    """
    log: list[str] = []
    answers = iter(info_outcomes)
    try:
        action = next(flow)
        while True:
            if isinstance(action, Sleep):
                log.append("sleep")
                action = flow.send(None)
            elif isinstance(action, Get):
                assert action.url == URL + "/info"
                log.append("get")
                action = flow.send(next(answers))
            else:
                log.append("send")
                action = flow.send(respond(json.loads(action.body)["inputs"]))
    except StopIteration as stop:
        return stop.value, log


NOT_UP = [
    info(b'{"error":"Service Unavailable: endpoint is scaled to zero"}', status=503),
    TransportFailure("timeout", "read timed out"),
    TransportFailure("connection", "connection refused"),
]


@pytest.mark.parametrize("first", NOT_UP, ids=["503", "timeout", "connection"])
def test_a_probe_that_found_the_endpoint_down_is_repeated_after_the_first_success(first: Outcome) -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    assert run_info_flow(protocol, first) and protocol.batch_size == DEFAULT_BATCH_SIZE
    assert protocol.batch_size_reprobe_pending and not protocol.batch_size_pending
    # The endpoint is still starting: 503, 503, then the first success; /info is asked only after it.
    result, log = drive_with_info(
        protocol.batch_flow(["a", "b"]), scripted([err(503), err(503), ok(2)]), [info(b'{"max_client_batch_size": 64}')]
    )
    assert len(result) == 2
    assert log == ["send", "sleep", "send", "sleep", "send", "get"]
    assert protocol.batch_size == 64 and not protocol.batch_size_reprobe_pending
    assert [len(b) for b in protocol.plan(["t"] * 100)] == [64, 36]
    # Final now: later flows never probe again.
    _, log = drive_with_info(protocol.batch_flow(["c"]), scripted([ok(1)]), [])
    assert log == ["send"]


def test_the_second_probe_is_the_last_even_if_the_endpoint_is_down_again() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    run_info_flow(protocol, info(b"", status=503))
    _, log = drive_with_info(protocol.batch_flow(["a"]), scripted([ok(1)]), [TransportFailure("timeout", "slow")])
    assert log == ["send", "get"]
    assert protocol.batch_size == DEFAULT_BATCH_SIZE and not protocol.batch_size_reprobe_pending
    _, log = drive_with_info(protocol.batch_flow(["b"]), scripted([ok(1)]), [])
    assert log == ["send"]


@pytest.mark.parametrize(
    ("answer", "size"),
    [
        (info(b'{"max_client_batch_size": 64}'), 64),
        (info(b"{}"), DEFAULT_BATCH_SIZE),
        (info(b"<html>info</html>"), DEFAULT_BATCH_SIZE),
        (info(b'{"error":"Not Found"}', status=404), DEFAULT_BATCH_SIZE),
        (info(b"Method Not Allowed", status=405), DEFAULT_BATCH_SIZE),
        (info(b'{"error":"boom"}', status=500), DEFAULT_BATCH_SIZE),
    ],
    ids=["field", "no-field", "non-json", "toolkit-404", "405", "500"],
)
def test_a_definite_info_answer_is_final(answer: Outcome, size: int) -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    run_info_flow(protocol, answer)
    assert protocol.batch_size == size and not protocol.batch_size_reprobe_pending
    _, log = drive_with_info(protocol.batch_flow(["a"]), scripted([ok(1)]), [])
    assert log == ["send"]


def test_only_one_of_several_successful_batches_probes_again() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    run_info_flow(protocol, info(b"", status=503))
    # Two batches in flight at once: both get their answer; the first to succeed claims the probe.
    first, second = protocol.batch_flow(["a"]), protocol.batch_flow(["b"])
    assert isinstance(next(first), Send) and isinstance(next(second), Send)
    assert isinstance(first.send(ok(1)), Get)
    with pytest.raises(StopIteration):
        second.send(ok(1))
    with pytest.raises(StopIteration):
        first.send(info(b'{"max_client_batch_size": 16}'))
    assert protocol.batch_size == 16


def test_a_size_learned_from_422_during_the_cold_start_wins_over_the_second_probe() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    run_info_flow(protocol, TransportFailure("connection", "refused"))
    result, log = drive_with_info(
        protocol.batch_flow(["x"] * 10), tei_like(4), [info(b'{"max_client_batch_size": 64}')]
    )
    assert len(result) == 10 and log.count("get") == 1
    assert protocol.batch_size == 4


def test_a_failed_request_does_not_use_up_the_second_probe() -> None:
    protocol = EndpointProtocol(URL, discover_batch_size=True, retry=FAST)
    run_info_flow(protocol, info(b"", status=503))
    with pytest.raises(EndpointRequestError):
        drive_with_info(protocol.batch_flow(["a"]), scripted([err(400, "bad input")]), [])
    assert protocol.batch_size_reprobe_pending
    _, log = drive_with_info(protocol.batch_flow(["b"]), scripted([ok(1)]), [info(b'{"max_client_batch_size": 8}')])
    assert log == ["send", "get"] and protocol.batch_size == 8
