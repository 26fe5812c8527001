"""The optional AES-GCM payload codec: histories hold ciphertext; the worker, the CLI
and `csops codec-server` (the Temporal UI's --ui-codec-endpoint) read them with the
same keys from CSOPS_CODEC_KEYS, and only the UI's origin gets an answer."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
import uuid

import aiohttp
import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from support.cli import cli_env, csops, target
from support.data import CSM, HOT_TEXT, add_account, add_ticket
from support.net import free_port, wait_for_port
from support.polling import eventually
from support.temporal import decide, start_escalation, wait_for_requests
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.worker import Replayer

from adapters.codec_keys import CodecKey, new_key_entry, parse_codec_keys
from adapters.payload_codec import (
    ENCODING,
    KEY_ID,
    NO_KEYS,
    AesGcmCodec,
    CodecError,
    decode_problem,
)
from adapters.settings import SettingsError, load_settings
from adapters.temporal_client import connect, data_converter
from contracts import names
from contracts.converter import DATA_CONVERTER
from contracts.escalation import EscalationResult
from contracts.ids import escalation_id
from worker import INTERCEPTORS, WORKFLOWS

UI_ORIGIN = "http://ui.csops.test:8233"


def payloads_in(message: Message) -> list[Payload]:
    """Every Payload anywhere in a proto message, except search attributes: those are
    indexed by the server, so no payload codec ever sees them."""
    if isinstance(message, Payload):
        return [message]
    if isinstance(message, SearchAttributes):
        return []
    found: list[Payload] = []
    for fd, value in message.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            values = list(value.values())
            if values and isinstance(values[0], Message):
                for v in values:
                    found += payloads_in(v)
        elif isinstance(value, Message):
            found += payloads_in(value)
        else:  # a repeated message field
            for v in value:
                found += payloads_in(v)
    return found


def one_sentence(text: str) -> bool:
    line = text.strip()
    return "\n" not in line and "Traceback" not in line and ". " not in line.rstrip(".")


def codec_env(env: dict, keys: str | None) -> dict:
    env = dict(env)
    env.pop("CSOPS_CODEC_KEYS", None)
    if keys is not None:
        env["CSOPS_CODEC_KEYS"] = keys
    return env


async def test_histories_hold_ciphertext_that_the_worker_cli_and_ui_codec_read(
    tmp_path, dev_env, db, run_worker
):
    entry = new_key_entry("k-test")
    keys = parse_codec_keys(entry)
    marker = uuid.uuid4().hex[:10]
    account, ticket = f"acc-{marker}", f"T-{marker}"
    name = f"Quillfeather Biscuits {marker}"
    subject = f"Vault outage {marker}"
    body = f"{HOT_TEXT} Ledger {marker[::-1]} is gone."
    add_account(db, account, arr=30_000, name=name)
    add_ticket(db, ticket, account, subject, body)
    secrets = [name, subject, f"Ledger {marker[::-1]}"]

    # A second client of the same server, with the codec; the worker runs on it.
    codec_client = await connect(target(dev_env), dev_env.client.namespace, keys)
    raw_handle = dev_env.client.get_workflow_handle(escalation_id(ticket))  # no codec
    async with run_worker(dev_env, client=codec_client) as tq:
        handle = await start_escalation(db, codec_client, tq, ticket)
        [request] = await wait_for_requests(handle)  # a query, decoded by the codec client
        assert request.kind == "ack" and CSM in request.eligible_approvers
        # A client without keys cannot read it, and says why in one sentence.
        with pytest.raises(KeyError) as no_keys:
            await raw_handle.query("human_requests")
        assert decode_problem(no_keys.value) == NO_KEYS

        # The CLI decodes with the same keys; without them it says so, in one sentence.
        env = cli_env(tmp_path, target(dev_env), tq)
        with_keys, without, wrong = await asyncio.gather(
            csops(codec_env(env, entry), "status", handle.id, "--json", cwd=tmp_path),
            csops(codec_env(env, None), "status", handle.id, "--json", cwd=tmp_path),
            csops(codec_env(env, new_key_entry("k-other")), "status", handle.id, cwd=tmp_path),
        )
        status = with_keys.json()
        assert status["status"] == "RUNNING"
        assert name in status["current_details"] and subject in status["current_details"]
        assert [r["request_id"] for r in status["human"]["requests"]] == ["ack-1"]
        assert without.exited(2) and without.out == "", without
        assert without.err.strip() == f"csops: {NO_KEYS}" and one_sentence(without.err)
        assert wrong.exited(2) and "'k-test'" in wrong.err and one_sentence(wrong.err), wrong

        acked = await decide(handle, request_id="ack-1", decision="ack", approver=CSM)
        assert acked.status == "acked", acked
        result = await handle.result()
    assert isinstance(result, EscalationResult) and result.hot and result.ticket_id == ticket

    # The whole history read raw, by the client without the codec: ciphertext only.
    raw = await raw_handle.fetch_history()
    raw_bytes = b"".join(e.SerializeToString() for e in raw.events)
    for text in secrets:
        assert text.encode() not in raw_bytes, f"{text!r} is readable in the history"
    # Patch markers (`workflow.patched` ids) are written by the SDK's core, plain.
    patches = [e for e in raw.events if e.marker_recorded_event_attributes.marker_name == "core_patch"]  # fmt: skip
    patch_ids = {v for k, v in vars(names).items() if k.startswith("PATCH_")}
    assert {p.data for e in patches for p in payloads_in(e)} <= {
        json.dumps({"id": i, "deprecated": False}, separators=(",", ":")).encode()
        for i in patch_ids
    }
    # A local activity's marker: the core's bookkeeping plain (which activity, when),
    # its result encrypted.
    local = [e.marker_recorded_event_attributes for e in raw.events
             if e.marker_recorded_event_attributes.marker_name == "core_local_activity"]  # fmt: skip
    assert local, "the escalation reads its policy and context as local activities"
    bookkeeping = [p for m in local for p in m.details["data"].payloads]
    assert {tuple(sorted(json.loads(p.data))) for p in bookkeeping} == {
        ("activation_index", "activity_id", "activity_type", "attempt", "backoff",
         "complete_time", "original_schedule_time", "seq")
    }  # fmt: skip
    payloads = [
        p for e in raw.events if e not in patches for p in payloads_in(e) if p not in bookkeeping
    ]
    kinds = {e.WhichOneof("attributes") for e in raw.events if e not in patches and payloads_in(e)}
    assert {
        "workflow_execution_started_event_attributes",  # input, summary, details
        "activity_task_scheduled_event_attributes",
        "activity_task_completed_event_attributes",
        "workflow_execution_update_accepted_event_attributes",
        "workflow_execution_update_completed_event_attributes",
        "workflow_execution_completed_event_attributes",
    } <= kinds, kinds
    for p in payloads:
        assert p.metadata["encoding"] == ENCODING and p.metadata[KEY_ID] == b"k-test", p
    # ...which the codec opens: the text was there, encrypted.
    codec = AesGcmCodec(keys)
    opened = [codec.decrypt(p) for p in payloads]
    opened_bytes = b"".join(p.SerializeToString() for p in opened)
    for text in secrets:
        assert text.encode() in opened_bytes, f"{text!r} never reached the history"

    # The UI's codec server decodes a payload of that raw history for the UI only.
    naming = next(p for p, o in zip(payloads, opened, strict=True) if name.encode() in o.data)
    await check_codec_server(tmp_path, entry, naming, name)

    # The encrypted history replays with the codec, as a restarted worker would.
    replayed = await Replayer(
        workflows=WORKFLOWS, interceptors=INTERCEPTORS, data_converter=data_converter(keys)
    ).replay_workflow(raw, raise_on_replay_failure=False)
    assert replayed.replay_failure is None, replayed.replay_failure


async def check_codec_server(tmp_path, entry: str, encrypted: Payload, plaintext: str) -> None:
    """`csops codec-server` as a user starts it: CORS for the UI's origin alone."""
    port = free_port()
    log = tmp_path / "codec-server.log"
    env = codec_env(cli_env(tmp_path), entry)
    with log.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "csops.cli", "codec-server",
            "--port", str(port), "--ui-origin", UI_ORIGIN,
            env=env, cwd=tmp_path, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        await wait_for_port("127.0.0.1", port)
        endpoint = f"http://127.0.0.1:{port}"
        started = await eventually(log.read_text, holds=lambda t: "--ui-codec-endpoint" in t)
        assert f"--ui-codec-endpoint {endpoint}" in started, started
        body = {"payloads": [MessageToDict(encrypted)]}
        ui = {"Origin": UI_ORIGIN, "X-Namespace": "default"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{endpoint}/decode", json=body, headers=ui) as r:
                assert r.status == 200, await r.text()
                assert r.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
                assert r.headers["Access-Control-Allow-Credentials"] == "true"
                [decoded] = (await r.json())["payloads"]
            assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
            assert plaintext in base64.b64decode(decoded["data"]).decode()

            preflight = {
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            }
            async with http.options(f"{endpoint}/decode", headers=preflight) as r:
                assert r.status == 200
                assert r.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
                allowed = r.headers["Access-Control-Allow-Headers"].replace(" ", "").split(",")
                assert {"content-type", "x-namespace", "authorization"} <= set(allowed)

            # The UI's "Send a Signal" goes through /encode: ciphertext under the key.
            signal_input = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                            "data": base64.b64encode(b'{"decision": "ack"}').decode()}  # fmt: skip
            async with http.post(
                f"{endpoint}/encode", json={"payloads": [signal_input]}, headers=ui
            ) as r:
                assert r.status == 200
                [sealed] = (await r.json())["payloads"]
            assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
            assert b"ack" not in base64.b64decode(sealed["data"])
            async with http.post(
                f"{endpoint}/decode", json={"payloads": [sealed]}, headers=ui
            ) as r:
                assert (await r.json())["payloads"] == [signal_input]

            # Any other origin, or none, is refused without CORS headers.
            for headers in (
                {"Origin": "http://evil.test"},
                {"Origin": "http://localhost:8233"},
                {},
            ):
                for method in ("POST", "OPTIONS"):
                    async with http.request(
                        method, f"{endpoint}/decode", json=body, headers=headers
                    ) as r:
                        assert r.status == 403, (method, headers, r.status)
                        assert "Access-Control-Allow-Origin" not in r.headers
                        assert plaintext not in await r.text()
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 10) == 0, log.read_text()


