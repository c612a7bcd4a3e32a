"""Every client over a secured broker: SASL_SSL with SCRAM-SHA-512 and with
PLAIN, and mutual TLS, each principal holding only the ACLs of its role
(``streams.acls``); the failures a user meets, each one sentence naming the
setting; and no secret in anything printed."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from devtools.broker import USERS, DevBroker
from devtools.processes import ROOT, WorkerProcess, free_port, free_port_block
from devtools.settings import load_broker_settings
from streams.acls import ROLES, acls
from streams.kafka.clients import check, ensure_topics
from streams.settings import Settings
from streams.topics import Topics
from tests.support import builders as b
from tests.support.cli import cli
from tests.support.doc_blocks import code_blocks
from tests.support.kafka import Kafka
from tests.support.kafka import test_settings as settings_for
from tests.support.metrics import probe, wait_for_metric
from tests.support.receivers import HttpReceiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]  # a secured broker of its own, and the clients

HOW = ("scram", "plain", "mtls")


@pytest.fixture(scope="module")
def secured(broker, tmp_path_factory):
    """A broker with SASL_SSL and mTLS listeners and an authorizer, its topics
    created and each role's ACLs granted through the plaintext (admin) door."""
    home = tmp_path_factory.mktemp("secured")
    dev = DevBroker(load_broker_settings(port=free_port_block(4), home=home, secure=True))
    dev.start()
    try:  # a failed setup stops the broker too: the teardown after yield would not run
        base = settings_for(dev.bootstrap, home, partitions=2)
        asyncio.run(ensure_topics(base))
        grant_every_role(dev, base)
        yield dev, base
    finally:
        dev.stop()


def grant_every_role(dev: DevBroker, settings: Settings) -> None:
    """Each role's ACLs for ``settings``' names, to the user of the same name, through the admin door."""
    bindings = []
    for role in ROLES:
        for acl in acls(role, settings):
            for name in acl.names:
                for op in acl.operations:
                    bindings.append(
                        AclBinding(
                            ResourceType.TOPIC if acl.resource == "topic" else ResourceType.GROUP,
                            name,
                            ResourcePatternType.LITERAL,
                            f"User:{role}",
                            "*",
                            AclOperation[op.upper()],
                            AclPermissionType.ALLOW,
                        )
                    )
    admin = AdminClient({"bootstrap.servers": dev.bootstrap})
    for future in admin.create_acls(bindings).values():
        future.result(30)


def as_user(dev: DevBroker, base: Settings, user: str, how: str, **extra: object) -> Settings:
    secured = {k.removeprefix("CDP_").lower(): v for k, v in dev.client_settings(user, how).items()}
    return base.model_copy(update={**secured, "metrics_port": free_port(), "instance_id": f"{user}-{how}", **extra})


def secrets_of(dev: DevBroker) -> list[str]:
    return [(dev.secrets_dir / f"{u}.password").read_text() for u in ("admin", *USERS)] + [
        (dev.secrets_dir / f"{u}.key").read_text().splitlines()[1] for u in USERS
    ]


