"""The fake server speaks enough OpenAI for the real ``openai`` client to use it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import openai
import pytest
from support.openai_server import FakeOpenAI, http_error, json_answer

MESSAGES = [
    {"role": "system", "content": "Answer in JSON."},
    {"role": "user", "content": "Summarise the account."},
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    # max_retries=0: a scripted error must surface at once, not be retried into the
    # "no scripted response" 500.
    with openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0) as c:
        yield c


def _create(client: openai.OpenAI, model: str = "gpt-test"):
    return client.chat.completions.create(
        model=model, messages=MESSAGES, response_format={"type": "json_object"}
    )


def test_json_answer_is_parsed_by_real_client(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(json_answer({"health": "green", "score": 7}, prompt_tokens=11, completion_tokens=4))

    completion = _create(client)

    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert json.loads(choice.message.content or "") == {"health": "green", "score": 7}
    assert completion.model == "test-model"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 4)
    assert completion.usage.total_tokens == 15
    assert fake.pending == 0


def test_raw_string_content_is_sent_verbatim(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(json_answer("{not json"))
    assert _create(client).choices[0].message.content == "{not json"


def test_request_body_and_auth_are_recorded(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(json_answer({}), json_answer({}))

    _create(client, model="first")
    _create(client, model="second")

    assert [r["body"]["model"] for r in fake.requests] == ["first", "second"]
    req = fake.requests[0]
    assert req["method"] == "POST"
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["messages"] == MESSAGES
    assert req["body"]["response_format"] == {"type": "json_object"}
    assert req["authorization"] == "Bearer test-key"


def test_rate_limit_maps_to_rate_limit_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(http_error(429, "slow down", retry_after=2))

    with pytest.raises(openai.RateLimitError) as info:
        _create(client)

    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.body == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }


def test_bad_request_maps_to_bad_request_error(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(http_error(400, "context too long"))

    with pytest.raises(openai.BadRequestError, match="context too long"):
        _create(client)


def test_unscripted_call_fails_loudly(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="no scripted response"):
        _create(client)
    assert len(fake.requests) == 1  # the call still reached the server and was recorded


def test_responses_are_consumed_in_order(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.script(http_error(429), json_answer({"n": 1}))

    with pytest.raises(openai.RateLimitError):
        _create(client)
    assert json.loads(_create(client).choices[0].message.content or "") == {"n": 1}


def test_models_endpoint(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["test-model"]
    assert fake.requests[0]["method"] == "GET"
    assert fake.requests[0]["body"] is None


@pytest.mark.asyncio
async def test_async_client(fake: FakeOpenAI) -> None:
    fake.script(json_answer({"async": True}, completion_tokens=3))

    async with openai.AsyncOpenAI(
        base_url=fake.base_url, api_key="test-key", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model="gpt-test", messages=MESSAGES, response_format={"type": "json_object"}
        )

    assert json.loads(completion.choices[0].message.content or "") == {"async": True}
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert fake.requests[0]["authorization"] == "Bearer test-key"


def test_exit_ends_threads_despite_kept_alive_connection() -> None:
    # The client is deliberately left open, so its pooled connection is still idle on
    # the server at exit; no server thread may outlive the context because of it.
    before = set(threading.enumerate())
    client = openai.OpenAI(base_url="http://unused", api_key="k", max_retries=0)
    try:
        with FakeOpenAI() as fake:
            client.base_url = fake.base_url
            fake.script(json_answer({}))
            _create(client)
        assert set(threading.enumerate()) <= before
    finally:
        client.close()
