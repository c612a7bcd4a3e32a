"""The one place Kafka clients are built, and the topics they need.

Every client of the project (Faust, the gap reader, the subscription registry,
the producer library, the admin calls, ``tail`` and the demo) is made here
from the same ``Settings``, so a connection option is added once for all.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CorruptRecordException,
    GroupAuthorizationFailedError,
    InvalidTimestampError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)
from aiokafka.partitioner import murmur2

from ..settings import ConfigError, Settings
from ..topics import Topics

log = logging.getLogger("cdp_triggers")


# aiokafka's stop waits until each of its connections has closed. Awaited inside a task being cancelled, over
# SASL_SSL, that wait was seen never to end (a worker's stop then hit its shutdown bound); run as a task of its
# own, with this bound, it ends in milliseconds.
CLOSE_SECONDS = 5.0


async def close_bounded(close: Awaitable[object], what: str) -> None:
    """A client's stop or close, given at most ``CLOSE_SECONDS``: what it still waits for then is only the
    connections' goodbye, and the process goes on (its sockets close with it)."""
    try:
        await asyncio.wait_for(close, CLOSE_SECONDS)
    except TimeoutError:
        log.warning("%s did not close in %g s (its connections had not closed); going on", what, CLOSE_SECONDS)


def partition_for(key: bytes, count: int) -> int:
    """The partition the Java client's default partitioner (murmur2) picks for ``key`` among ``count``."""
    partition: int = (murmur2(key) & 0x7FFFFFFF) % count
    return partition


Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]  # key, value, headers


async def send_batches(
    producer: Any, topic: str, partition: int, records: list[Record], errors: Any = None
) -> list[tuple[Any, int]]:
    """Records as few batches as fit, straight to an aiokafka producer: (future, record count) of each.
    ``errors``: a counter of failed batches."""
    sent = []
    batch = producer.create_batch()
    for key, value, headers in records:
        while batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full: send it
            sent.append((await producer.send_batch(batch, topic, partition=partition), batch.record_count()))
            batch = producer.create_batch()
    sent.append((await producer.send_batch(batch, topic, partition=partition), batch.record_count()))
    if errors is not None:
        for future, _ in sent:
            future.add_done_callback(lambda f: errors.inc() if not f.cancelled() and f.exception() else None)
    return sent


