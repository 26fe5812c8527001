"""Operations (issue 15): the worker's Prometheus metrics and JSON logs, `csops
--version`, and the production compose file checked against the code's settings."""

from __future__ import annotations

import json
import os
import re
import signal
import tomllib
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, select
from support.cli import cli_env, csops, target
from support.data import HOT_TEXT, HOW_TO_BODY, add_account
from support.net import free_port
from support.polling import eventually
from support.processes import start_worker, worker_env
from support.temporal import wait_for_requests
from support.tls import issue, self_signed, tls_front
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import ScheduleHandle, ScheduleSpec, ScheduleUpdate, ScheduleUpdateInput
from temporalio.service import TLSConfig

from adapters.settings import Settings
from adapters.temporal_client import PLAIN, Access, wait_until_reachable
from context.db import session
from context.outcomes import HUMAN_CLOSES, QUIET_CLOSES
from context.tables import AuditEvent, SupportTicket
from contracts import names
from contracts import search_attributes as sa
from csops.cli import app as cli_app
from csops.codec_server import DEFAULT_PORT as CODEC_PORT
from csops.devserver import INDEXED_TYPES, find_binary
from csops.schedules import HEALTH_SCHEDULE_ID, SCHEDULE_ID, TIMES_KEPT, spec_crons
from policies.loader import load_policies


def scrape(port: int) -> dict[str, list]:
    """Every sample on http://127.0.0.1:PORT/metrics by metric family name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def csops_figures(port: int) -> dict:
    families = scrape(port)
    actions = {
        (s.labels["level"], s.labels["action"], s.labels["outcome"]): int(s.value)
        for s in families["csops_actions"]
        if s.name == "csops_actions_total"
    }
    [pending] = [int(s.value) for s in families["csops_human_requests_pending"]]
    [escalations] = [
        int(s.value) for s in families["csops_escalations"] if s.name.endswith("_total")
    ]
    [failed] = [
        int(s.value) for s in families["csops_deliveries_failed"] if s.name.endswith("_total")
    ]
    return {"actions": actions, "pending": pending, "escalations": escalations, "failed": failed}


def audit_figures(db, accounts: list[str]) -> dict:
    """The same figures counted from the audit table with the test's own SQL."""
    with session(db) as s:
        rows = s.exec(
            select(AuditEvent.actor, AuditEvent.autonomy, AuditEvent.action, AuditEvent.outcome)
        ).all()
        escalated = s.exec(
            select(SupportTicket.id).where(
                col(SupportTicket.account_id).in_(accounts), SupportTicket.status == "escalated"
            )
        ).all()
    actions = Counter(
        (str(level), action, outcome)
        for actor, level, action, outcome in rows
        if actor == "agent" and level
    )
    closes = (*HUMAN_CLOSES, *QUIET_CLOSES)
    return {
        "actions": dict(actions),
        "pending": sum(o == "requested" for *_, o in rows) - sum(o in closes for *_, o in rows),
        "failed": sum(a == "delivery" and o == "failed" for _, _, a, o in rows),
        "escalated_tickets": len(escalated),
    }


