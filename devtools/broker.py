"""A single-node Apache Kafka (KRaft) for development, tests and the demo.

No Docker and no release tarball: Maven resolves ``org.apache.kafka:kafka_2.13``
and a logging backend from Maven Central into a cache outside the repository,
and the broker runs from those jars on 127.0.0.1.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streams.acls import ROLES

from . import jvm, tls
from .settings import BrokerSettings

# The kafka_2.13 pom lists no logging backend; each line needs its own.
_LOGGING_DEPS = {
    3: [("org.slf4j", "slf4j-reload4j", "1.7.36"), ("ch.qos.reload4j", "reload4j", "1.2.25")],
    4: [
        ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3"),
        ("org.apache.logging.log4j", "log4j-api", "2.24.3"),
        ("org.apache.logging.log4j", "log4j-core", "2.24.3"),
    ],
}

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""

_LOG4J1 = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
"""

READY_LINE = "Kafka Server started"
# Principals of the secured broker: one per role of streams.acls, and admin (a super user).
USERS = ROLES  # one principal per role of streams.acls


class BrokerError(jvm.JvmError):
    """The dev broker could not be fetched, started or stopped."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    answering: bool
    version: str
    bootstrap: str

    def describe(self) -> str:
        if not self.running:
            return f"stopped (Kafka {self.version}, would listen on {self.bootstrap})"
        state = "ready" if self.answering else "starting or not answering"
        return f"running, pid {self.pid}, {state}, Kafka {self.version} on {self.bootstrap}"


def api_versions_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a Kafka ApiVersions v0 request gets a well-formed, error-free answer."""
    client_id = b"cdp-triggers-probe"
    correlation_id = 7
    header = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(header)) + header)
            size = struct.unpack(">i", _read_exact(sock, 4))[0]
            body = _read_exact(sock, size)
    except (OSError, struct.error):
        return False
    got_correlation, error_code = struct.unpack(">ih", body[:6])
    return got_correlation == correlation_id and error_code == 0


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise OSError("connection closed")
        chunks += chunk
    return bytes(chunks)