async def until_assigned(consumer: AIOKafkaConsumer, timeout: float | None = None) -> list[TopicPartition]:
    """The partitions of a group-less consumer given its topics, once it has them (aiokafka has no event for its
    first assignment); KafkaTimeoutError after ``timeout`` s, when one is given."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not consumer.assignment():
        if deadline is not None and time.monotonic() > deadline:
            raise KafkaTimeoutError(f"no partition of {sorted(consumer.subscription())} assigned within {timeout:g} s")
        await asyncio.sleep(0.05)
    return sorted(consumer.assignment())


class MissingTopicsError(Exception):
    """Topics a command needs do not exist (yet)."""

    def __init__(self, missing: list[str]) -> None:
        names = ", ".join(missing)
        super().__init__(f"topic {names} does not exist" if len(missing) == 1 else f"topics {names} do not exist")


# Errors caused by the record itself, or by this process's own grants: a retry can never succeed, so they are
# told apart from Kafka being unavailable (the only case where "retry later" is true).
_REFUSALS: tuple[tuple[tuple[type[KafkaError], ...], str], ...] = (
    ((MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError), "too-large"),
    ((CorruptRecordException, InvalidTimestampError), "invalid"),
    ((TopicAuthorizationFailedError, ClusterAuthorizationFailedError, GroupAuthorizationFailedError), "grant"),
)


def refusal(exc: KafkaError) -> str | None:
    """Why Kafka refused a write for good: ``"too-large"`` or ``"invalid"`` (the record), or ``"grant"`` (this
    process's principal may not do it); None when it is a failure that a retry can outlive."""
    return next((why for kinds, why in _REFUSALS if isinstance(exc, kinds)), None)


@dataclass(frozen=True)
class Sasl:
    mechanism: str
    username: str
    password: str = field(repr=False)


class KafkaConnection:
    """Builds clients; each is created on call, inside the loop that will run it
    (aiokafka binds a client to the loop running at construction). The TLS
    context and SASL credentials are made once, from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.bootstrap = settings.kafka_bootstrap
        self.protocol = settings.kafka_security_protocol
        self.ssl_context = _tls(settings) if self.protocol in ("SSL", "SASL_SSL") else None
        self.client_certificate = settings.kafka_ssl_cert_file is not None
        password = settings.kafka_password()
        self.sasl = (
            Sasl(settings.kafka_sasl_mechanism, settings.kafka_sasl_username or "", password or "")
            if self.protocol.startswith("SASL_")
            else None
        )

    def _common(self) -> dict[str, Any]:
        args: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.protocol}
        if self.ssl_context is not None:
            args["ssl_context"] = self.ssl_context
        if self.sasl is not None:
            args.update(
                sasl_mechanism=self.sasl.mechanism,
                sasl_plain_username=self.sasl.username,
                sasl_plain_password=self.sasl.password,
            )
        return args

    def describe(self) -> str:
        """Where and how, for messages: never a secret."""
        who = f" as {self.sasl.username} ({self.sasl.mechanism})" if self.sasl else ""
        return f"{self.bootstrap} over {self.protocol}{who}"

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, **self._common(), **options)

    def producer(self, **options: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self._common(), **options)

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self._common(), **options)

    def faust_broker(self) -> list[str]:
        return [f"kafka://{server.strip()}" for server in self.bootstrap.split(",")]


def _tls(settings: Settings) -> ssl.SSLContext:
    """Verifies the brokers (the given CA, or the system's) and their host names
    unless told otherwise; presents a client certificate when one is given."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"CDP_KAFKA_SSL_CA_FILE: not a PEM file of CA certificates ({exc})") from None
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_cert_file is not None:
        password = settings.kafka_ssl_key_password.get_secret_value() if settings.kafka_ssl_key_password else None
        try:
            context.load_cert_chain(str(settings.kafka_ssl_cert_file), str(settings.kafka_ssl_key_file), password)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "CDP_KAFKA_SSL_CERT_FILE / CDP_KAFKA_SSL_KEY_FILE: cannot load the client certificate and key "
                f"(a key that does not match, or a wrong CDP_KAFKA_SSL_KEY_PASSWORD): {type(exc).__name__}"
            ) from None
    return context


async def require_topics(
    existing: Callable[[], Awaitable[Iterable[str]]], wanted: Iterable[str], patience: float = 5.0
) -> None:
    """Return once every wanted topic exists; MissingTopicsError after ``patience``
    seconds. A topic created a moment ago can be missing from the first metadata
    answer, so one look is not enough; aiokafka itself would block for 40 s."""
    deadline = time.monotonic() + patience
    while True:
        missing = sorted(set(wanted) - set(await existing()))
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise MissingTopicsError(missing)
        await asyncio.sleep(0.25)


async def require_topic(settings: Settings, topic: str) -> None:
    """MissingTopicsError when ``topic`` does not exist."""
    admin = KafkaConnection(settings).admin()
    await admin.start()
    try:
        await require_topics(admin.list_topics, [topic])
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, timeout_s: float = 30.0, only: set[str] | None = None) -> list[str]:
    """Create missing topics (of ``only``, when given: the ones a process uses and may see); return those created."""
    connection = KafkaConnection(settings)
    admin = connection.admin(request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError) as exc:
        raise ConnectionError(f"Kafka is not reachable at {connection.bootstrap} ({exc!r})") from None
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in Topics(settings).specs() if s.name not in existing and (only is None or s.name in only)]
        if missing:
            new = [NewTopic(s.name, s.partitions, settings.replication_factor, topic_configs=s.config) for s in missing]
            answer = await admin.create_topics(new)  # each topic's outcome is in the answer, not raised
            refused, failed = creation_errors(answer.topic_errors)
            if refused:
                raise ConfigError(
                    f"topics {', '.join(refused)} do not exist (or this principal may not see them), and it may not "
                    "create them: create them with 'cdp-triggers topics create' as the topics principal or an "
                    "admin, and check the ACLs ('cdp-triggers acls ROLE')"
                )
            if failed:  # a replication factor above the brokers', a policy, a config the cluster refuses
                raise ConfigError(
                    f"Kafka refused to create {'; '.join(failed)}: check CDP_REPLICATION_FACTOR and CDP_PARTITIONS"
                )
            # Created is not yet usable: return once the metadata that clients read lists them.
            await require_topics(admin.list_topics, [s.name for s in missing], patience=timeout_s)
        return [s.name for s in missing]
    finally:
        await admin.close()