async def test_a_worker_run_shows_csops_counters_sdk_metrics_and_json_logs(
    tmp_path, dev_env, db, knowledge, processes
):
    """A real `csops worker` with both metrics ports and JSON logs routes three
    tickets: an answer at a small account, an approval at a big one, a hot one. Its
    csops counters equal the audit table counted here; the SDK's metrics count the
    completed workflow on this queue; a refused signal's log line names its workflow,
    run and account."""
    small, big, angry = "acc-ops-small", "acc-ops-big", "acc-ops-angry"
    add_account(db, small, arr=20_000, top_rank=180)
    add_account(db, big, arr=400_000, segment="enterprise", top_rank=12)
    add_account(db, angry, arr=30_000)
    metrics_port, sdk_port = free_port(), free_port()
    env = worker_env(
        tmp_path, target(dev_env), knowledge_dir=knowledge.index.folder,
        delivery=f"maildir:{tmp_path / 'maildir'}",
    )  # fmt: skip
    env.update(
        CSOPS_METRICS_PORT=str(metrics_port),
        CSOPS_SDK_METRICS_PORT=str(sdk_port),
        CSOPS_LOG_FORMAT="json",
    )
    worker = start_worker(processes, "worker", env, tmp_path)
    tickets = {}
    for account, body in ((small, HOW_TO_BODY), (big, HOW_TO_BODY), (angry, HOT_TEXT)):
        run = await csops(env, "ticket", "--account", account, "--subject", "Help",
                          "--body", body, "--json", cwd=tmp_path)  # fmt: skip
        tickets[account] = run.json()["ticket_id"]
    handles = {a: dev_env.client.get_workflow_handle(f"escalation/{t}") for a, t in tickets.items()}
    await handles[small].result()
    await wait_for_requests(handles[big])
    await wait_for_requests(handles[angry])
    # Someone who may not decide: refused, logged by the workflow.
    [request] = await wait_for_requests(handles[big])
    await handles[big].signal(
        names.DECIDE,
        {"request_id": request.request_id, "decision": "approve", "approver": "x@nowhere.test"},
    )

    accounts = [small, big, angry]
    figures = await eventually(
        lambda: (csops_figures(metrics_port), audit_figures(db, accounts)),
        30,
        holds=lambda f: f[0]["actions"] == f[1]["actions"] and f[0]["pending"] == f[1]["pending"],
        ignoring=(OSError,),
        what=f"csops counters equal to the audit table\n{processes.logs()}",
    )
    scraped, counted = figures
    assert scraped["actions"] and counted["pending"] >= 2  # the approval and the hot ack
    assert scraped["failed"] == counted["failed"] == 0
    assert scraped["escalations"] == counted["escalated_tickets"] == 1  # the hot one

    sdk = scrape(sdk_port)
    completed = [
        s
        for s in sdk["temporal_workflow_completed"]
        if s.labels.get("task_queue") == env["CSOPS_TASK_QUEUE"]
    ]
    assert sum(s.value for s in completed) >= 1, sdk.get("temporal_workflow_completed")

    def refusal_lines() -> list[dict]:
        lines = [json.loads(x) for x in worker.log.read_text().splitlines() if x.startswith("{")]
        return [x for x in lines if "refused signal" in x["message"]]

    [line] = await eventually(refusal_lines, 15, what=f"the refusal's log line\n{worker.tail()}")
    desc = await handles[big].describe()
    assert (line["workflow_id"], line["run_id"], line["account_id"]) == (
        handles[big].id,
        desc.run_id,
        big,
    )
    assert line["level"] == "WARNING" and datetime.fromisoformat(
        line["time"]
    ).utcoffset() == timedelta(0)
    for handle in (handles[big], handles[angry]):
        await handle.terminate("test done")


async def test_version_prints_the_package_version(tmp_path):
    from importlib.metadata import version

    run = await csops(cli_env(tmp_path), "--version", cwd=tmp_path)
    assert run.exited(0) and run.out.strip() == f"csops {version('csops')}"