class DevBroker:
    def __init__(self, settings: BrokerSettings, say: Callable[[str], None] = lambda _: None) -> None:
        self.version = settings.kafka_version
        self.major = int(self.version.split(".")[0])
        if self.major not in _LOGGING_DEPS:
            raise BrokerError(f"CDP_BROKER_KAFKA_VERSION: only 3.x and 4.x are supported, got {self.version}")
        self.port = settings.port
        self.heap = settings.heap
        self.start_timeout = settings.start_timeout_seconds
        self.lib_dir = settings.cache / self.version / "lib"
        self.home = settings.home / str(self.port)
        self.secure = settings.secure
        self.say = say

    # -- paths -------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def _data_dir(self) -> Path:
        # A secured broker has its own data: its SCRAM users are written when the storage is formatted.
        return self.home / f"data-{self.version}{'-secure' if self.secure else ''}"

    # -- the secured listeners ---------------------------------------------
    @property
    def sasl_ssl_port(self) -> int:
        return self.port + 2

    @property
    def ssl_port(self) -> int:
        return self.port + 3

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secure"

    def _password(self, user: str) -> str:
        path = self.secrets_dir / f"{user}.password"
        if not path.exists():
            self.secrets_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text()

    def _tls_material(self) -> None:
        tls.make_ca(self.secrets_dir)
        tls.keystore(self.secrets_dir, "broker")
        for user in USERS:
            tls.issue(self.secrets_dir, user, server=False)
            self._password(user)

    def client_settings(self, user: str, how: str = "scram") -> dict[str, str]:
        """The CDP_KAFKA_* settings for ``user``: ``scram`` or ``plain`` (SASL_SSL) or ``mtls`` (SSL).
        Passwords are given as files, so printing these shows no secret."""
        ca = str(self.secrets_dir / "ca.pem")
        if how == "mtls":
            return {
                "CDP_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ssl_port}",
                "CDP_KAFKA_SECURITY_PROTOCOL": "SSL",
                "CDP_KAFKA_SSL_CA_FILE": ca,
                "CDP_KAFKA_SSL_CERT_FILE": str(self.secrets_dir / f"{user}.pem"),
                "CDP_KAFKA_SSL_KEY_FILE": str(self.secrets_dir / f"{user}.key"),
            }
        return {
            "CDP_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.sasl_ssl_port}",
            "CDP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CDP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512" if how == "scram" else "PLAIN",
            "CDP_KAFKA_SASL_USERNAME": user,
            "CDP_KAFKA_SASL_PASSWORD_FILE": str(self.secrets_dir / f"{user}.password"),
            "CDP_KAFKA_SSL_CA_FILE": ca,
        }

    # -- fetching ----------------------------------------------------------
    def fetch(self) -> Path:
        """Resolve the broker jars with Maven once; later calls reuse the cache."""
        stamp = self.lib_dir / ".complete"
        if stamp.exists():
            return self.lib_dir
        self.say(f"fetching Apache Kafka {self.version} jars from Maven Central (first run only)")
        work = self.lib_dir.parent
        work.mkdir(parents=True, exist_ok=True)
        (work / "pom.xml").write_text(self._pom())
        tmp_lib = work / "lib.partial"
        shutil.rmtree(tmp_lib, ignore_errors=True)
        jvm.maven(
            f"{jvm.DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={tmp_lib}",
            "-DincludeScope=runtime",
            pom=work / "pom.xml",
            what=f"Kafka {self.version}",
        )
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        tmp_lib.rename(self.lib_dir)
        stamp.write_text(self.version)
        return self.lib_dir

    def _pom(self) -> str:
        deps = [("org.apache.kafka", "kafka_2.13", self.version), *_LOGGING_DEPS[self.major]]
        xml = "".join(
            f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
            for g, a, v in deps
        )
        return (
            '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>local.cdp-triggers</groupId><artifactId>dev-broker</artifactId>"
            f"<version>{self.version}</version><packaging>pom</packaging>"
            f"<dependencies>{xml}</dependencies></project>\n"
        )

    # -- configuration -----------------------------------------------------
    def _security_properties(self) -> dict[str, str]:
        d, p = self.secrets_dir, self.port
        plain_users = " ".join(f'user_{u}="{self._password(u)}"' for u in ("admin", *USERS))
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{p + 1},"
            f"SASL_SSL://127.0.0.1:{p + 2},SSL://127.0.0.1:{p + 3}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p},SASL_SSL://127.0.0.1:{p + 2},SSL://127.0.0.1:{p + 3}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.ssl.ssl.client.auth": "required",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(d / "broker.keystore.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(d / "ca.pem"),
            # A client certificate's principal is User:<its CN>.
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+).*$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The plaintext listener and the controller stay open (ANONYMOUS): the dev tools' own door.
            "super.users": "User:ANONYMOUS;User:admin",
        }

    def _server_properties(self) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.port + 1}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.port + 1}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._data_dir),
            # One node: every internal topic has a single replica.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "default.replication.factor": "1",
            "num.partitions": "4",
            # Small machine: few threads, and no 128 MiB cleaner buffer at start.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
            # Tests create and join many groups; waiting 3 s for peers wastes time.
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "168",
            "log.segment.bytes": str(64 * 1024 * 1024),
        }
        if self.secure:
            props.update(self._security_properties())
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        log_opt = (
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"
            if self.major >= 4
            else f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}"
        )
        return [
            jvm.java(),
            f"-Xmx{self.heap}",
            f"-Xms{min(256, _mib(self.heap))}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:ParallelGCThreads=2",
            "-XX:CICompilerCount=2",
            "-Djava.awt.headless=true",
            log_opt,
            "-cp",
            str(self.lib_dir / "*"),
            main,
            *args,
        ]

    # -- lifecycle ---------------------------------------------------------
    def pid(self) -> int | None:
        return jvm.running(self._pid_file, b"kafka.Kafka")

    def status(self) -> BrokerStatus:
        pid = self.pid()
        answering = pid is not None and api_versions_ok("127.0.0.1", self.port)
        return BrokerStatus(pid is not None, pid, answering, self.version, self.bootstrap)

    def start(self) -> BrokerStatus:
        """Start the broker, or do nothing if it already runs; returns once it answers."""
        current = self.status()
        if current.running:
            if not current.answering:
                assert current.pid is not None  # running: its pid is known
                self._wait_ready(current.pid)
            return self.status()
        if api_versions_ok("127.0.0.1", self.port):
            raise BrokerError(f"port {self.port} already has a Kafka broker that this tool did not start")
        self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        if self.secure:
            self._tls_material()
        config = self.home / "server.properties"
        config.write_text(self._server_properties())
        (self.home / "log4j2.properties").write_text(_LOG4J2)
        (self.home / "log4j.properties").write_text(_LOG4J1)
        if not (self._data_dir / "meta.properties").exists():
            self._format(config)
        self.say(f"starting Kafka {self.version} on {self.bootstrap}")
        proc = jvm.spawn(self._java_cmd("kafka.Kafka", str(config)), self.log_file, self._pid_file)
        self._log_offset_at_start = self.log_file.stat().st_size
        try:
            self._wait_ready(proc.pid, proc)
        except jvm.JvmError:
            self._terminate(proc.pid)
            raise
        return self.status()

    def _format(self, config: Path) -> None:
        cluster_id = self._run_tool("kafka.tools.StorageTool", "random-uuid").strip().splitlines()[-1]
        uuid.UUID(bytes=_b64url(cluster_id))  # a malformed id would fail later, obscurely
        scram = []
        if self.secure:
            for user in ("admin", *USERS):
                for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                    scram += ["--add-scram", f"{mechanism}=[name={user},password={self._password(user)}]"]
        self._run_tool("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), *scram)

    def _run_tool(self, main: str, *args: str) -> str:
        proc = subprocess.run(self._java_cmd(main, *args), capture_output=True, text=True)
        if proc.returncode != 0:
            # The arguments can hold the SCRAM passwords: name the tool and its command only.
            raise BrokerError(f"{main} {args[0] if args else ''} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def _wait_ready(self, pid: int, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            exited = proc.poll() is not None if proc else self.pid() is None
            if exited:
                raise BrokerError(f"the broker exited during start-up; log tail:\n{self.log_tail(30)}")
            if self._ready_logged() and api_versions_ok("127.0.0.1", self.port):
                return
            time.sleep(0.2)
        raise BrokerError(
            f"the broker did not answer on {self.bootstrap} within {self.start_timeout:.0f} s; "
            f"log tail:\n{self.log_tail(30)}"
        )

    def _ready_logged(self) -> bool:
        offset = getattr(self, "_log_offset_at_start", 0)
        try:
            with open(self.log_file, "rb") as f:
                f.seek(offset)
                return READY_LINE.encode() in f.read()
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker; True if one was running."""
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        self._terminate(pid, timeout)
        self._pid_file.unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int, timeout: float = 30.0) -> None:
        jvm.terminate(pid, timeout)

    def reset(self) -> None:
        """Stop and delete all broker data (topics, offsets)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, lines: int = 50) -> str:
        return jvm.tail(self.log_file, lines, "(no broker log yet)")


def _mib(heap: str) -> int:
    number, unit = int(heap[:-1]), heap[-1].lower()
    return number * 1024 if unit == "g" else number


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