def creation_errors(topic_errors: Iterable[tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    """A CreateTopics answer's (topic, error code[, message]) entries: the topics this principal may not create,
    and the others that failed, each with Kafka's reason. Already existing is success (another process won)."""
    refused, failed = [], []
    for topic, code, *message in topic_errors:
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        if code == TopicAuthorizationFailedError.errno:
            refused.append(topic)
        else:
            failed.append(
                f"{topic}: {for_code(code).__name__}" + (f" ({message[0]})" if message and message[0] else "")
            )
    return refused, failed


async def group_offsets(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition] | None, patience: float = 10.0
) -> dict[TopicPartition, Any]:
    """The group's committed offsets, waiting out a coordinator still being elected
    (a new cluster creates its offsets topic on the first such request)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            found: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(group, partitions=partitions)
            return found
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.25)


class ConnectionProblem(Exception):
    """Kafka could not be used, in one sentence naming the cause and the setting
    to check. ``configuration`` is False only when the broker is unreachable."""

    def __init__(self, message: str, configuration: bool = True) -> None:
        super().__init__(message)
        self.configuration = configuration


_API_VERSIONS = struct.pack(">ihhih", 24, 18, 0, 1, 4) + b"cdpx"  # size, ApiVersions v0, correlation id 1


async def diagnose(connection: KafkaConnection, timeout: float = 5.0) -> ConnectionProblem:
    """Why clients could not bootstrap (aiokafka only says that they could not):
    the first server is probed step by step, as a client would talk to it."""
    host, _, port = connection.bootstrap.split(",")[0].strip().rpartition(":")
    where = f"{host}:{port}"
    tls = connection.ssl_context is not None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=connection.ssl_context, server_hostname=host if tls else None),
            timeout,
        )
    except ssl.SSLCertVerificationError as exc:
        if "mismatch" in (exc.verify_message or ""):
            return ConnectionProblem(
                f"the certificate of {where} does not name {host!r}: check CDP_KAFKA_BOOTSTRAP "
                "(use a name the certificate has) or CDP_KAFKA_SSL_CHECK_HOSTNAME"
            )
        return ConnectionProblem(
            f"the certificate of {where} is not trusted ({exc.verify_message}): check CDP_KAFKA_SSL_CA_FILE"
        )
    except ssl.SSLError as exc:
        return ConnectionProblem(
            f"{where} does not speak TLS ({exc.reason}): check CDP_KAFKA_SECURITY_PROTOCOL "
            "and the port of CDP_KAFKA_BOOTSTRAP"
        )
    except (ConnectionResetError, ConnectionAbortedError) as exc:
        if tls:  # a plaintext listener hangs up on a TLS hello
            return ConnectionProblem(
                f"{where} does not speak TLS ({type(exc).__name__}): check "
                "CDP_KAFKA_SECURITY_PROTOCOL and the port of CDP_KAFKA_BOOTSTRAP"
            )
        return ConnectionProblem(
            f"Kafka is not reachable at {where} ({type(exc).__name__}): check CDP_KAFKA_BOOTSTRAP", configuration=False
        )
    except (TimeoutError, OSError) as exc:
        return ConnectionProblem(
            f"Kafka is not reachable at {where} ({type(exc).__name__}): check CDP_KAFKA_BOOTSTRAP", configuration=False
        )
    try:
        writer.write(_API_VERSIONS)
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4), timeout)
    except ssl.SSLError as exc:  # an alert after the handshake: the server refused the client's certificate
        if not connection.client_certificate:
            return ConnectionProblem(
                f"{where} requires a client certificate ({exc.reason}): set "
                "CDP_KAFKA_SSL_CERT_FILE and CDP_KAFKA_SSL_KEY_FILE"
            )
        return ConnectionProblem(
            f"{where} rejected the client certificate ({exc.reason}): check that the CA it "
            "trusts signed CDP_KAFKA_SSL_CERT_FILE"
        )
    except (TimeoutError, OSError):
        head = b""
    finally:
        writer.close()
    if not tls and (not head or head[:1] == b"\x15"):  # closed, or a TLS alert
        return ConnectionProblem(
            f"{where} expects TLS: set CDP_KAFKA_SECURITY_PROTOCOL to SSL or SASL_SSL (and CDP_KAFKA_SSL_CA_FILE)"
        )
    if tls and not head:  # TLS 1.3: a refused client certificate shows only as the server hanging up
        if not connection.client_certificate:
            return ConnectionProblem(
                f"{where} closed the TLS connection: it requires a client certificate; set "
                "CDP_KAFKA_SSL_CERT_FILE and CDP_KAFKA_SSL_KEY_FILE"
            )
        return ConnectionProblem(
            f"{where} rejected the client certificate: check that the CA it trusts signed CDP_KAFKA_SSL_CERT_FILE"
        )
    if connection.sasl is not None:
        return ConnectionProblem(
            f"{where} refused to authenticate {connection.sasl.username!r} with {connection.sasl.mechanism}: "
            "check CDP_KAFKA_SASL_USERNAME, CDP_KAFKA_SASL_PASSWORD (or _FILE) and CDP_KAFKA_SASL_MECHANISM"
        )
    return ConnectionProblem(
        f"{where} refused the connection over {connection.protocol}: check CDP_KAFKA_SECURITY_PROTOCOL"
    )


def _refused_login(connection: KafkaConnection, where: str) -> ConnectionProblem:
    assert connection.sasl is not None
    return ConnectionProblem(
        f"{where} refused to authenticate {connection.sasl.username!r} with {connection.sasl.mechanism}: "
        "check CDP_KAFKA_SASL_USERNAME, CDP_KAFKA_SASL_PASSWORD (or _FILE) and CDP_KAFKA_SASL_MECHANISM"
    )


class _Captured(logging.Handler):
    """aiokafka's own account of a failed connection, kept instead of printed."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def check(settings: Settings, group: str | None = None, timeout: float = 10.0) -> None:
    """Connect as every client will, within seconds; ConnectionProblem says why not.
    With ``group``, also that the principal may use that consumer group."""
    connection = KafkaConnection(settings)
    admin = connection.admin(request_timeout_ms=int(timeout * 1000))
    aiokafka_log, captured = logging.getLogger("aiokafka"), _Captured()
    aiokafka_log.addHandler(captured)
    propagate, aiokafka_log.propagate = aiokafka_log.propagate, False
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await admin.list_topics()
        if group is not None:
            await group_offsets(admin, group, None, patience=timeout)
    except (TimeoutError, KafkaConnectionError):
        if connection.sasl is not None and any("SaslAuthenticationFailed" in m for m in captured.messages):
            raise _refused_login(connection, connection.bootstrap.split(",")[0]) from None
        raise await diagnose(connection) from None
    except GroupAuthorizationFailedError:
        raise ConnectionProblem(
            f"{connection.describe()} may not use consumer group {group!r} (a missing ACL): "
            "see 'cdp-triggers acls --help'"
        ) from None
    finally:
        aiokafka_log.removeHandler(captured)
        aiokafka_log.propagate = propagate
        await admin.close()