@pytest.mark.parametrize("how", HOW)
def test_the_trigger_round_trip_through_every_client_as_least_privileged_principals(secured, how, tmp_path):
    dev, base = secured
    base = base.model_copy(update={"data_dir": tmp_path})
    worker = WorkerProcess(as_user(dev, base, "worker", how), tmp_path / "worker.log").start()
    outputs = []
    http = HttpReceiver(lambda path, n: ("status", 202)).__enter__()
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        json.dumps(
            {"receivers": [{"name": "hook", "webhook": {"url": {"env": "HOOK_URL"}}}], "route": {"receiver": "hook"}}
        )
    )
    dispatcher = WorkerProcess(
        as_user(dev, base, "dispatcher", how, routes_file=routes),
        tmp_path / "dispatcher.log",
        "dispatcher",
        {"HOOK_URL": http.url("/hook")},
    ).start()
    try:
        producer = as_user(dev, base, "producer", how)
        sub = b.subscription(f"vip-{how}", "segment", f"vip-{how}", 100)
        subs_file = tmp_path / "subs.yaml"
        subs_file.write_text(json.dumps({"subscriptions": [sub]}))
        outputs.append(applied := cli(producer, "subscriptions", "apply", str(subs_file)))
        assert applied.returncode == 0, applied.stderr
        outputs.append(listed := cli(producer, "subscriptions", "list", "--json"))
        assert sub["subscription_id"] in listed.stdout, listed.stderr
        # the module's topics keep the other cases' subscriptions too
        wait_for_metric(worker, f"cdp_triggers_subscriptions_active {len(listed.stdout.splitlines())}.0")
        lines = "\n".join(json.dumps(b.segment(f"vip-{how}", n, i)) for i, n in enumerate((90, 120)))
        outputs.append(published := cli(producer, "publish", "segment", "-", stdin=lines))
        assert published.returncode == 0, published.stderr
        outputs.append(
            tailed := cli(as_user(dev, base, "viewer", how), "tail", "--json", "--from-beginning", "--idle", "10")
        )
        (event,) = [e for e in map(json.loads, tailed.stdout.splitlines()) if e["subject"] == f"segment/vip-{how}"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not http.requests:
            time.sleep(0.2)
        assert event["id"] in [r.headers["webhook-id"] for r in http.requests], dispatcher.log()[-3000:]
    finally:
        stopped = worker.stop(), dispatcher.stop()
        http.__exit__()
    assert stopped == (0, 0), f"a stop over {how} was not clean: {stopped}\n{worker.log()[-3000:]}"
    printed = worker.log() + dispatcher.log() + "".join(o.stdout + o.stderr for o in outputs)
    assert not [s for s in secrets_of(dev) if s in printed], "a secret was printed"


def test_only_the_topics_principal_creates_the_topics_and_it_reads_no_data(secured, tmp_path):
    """What the chart's topics Job runs as; no process role may create the shared topics."""
    dev, base = secured
    fresh = settings_for(dev.bootstrap, tmp_path, partitions=2)  # names no topic has yet
    grant_every_role(dev, fresh)
    # the worker may create only its own control topics: the rest are refused, in one sentence that names them
    refused = cli(as_user(dev, fresh, "worker", "scram"), "topics", "create")
    assert refused.returncode == 2 and "it may not create them" in refused.stderr, refused.stderr
    assert Topics(fresh).segments in refused.stderr and "Traceback" not in refused.stderr
    made = cli(as_user(dev, fresh, "topics", "scram"), "topics", "create")
    assert made.returncode == 0 and Topics(fresh).segments in made.stdout, made.stderr
    again = cli(as_user(dev, fresh, "topics", "scram"), "topics", "create")
    assert again.returncode == 0 and "created 0 topics (all existed)" in again.stdout, again.stderr
    tailed = cli(as_user(dev, fresh, "topics", "scram"), "tail", "--json", "--from-beginning", "--idle", "2")
    assert tailed.returncode == 2 and "a missing ACL" in tailed.stderr, tailed.stderr


def test_the_producer_library_over_sasl_ssl(secured):
    from schemas.events import SegmentChange
    from streams.client.producer import EventProducer

    dev, base = secured
    settings = as_user(dev, base, "producer", "scram")

    async def go() -> None:
        async with EventProducer(settings) as producer:
            await producer.publish(SegmentChange.model_validate(b.segment("lib", 5, 0)))

    asyncio.run(go())
    got = Kafka(dev.bootstrap).read_json(settings.topic("segment-changes"), idle=2.0, timeout=20)
    assert any(doc["segment_id"] == "lib" for doc in got)


def test_an_operator_lists_and_replays_dead_letters_with_its_own_acls_only(secured, tmp_path):
    import base64
    from datetime import UTC, datetime

    from schemas.deadletter import DeadLetter, DeadLetterReason

    dev, base = secured
    operator = as_user(dev, base, "operator", "scram")
    t = Topics(operator)
    bad = json.dumps(b.segment("ops", 7, 0) | {"member_count": "seven"}).encode()
    letter = DeadLetter(
        id=f"{t.segments}/0/99",
        reason=DeadLetterReason.SCHEMA,
        error="member_count: Input should be a valid integer",
        topic=t.segments,
        partition=0,
        offset=99,
        key_base64=base64.b64encode(b"ops").decode(),
        value_base64=base64.b64encode(bad).decode(),
        dead_lettered_at=datetime.now(UTC),
        worker=base.app_id,
    )
    Kafka(dev.bootstrap).produce_all(t.dead_letter, [(letter.id, json.loads(letter.model_dump_json()))])
    listed = cli(operator, "dead-letters", "list", "--json")
    assert listed.returncode == 0 and letter.id in listed.stdout, listed.stderr
    fix = json.dumps({"dead_letter_id": letter.id, "event": b.segment("ops", 7, 0)})
    replayed = cli(operator, "dead-letters", "replay", "--fix", "-", "--by", "ops", stdin=fix)
    assert replayed.returncode == 0 and "1 replayed" in replayed.stdout, replayed.stderr
    got = Kafka(dev.bootstrap).read_json(t.segments, idle=2.0, timeout=20)
    assert [d["member_count"] for d in got if d["segment_id"] == "ops"] == [7]
    records = Kafka(dev.bootstrap).read_json(t.dead_letter_replays, idle=2.0, timeout=20)
    assert [r["replays"][0]["by"] for r in records] == ["ops"]

    # status with the same ACLs: everything but the hooks (their callback URLs are the API's and dispatchers')
    status = cli(operator, "status", "--json", "--sample", "1")
    assert status.returncode in (0, 1), status.stderr
    shown = json.loads(status.stdout)
    assert shown["registries"]["hooks"] is None and isinstance(shown["registries"]["subscriptions"], int)
    assert shown["dead_letters_by_reason"] == {"schema": 1} and shown["dead_letters_unreplayed"] == 0
    assert {g["group"] for g in shown["groups"]} == {operator.app_id, operator.dispatcher_app_id}


def failing(dev: DevBroker, base: Settings, tmp_path: Path) -> dict[str, tuple[Settings, str]]:
    other_ca = tmp_path / "other-ca"
    from devtools import tls

    tls.make_ca(other_ca)
    return {
        "wrong password": (
            as_user(
                dev, base, "worker", "scram", kafka_sasl_password_file=None, kafka_sasl_password="not-the-password"
            ),
            "CDP_KAFKA_SASL_PASSWORD",
        ),
        "untrusted certificate": (
            as_user(dev, base, "worker", "scram", kafka_ssl_ca_file=other_ca / "ca.pem"),
            "CDP_KAFKA_SSL_CA_FILE",
        ),
        "plaintext client on the TLS port": (
            base.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{dev.ssl_port}", "metrics_port": free_port()}),
            "CDP_KAFKA_SECURITY_PROTOCOL",
        ),
        "no client certificate": (
            as_user(dev, base, "worker", "mtls", kafka_ssl_cert_file=None, kafka_ssl_key_file=None),
            "CDP_KAFKA_SSL_CERT_FILE",
        ),
        "missing ACL": (as_user(dev, base, "viewer", "scram"), "ACL"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong password",
        "untrusted certificate",
        "plaintext client on the TLS port",
        "no client certificate",
        "missing ACL",
    ],
)
def test_a_refused_connection_is_one_sentence_naming_the_setting(secured, tmp_path, case):
    dev, base = secured
    settings, setting = failing(dev, base, tmp_path)[case]
    began = time.monotonic()
    out = cli(settings, "worker")
    took = time.monotonic() - began
    assert out.returncode == 2, out.stderr[-2000:]
    assert setting in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not [s for s in secrets_of(dev) if s in out.stdout + out.stderr] and "not-the-password" not in out.stderr
    print(f"\n{case}: {took:.1f} s: {out.stderr.strip()}")


def test_connect_time_over_each_listener(secured):
    dev, base = secured
    times = {}
    for name, settings in [("plaintext", base), *((how, as_user(dev, base, "worker", how)) for how in HOW)]:
        began = time.monotonic()
        for _ in range(5):
            asyncio.run(check(settings))
        times[name] = (time.monotonic() - began) / 5
    print("\nconnect: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items()))
    assert set(times) == {"plaintext", *HOW}


OPS = {"name": "ops", "scope": "operate"}


def test_the_api_and_its_hooks_as_least_privileged_principals(secured, tmp_path):
    """The api principal serves subscriptions, hooks and API keys, the dispatcher follows the hooks topic: their ACLs
    suffice."""
    from tests.support.api import api_settings, create_key, start_api

    dev, base = secured
    base = base.model_copy(update={"data_dir": tmp_path})
    with HttpReceiver(tls_dir=tmp_path / "tls") as callback:
        hooks = {"hook_allowed_networks": ["127.0.0.1/32"], "hook_ca_file": callback.ca_file}
        api_as = api_settings(as_user(dev, base, "api", "scram"), **hooks)
        worker = WorkerProcess(as_user(dev, base, "worker", "scram"), tmp_path / "worker.log")
        dispatcher = WorkerProcess(
            api_settings(as_user(dev, base, "dispatcher", "scram"), **hooks), tmp_path / "dispatcher.log", "dispatcher"
        )
        api_process, api = start_api(api_as, tmp_path / "api.log", admin=base)
        try:
            worker.start()
            dispatcher.start()
            hook = api.call(
                "POST", "/v1/hooks", json={"url": callback.url("/h"), "types": ["segment.threshold.crossed"]}
            )
            assert hook.status_code == 201, hook.text
            sub = api.call(
                "PUT",
                "/v1/subscriptions/api-vip",
                json={"entity_kind": "segment", "entity_id": "api-vip", "threshold": 100, "owner": "o"},
            )
            assert sub.status_code == 201, sub.text
            known = api.call("GET", "/v1/subscriptions", params={"limit": 1000}).json()["items"]
            assert "api-vip" in {s["subscription_id"] for s in known}, known
            wait_for_metric(worker, f"cdp_triggers_subscriptions_active {len(known)}.0")
            lines = "\n".join(json.dumps(b.segment("api-vip", n, i)) for i, n in enumerate((90, 120)))
            published = cli(as_user(dev, base, "producer", "scram"), "publish", "segment", "-", stdin=lines)
            assert published.returncode == 0, published.stderr
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not callback.requests:
                time.sleep(0.2)
            assert [orjson.loads(r.body)["subject"] for r in callback.requests] == ["segment/api-vip"], (
                dispatcher.log()[-3000:]
            )
            # an admin key (made with the CLI) makes an operate key through the API: the api principal writes keys
            admin = create_key(base, "admin", "admin")
            [made] = wait_for(
                lambda: (
                    [r] if (r := api.call("POST", "/v1/api-keys", key=admin, json=OPS)).status_code != 401 else None
                ),
                30,
                "the admin key",
            )
            assert made.status_code == 201, f"{made.text}\n{api_process.log()[-2000:]}"
            ops = made.json()["key"]
            # the operations an operate key may call, as the api principal with its own ACLs only
            for path in ("/v1/dead-letters", "/v1/deliveries/failed", "/v1/deliveries/attempts"):
                [answered] = wait_for(
                    lambda path=path: [r] if (r := api.call("GET", path, key=ops)).status_code != 401 else None,
                    30,
                    f"the operate key on {path}",
                )
                assert answered.status_code == 200, f"{path}: {answered.text}\n{api_process.log()[-2000:]}"
        finally:
            for process in (api_process, worker, dispatcher):
                process.stop()
        printed = api_process.log() + dispatcher.log()
        assert not [s for s in secrets_of(dev) if s in printed], "a secret was printed"


def test_an_api_whose_follower_loses_its_read_permission_says_so_and_exits(secured, tmp_path):
    """A real failure of a follow task: the api principal's Read ACL on the API-keys topic is taken away while the
    API runs. The API must not go on with a key list that no longer follows the topic: it logs why and exits with
    code 3, for its supervisor to restart it."""
    from confluent_kafka.admin import AclBindingFilter

    from streams.kafka.exits import EXIT_STALLED
    from streams.topics import Topics
    from tests.support.api import api_settings, start_api

    dev, base = secured
    keys_topic = Topics(base).api_keys
    read = AclBinding(
        ResourceType.TOPIC,
        keys_topic,
        ResourcePatternType.LITERAL,
        "User:api",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    admin = AdminClient({"bootstrap.servers": dev.bootstrap})
    api_process, api = start_api(api_settings(as_user(dev, base, "api", "scram")), tmp_path / "api.log", admin=base)
    try:
        assert api.call("GET", "/healthz").status_code == 200
        taken = AclBindingFilter(
            ResourceType.TOPIC,
            keys_topic,
            ResourcePatternType.LITERAL,
            "User:api",
            "*",
            AclOperation.READ,
            AclPermissionType.ALLOW,
        )
        for future in admin.delete_acls([taken]).values():
            future.result(30)
        assert api_process.proc is not None
        code = api_process.proc.wait(60)
    finally:
        for future in admin.create_acls([read]).values():
            future.result(30)
        api_process.stop()
    said = api_process.log()
    assert code == EXIT_STALLED, said[-3000:]
    assert "stopped following" in said and "TopicAuthorizationFailed" in said and "exiting with code 3" in said, said[
        -3000:
    ]


def test_the_own_pipeline_pages_sasl_ssl_settings_start_a_worker_as_written(secured, tmp_path):
    """The settings 'Your own pipeline' tells a user to add for SASL over TLS, with only this broker's names and
    files put in (its user, password file and CA): a worker starts on them, reads and writes, and stops clean."""
    dev, base = secured
    [block] = [text for text in code_blocks(ROOT / "docs" / "own-pipeline.md", "text") if "SASL_SSL" in text]
    ours = dev.client_settings("worker", "scram")
    swaps = {
        "=cdp-worker": "=worker",
        "/etc/cdp-triggers/kafka-password": ours["CDP_KAFKA_SASL_PASSWORD_FILE"],
        "/etc/cdp-triggers/kafka-ca.pem": ours["CDP_KAFKA_SSL_CA_FILE"],
    }
    for old, new in swaps.items():
        assert old in block, f"the page no longer says {old!r}"
        block = block.replace(old, new)
    page = dict(line.split("=", 1) for line in block.splitlines() if line.strip())
    port = free_port()
    settings = base.model_copy(update={"data_dir": tmp_path, "metrics_port": port, "instance_id": "page"})
    # the base's plaintext door is replaced by the page's settings and the secured listener
    env = {**page, "CDP_KAFKA_BOOTSTRAP": ours["CDP_KAFKA_BOOTSTRAP"]}
    worker = WorkerProcess(settings, tmp_path / "worker.log", env=env)
    worker.start(timeout=90)
    try:
        wait_for(lambda: probe(port, "/readyz") == 200, 60, "the worker ready", worker.log)
        # it reads and writes on those settings: a malformed event in, its dead letter out
        admin = Kafka(dev.bootstrap)
        bad = f"{{not json {free_port()}".encode()
        admin.produce(settings.topic("segment-changes"), "page", bad)
        admin.flush()
        mine = base64.b64encode(bad).decode()
        wait_for(
            lambda: [d for d in admin.read_json(settings.topic("dead-letter"), idle=1.0) if d["value_base64"] == mine],
            60,
            "the dead letter",
            worker.log,
        )
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def test_explain_as_the_operator_with_its_acls_only(secured, tmp_path):
    """The worker answers as its own principal; the operator asks with the CLI; a viewer may not ask."""
    dev, base = secured
    base = base.model_copy(update={"data_dir": tmp_path})
    worker = WorkerProcess(as_user(dev, base, "worker", "scram"), tmp_path / "worker.log").start()
    operator = as_user(dev, base, "operator", "scram")
    try:
        admin = Kafka(dev.bootstrap)
        admin.produce(base.topic("refresh-runs"), "sec-run", b.run_started("sec-run", [("segment", "a")], 0))
        admin.flush()

        def explained() -> subprocess.CompletedProcess | None:
            out = cli(operator, "explain", "run", "sec-run")
            return out if out.returncode == 0 and "waiting for: 1 task(s): segment:a" in out.stdout else None

        asked = wait_for(explained, 60, "the operator's explain", lambda: cli(operator, "explain", "run", "sec-run"))
        assert "answered by worker-scram" in asked.stdout
        refused = cli(as_user(dev, base, "viewer", "scram"), "explain", "run", "sec-run")
        assert refused.returncode == 2 and "check its ACLs" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