async def move_by_hand(handle: ScheduleHandle, cron: str, zone: str) -> None:
    """What a user does in the UI: the Schedule runs at another time in another zone."""

    async def moved(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.spec = ScheduleSpec(cron_expressions=[cron], time_zone_name=zone)
        return ScheduleUpdate(schedule=schedule)

    await handle.update(moved)


async def test_schedule_install_keeps_a_users_times_and_pause_unless_reset(tmp_path, dev_env):
    """Installed once, the sweep given another cron and zone from the CLI and the
    health sweep changed and paused by hand: installing again keeps both (what they
    start is refreshed); --reset puts every Schedule back to the policies' times."""
    env = cli_env(tmp_path, target(dev_env), f"tq-{uuid.uuid4()}")
    policies = load_policies(None)
    assert policies.renewal is not None and policies.health is not None
    sweep, health = policies.renewal.schedule, policies.health.sweep

    async def install(*options: str) -> dict[str, dict]:
        run = await csops(env, "schedule", "install", *options, "--json", cwd=tmp_path)
        return {s["schedule_id"]: s for s in run.json()}

    await csops(env, "schedule", "remove", cwd=tmp_path)  # another test's may be there
    try:
        first = await install()
        assert {s["result"] for s in first.values()} == {"created"}
        assert (first[SCHEDULE_ID]["cron"], first[SCHEDULE_ID]["timezone"]) == (
            sweep.cron,
            sweep.timezone,
        )
        mine = await install("--cron", "15 3 * * *", "--timezone", "Europe/Paris")
        assert (mine[SCHEDULE_ID]["result"], mine[SCHEDULE_ID]["cron"]) == ("updated", "15 3 * * *")
        assert mine[SCHEDULE_ID]["timezone"] == "Europe/Paris"

        handle = dev_env.client.get_schedule_handle(HEALTH_SCHEDULE_ID)
        await move_by_hand(handle, "45 4 * * *", "Asia/Tokyo")
        # The Schedule applies a change a moment after the call returns, and of a
        # pause and an update both waiting it applies the pause first, then the
        # update's state (not paused): each step waits for what the user would see in
        # the UI before their next one.
        await eventually(
            handle.describe,
            holds=lambda d: spec_crons(d.schedule.spec) == ["45 4 * * *"],
            what="the move applied",
        )
        await handle.pause(note="quiet week")
        await eventually(
            handle.describe, holds=lambda d: d.schedule.state.paused, what="the pause applied"
        )

        again = await install()
        assert again[SCHEDULE_ID]["result"] == again[HEALTH_SCHEDULE_ID]["result"] == TIMES_KEPT
        assert (again[SCHEDULE_ID]["cron"], again[SCHEDULE_ID]["timezone"]) == (
            "15 3 * * *",
            "Europe/Paris",
        )
        assert (again[HEALTH_SCHEDULE_ID]["cron"], again[HEALTH_SCHEDULE_ID]["timezone"]) == (
            "45 4 * * *",
            "Asia/Tokyo",
        )
        assert (await handle.describe()).schedule.state.paused

        reset = await install("--reset")
        assert {s["result"] for s in reset.values()} == {"updated"}
        assert (reset[SCHEDULE_ID]["cron"], reset[SCHEDULE_ID]["timezone"]) == (
            sweep.cron,
            sweep.timezone,
        )
        assert (reset[HEALTH_SCHEDULE_ID]["cron"], reset[HEALTH_SCHEDULE_ID]["timezone"]) == (
            health.cron,
            health.timezone,
        )
        assert not (await handle.describe()).schedule.state.paused

        bad = await csops(env, "schedule", "install", "--timezone", "Mars/Base", cwd=tmp_path)
        assert bad.exited(2) and bad.err.count("\n") == 1 and "Mars/Base" in bad.err
    finally:
        await csops(env, "schedule", "remove", cwd=tmp_path)


# ------------------------------------------------------------ the production compose file

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\$\{(\w+)(:-([^}]*))?\}")
# What a compose file run needs beside the csops services, by role.
INFRASTRUCTURE = {
    "temporal-db",
    "temporal",
    "temporal-setup",
    "temporal-ui",
    "context-db",
    "prometheus",
}


def with_defaults(value: str) -> str:
    """A compose value as it runs with none of the ${VAR:-default} variables set."""
    return VARIABLE.sub(lambda m: m.group(3) or "", value)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def published(service: dict) -> set[int]:
    return {int(p.split(":")[-1]) for p in service.get("ports", [])}