async def test_rotation_the_first_key_encrypts_and_every_listed_key_decrypts(monkeypatch):
    old_entry, new_entry = new_key_entry("k-2024"), new_key_entry("k-2025")
    plain = DATA_CONVERTER.payload_converter.to_payloads(["Vault outage at Quillfeather"])[0]

    monkeypatch.setenv("CSOPS_CODEC_KEYS", old_entry)
    before = AesGcmCodec(load_settings().codec_keys)
    [sealed_old] = await before.encode([plain])
    assert sealed_old.metadata[KEY_ID] == b"k-2024"
    assert b"Quillfeather" not in sealed_old.SerializeToString()

    # Rotated: the new key first, the old one after it.
    monkeypatch.setenv("CSOPS_CODEC_KEYS", f"{new_entry}, {old_entry}")
    rotated = AesGcmCodec(load_settings().codec_keys)
    [sealed_new] = await rotated.encode([plain])
    assert sealed_new.metadata[KEY_ID] == b"k-2025"
    assert await rotated.decode([sealed_old, sealed_new, plain]) == [plain, plain, plain]

    # The old key removed: its payloads fail, with one sentence naming the key id.
    monkeypatch.setenv("CSOPS_CODEC_KEYS", new_entry)
    after = AesGcmCodec(load_settings().codec_keys)
    assert await after.decode([sealed_new]) == [plain]
    with pytest.raises(CodecError) as gone:
        await after.decode([sealed_old])
    assert "'k-2024'" in str(gone.value) and one_sentence(str(gone.value)), gone.value

    # Unencrypted payloads (histories from before encryption) pass through unchanged.
    [same] = await after.decode([plain])
    assert same is plain

    # Another key under the old id, an altered payload, or the ciphertext relabelled
    # with another key id (even one holding the same key: the id is associated data):
    # authentication fails, naming the key id.
    impostor = AesGcmCodec(parse_codec_keys(new_key_entry("k-2024")))
    [old_key] = parse_codec_keys(old_entry)
    twin = AesGcmCodec([old_key, CodecKey("k-twin", old_key.key)])
    altered = Payload()
    altered.CopyFrom(sealed_old)
    altered.data = altered.data[:-1] + bytes([altered.data[-1] ^ 1])
    relabelled = Payload()
    relabelled.CopyFrom(sealed_old)
    relabelled.metadata[KEY_ID] = b"k-twin"
    assert await twin.decode([sealed_old]) == [plain]
    for codec, payload, kid in (
        (impostor, sealed_old, "k-2024"),
        (rotated, altered, "k-2024"),
        (twin, relabelled, "k-twin"),
    ):
        with pytest.raises(CodecError, match="failed authentication") as failed:
            await codec.decode([payload])
        assert f"'{kid}'" in str(failed.value) and one_sentence(str(failed.value))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "set but empty"),
        ("k1", "entry 1 is not kid=base64key"),
        ("k1=not base64!", "key 'k1' is not valid base64"),
        ("k1=" + base64.b64encode(b"x" * 16).decode(), "key 'k1' is 16 bytes; AES-256 needs 32"),
        ("{a}, {a}", "key id 'k1' is given twice"),
        ("{a},,{b}", "entry 2 is empty"),
        ("k 1=" + base64.b64encode(b"x" * 32).decode(), "key id 'k 1' may only use"),
    ],
)
def test_a_bad_codec_key_value_stops_start_up_in_one_sentence(monkeypatch, value, reason):
    value = value.format(a=new_key_entry("k1"), b=new_key_entry("k2"))
    monkeypatch.setenv("CSOPS_CODEC_KEYS", value)
    with pytest.raises(SettingsError) as bad:
        load_settings()
    message = str(bad.value)
    assert message.startswith("bad environment: CSOPS_CODEC_KEYS: ") and reason in message
    assert one_sentence(message)
    key = value.partition("=")[2].partition(",")[0].strip()
    assert not key or key not in message, "a key is never shown"


async def test_the_worker_and_codec_server_refuse_to_start_without_usable_keys(tmp_path):
    env = cli_env(tmp_path)
    short = "k1=" + base64.b64encode(b"x" * 16).decode()
    worker, codec_server, no_keys, key = await asyncio.gather(
        csops(codec_env(env, short), "worker", cwd=tmp_path),
        csops(codec_env(env, short), "codec-server", cwd=tmp_path),
        csops(codec_env(env, None), "codec-server", "--port", str(free_port()), cwd=tmp_path),
        csops(codec_env(env, None), "codec-key", "--json", cwd=tmp_path),
    )
    expected = "csops: bad environment: CSOPS_CODEC_KEYS: key 'k1' is 16 bytes; AES-256 needs 32"
    for run in (worker, codec_server):
        assert run.exited(2) and run.err.strip() == expected, run
    assert no_keys.exited(2) and one_sentence(no_keys.err), no_keys
    assert "CSOPS_CODEC_KEYS is not set" in no_keys.err
    # `csops codec-key` makes an entry CSOPS_CODEC_KEYS accepts.
    made = key.json()
    [parsed] = parse_codec_keys(made["entry"])
    assert parsed.kid == made["key_id"] and len(parsed.key) == 32