def test_the_compose_file_matches_the_code():
    """docker-compose.yml and the Dockerfile, checked against csops' own settings,
    commands, search attributes and metrics ports (containers cannot run here)."""
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    csops_services = {n for n, s in services.items() if s.get("build") == "."}
    assert csops_services == {"worker", "schedules", "codec-server"}
    assert set(services) == INFRASTRUCTURE | csops_services

    # Every image pinned to a version; every variable has a default.
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
    assert VARIABLE.findall(text) and all(m[1] for m in VARIABLE.findall(text)), text

    # Each csops service runs a real csops command with options it has.
    cli = typer.main.get_command(cli_app)
    for name in csops_services:
        argv = services[name]["command"]
        group_ctx = cli.make_context("csops", list(argv), resilient_parsing=True)
        path, sub_args = [], list(argv)
        command = cli
        while hasattr(command, "get_command"):  # a group: the next word is a command
            found = command.get_command(group_ctx, sub_args[0])
            assert found is not None, (name, argv)
            path.append(sub_args.pop(0))
            command = found
        command.make_context(" ".join(path), sub_args)  # raises on an unknown option

    # Their environment: variables csops reads, valid as Settings, pointing at services.
    aliases = {f.validation_alias for f in Settings.model_fields.values()}
    worker = services["worker"]
    for name in csops_services:
        env = {k: with_defaults(str(v)) for k, v in services[name]["environment"].items()}
        assert set(env) <= aliases, set(env) - aliases
        settings = Settings(**{k: v for k, v in env.items() if v})
        host, port = settings.temporal_address.split(":")
        assert host == "temporal" and int(port) in published(services["temporal"])
        db = urlsplit(settings.database_url or "")
        pg = services["context-db"]["environment"]
        assert (db.hostname, db.port, db.path) == ("context-db", 5432, f"/{pg['POSTGRES_DB']}")
        assert (db.username, db.password) == (
            pg["POSTGRES_USER"],
            with_defaults(pg["POSTGRES_PASSWORD"]),
        )
        ui = urlsplit(settings.ui_url)
        assert ui.port in published(services["temporal-ui"])
    worker_settings = Settings(
        **{k: v for k, val in worker["environment"].items() if (v := with_defaults(str(val)))}
    )
    assert worker_settings.log_format == "json"
    assert int(with_defaults(str(worker["deploy"]["replicas"]))) >= 2

    # Temporal: the UI and the setup job talk to it; the setup registers csops' attributes.
    setup = services["temporal-setup"]["environment"]
    assert setup["TEMPORAL_ADDRESS"] == services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"]
    assert setup["TEMPORAL_ADDRESS"] == worker_settings.temporal_address
    pairs = dict(p.split("=") for p in setup["CSOPS_SEARCH_ATTRIBUTES"].split())
    assert pairs == {key.name: kind for key, kind in sa.CLI_TYPES.items()}
    ui_env = services["temporal-ui"]["environment"]
    assert (
        ui_env["TEMPORAL_CORS_ORIGINS"]
        == f"{urlsplit(worker_settings.ui_url).scheme}://{urlsplit(worker_settings.ui_url).netloc}"
    )

    # The codec server: csops' default port, published, answering the UI's origin.
    codec = services["codec-server"]["command"]
    codec_port = int(codec[codec.index("--port") + 1])
    assert codec_port == CODEC_PORT and published(services["codec-server"]) == {codec_port}
    assert codec[codec.index("--ui-origin") + 1] == ui_env["TEMPORAL_CORS_ORIGINS"]
    assert services["codec-server"]["profiles"] == ["encryption"]

    # Start order: who waits for whom, and on what.
    def waits(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services[name].get("depends_on", {}).items()}

    assert waits("temporal") == {"temporal-db": "service_healthy"}
    assert waits("worker") == {
        "temporal-setup": "service_completed_successfully",
        "context-db": "service_healthy",
    }
    assert waits("schedules")["temporal-setup"] == "service_completed_successfully"
    assert "worker" in waits("prometheus") and "temporal" in waits("temporal-ui")
    for name in services:
        for other, condition in waits(name).items():
            assert other in services
            if condition == "service_healthy":
                assert "healthcheck" in services[other], other

    # Prometheus scrapes every worker replica on both metrics ports.
    mount = next(v for v in services["prometheus"]["volumes"] if "prometheus.yml" in v)
    prometheus = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    scraped = {
        (target, sd["port"])
        for job in prometheus["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for target in sd["names"]
    }
    ports = {worker_settings.metrics_port, worker_settings.sdk_metrics_port}
    assert scraped == {("worker", p) for p in ports}

    # The image: a Python the project supports, csops as entrypoint, the metrics
    # ports exposed, and no package the install needs left out.
    dockerfile = (ROOT / "Dockerfile").read_text()
    python = re.search(r"^FROM python:(\d+\.\d+)", dockerfile, re.M)
    assert python, dockerfile
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    oldest = pyproject["project"]["requires-python"].removeprefix(">=")
    assert version_tuple(python.group(1)) >= version_tuple(oldest), (python.group(1), oldest)
    assert 'ENTRYPOINT ["csops"]' in dockerfile
    exposed = re.search(r"^EXPOSE (.+)$", dockerfile, re.M)
    assert exposed and {int(p) for p in exposed.group(1).split()} == ports
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    needed = {p.split(".")[0] for p in pyproject["tool"]["setuptools"]["packages"]}
    needed |= {*pyproject["tool"]["setuptools"]["py-modules"], "pyproject.toml"}
    assert not needed & ignored, needed & ignored


# ------------------------------------------------------------ csops up


async def server_attributes(client, namespace: str = "default") -> dict[str, int]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {k: v for k, v in response.custom_attributes.items() if k.startswith("Csops")}


async def up_until_ready(processes, name: str, env: dict, cwd: Path, *options: str):
    """`csops up OPTIONS` until it lists what waits for a human; its output so far."""
    child = processes.spawn(
        name, [find_binary("csops"), "up", "--accounts", "30", *options], env, cwd
    )
    await eventually(
        lambda: "Ctrl-C stops the server and the worker." in child.log.read_text(),
        240,
        every_s=0.5,
        holds=lambda done: done or not child.alive,
        what=f"csops up ready\n{processes.logs(40)}",
    )
    assert child.alive, processes.logs(40)
    return child


@pytest.mark.timeout(600)
async def test_up_on_other_ports_registers_missing_search_attributes_and_keeps_a_custom_schedule(
    tmp_path, processes
):
    """A plain dev server on a non-default port, without csops' search attributes:
    `csops up --port` registers them and runs there; the renewal sweep is then moved
    to another cron and zone, and `up` started again through TEMPORAL_ADDRESS keeps
    them. A namespace where an attribute has another type, or an address that does not
    answer, stops `up` with one line."""
    port = free_port()
    plain = [find_binary("temporal"), "server", "start-dev", "--headless", "--port", str(port),
             "--namespace", "other", "--log-level", "warn"]  # fmt: skip
    processes.spawn("temporal", plain, os.environ, tmp_path)
    address = f"127.0.0.1:{port}"
    client = await wait_until_reachable(address, "default", (), timeout_s=60)
    assert await server_attributes(client) == {}
    env = cli_env(tmp_path, "localhost:1", "csops")  # --port wins over TEMPORAL_ADDRESS
    env.pop("CSOPS_TASK_QUEUE")

    first = await up_until_ready(processes, "up-1", env, tmp_path, "--port", str(port),
                                 "--ui-port", str(free_port()))  # fmt: skip
    text = first.log.read_text()
    assert f"Temporal already running at localhost:{port}: using it (registered" in text
    assert await server_attributes(client) == {
        key.name: INDEXED_TYPES[kind] for key, kind in sa.CLI_TYPES.items()
    }
    sweep = client.get_schedule_handle(SCHEDULE_ID)
    await move_by_hand(sweep, "20 4 * * *", "Europe/Berlin")
    assert first.stop(signal.SIGINT) == 0

    second = await up_until_ready(processes, "up-2", {**env, "TEMPORAL_ADDRESS": address}, tmp_path)
    text = second.log.read_text().split("===== up-2 start")[-1]
    assert f"Temporal already running at {address}: using it\n" in text
    assert f"Schedule {SCHEDULE_ID} {TIMES_KEPT} (20 4 * * * Europe/Berlin)" in text
    spec = (await sweep.describe()).schedule.spec
    assert (spec_crons(spec), spec.time_zone_name) == (["20 4 * * *"], "Europe/Berlin")
    assert second.stop(signal.SIGINT) == 0

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="other", search_attributes={"CsopsHealth": INDEXED_TYPES["Keyword"]}
        )
    )
    refused = await csops({**env, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "other"},
                          "up", cwd=tmp_path, timeout_s=60)  # fmt: skip
    assert refused.exited(2) and refused.err.count("\n") == 1, refused.err
    assert "CsopsHealth is keyword on this server, csops needs Int" in refused.err
    gone = await csops({**env, "TEMPORAL_ADDRESS": "temporal.invalid:7233"}, "up",
                       cwd=tmp_path, timeout_s=60)  # fmt: skip
    assert gone.exited(2) and gone.err.count("\n") == 1, gone.err
    assert "temporal.invalid:7233 (TEMPORAL_ADDRESS) does not answer" in gone.err


async def test_temporal_cloud_settings_give_the_client_mtls_or_an_api_key(tmp_path):
    """TEMPORAL_TLS_CLIENT_CERT_PATH/KEY_PATH become the client's mTLS certificate,
    TEMPORAL_API_KEY its API key over TLS (never shown); half a certificate or a
    missing file is refused in one line before anything connects."""
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n")
    mtls = Access.from_settings(
        Settings(TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert), TEMPORAL_TLS_CLIENT_KEY_PATH=str(key))
    )
    assert isinstance(mtls.tls, TLSConfig) and mtls.api_key is None
    assert (mtls.tls.client_cert, mtls.tls.client_private_key) == (
        cert.read_bytes(),
        key.read_bytes(),
    )
    keyed = Settings(TEMPORAL_API_KEY="secret-key-1")
    assert Access.from_settings(keyed) == Access(tls=True, api_key="secret-key-1")
    assert "secret-key-1" not in repr(keyed)
    assert Access.from_settings(Settings()) == PLAIN
    assert Access.from_settings(Settings(TEMPORAL_TLS="true")).tls is True

    env = cli_env(tmp_path)
    half = await csops({**env, "TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert)}, "inbox", cwd=tmp_path)
    assert half.exited(2) and half.err.count("\n") == 1, half.err
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH" in half.err
    gone = await csops({**env, "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "none.pem"),
                        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key)}, "inbox", cwd=tmp_path)  # fmt: skip
    assert gone.exited(2) and gone.err.count("\n") == 1, gone.err
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in gone.err and "does not point to a file" in gone.err


async def test_csops_reaches_a_cluster_over_mtls_with_its_own_ca(tmp_path, dev_env):
    """A cluster of one's own behind TLS that takes only clients its CA signed (a real
    TLS endpoint in front of the dev server): with the client certificate, the
    cluster's CA and the name its certificate was issued to, `csops` gets through
    and presents its certificate; without the certificate, the CA or the right
    name, the CLI and the worker stop in one sentence naming the setting."""
    ca = self_signed(tmp_path, "cluster-ca")
    server = issue(ca, tmp_path, "temporal-frontend", dns=["temporal.csops.test"])
    client = issue(ca, tmp_path, "csops-client")
    plain = cli_env(tmp_path)
    async with tls_front(target(dev_env), server, client_ca=ca) as front:
        env = {
            **plain,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{front.port}",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(client.cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(client.key),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca.cert),
            "TEMPORAL_TLS_SERVER_NAME": "temporal.csops.test",
        }
        through = await csops(env, "inbox", "--approver", "nobody@csops.test", "--json",
                              cwd=tmp_path)  # fmt: skip
        assert through.exited(0), through.err
        assert json.loads(through.out) == []
        assert "csops-client" in front.clients

        no_cert = {k: v for k, v in env.items() if "CLIENT" not in k}
        no_ca = {k: v for k, v in env.items() if "SERVER_CA" not in k}
        wrong_name = {**env, "TEMPORAL_TLS_SERVER_NAME": "elsewhere.csops.test"}
        for refused, mend in (
            (no_cert, "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"),
            (no_ca, "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
            (wrong_name, "TEMPORAL_TLS_SERVER_NAME"),
        ):
            run = await csops(refused, "inbox", cwd=tmp_path)
            assert run.exited(1) and run.err.count("\n") == 1, run.err
            assert f"cannot reach Temporal at 127.0.0.1:{front.port}: " in run.err, run.err
            assert mend in run.err and "tonic" not in run.err, run.err
        # The worker says the same, in one sentence, and stops.
        worker = await csops(no_ca, "worker", cwd=tmp_path, timeout_s=60)
        assert worker.exited(1) and worker.err.count("\n") == 1, worker.err
        assert "TEMPORAL_TLS_SERVER_CA_CERT_PATH" in worker.err, worker.err
        assert set(front.clients) == {"csops-client"}  # nobody else got through


async def test_an_api_key_travels_as_a_bearer_token_over_tls_only(tmp_path, dev_env):
    """TEMPORAL_API_KEY (Temporal Cloud's other way in) reaches the cluster as each
    call's `authorization: Bearer` header, over TLS, as the TLS endpoint in front of
    the dev server reads it; it is never printed."""
    ca = self_signed(tmp_path, "cloud-ca")
    server = issue(ca, tmp_path, "temporal-cloud", dns=["ns.acct.tmprl.test"])
    key = f"key-{uuid.uuid4().hex}"
    async with tls_front(target(dev_env), server) as front:
        env = {
            **cli_env(tmp_path),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{front.port}",
            "TEMPORAL_API_KEY": key,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca.cert),
            "TEMPORAL_TLS_SERVER_NAME": "ns.acct.tmprl.test",
        }
        run = await csops(env, "inbox", "--approver", "nobody@csops.test", "--json",
                          cwd=tmp_path)  # fmt: skip
        assert run.exited(0) and json.loads(run.out) == [], run.err
        assert key not in run.out + run.err
    paths = [c[":path"] for c in front.calls]
    assert "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions" in paths
    assert {c.get("authorization") for c in front.calls} == {f"Bearer {key}"}, paths
