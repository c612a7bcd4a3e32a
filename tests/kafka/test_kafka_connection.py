"""The one place clients are configured: what each protocol hands aiokafka and Faust."""

import ssl
from pathlib import Path

import faust

from streams.kafka.clients import KafkaConnection
from streams.runtime.app import _credentials
from streams.settings import Settings


def test_plaintext_is_the_default():
    c = KafkaConnection(Settings())
    assert c._common() == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert _credentials(c) is None


def test_sasl_ssl_verifies_the_broker_and_sends_the_credentials(tmp_path: Path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    c = KafkaConnection(
        Settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="worker",
            kafka_sasl_password_file=secret,
        )
    )
    args = c._common()
    assert args["security_protocol"] == "SASL_SSL" and args["sasl_mechanism"] == "SCRAM-SHA-512"
    assert args["sasl_plain_username"] == "worker" and args["sasl_plain_password"] == "s3cret"
    context = args["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    credentials = _credentials(c)
    assert isinstance(credentials, faust.SASLCredentials) and credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert "s3cret" not in c.describe() and "s3cret" not in repr(c.sasl)


def test_ssl_without_sasl_is_tls_only(tmp_path: Path):
    c = KafkaConnection(Settings(kafka_security_protocol="SSL", kafka_ssl_check_hostname=False))
    assert "sasl_mechanism" not in c._common() and c._common()["ssl_context"].check_hostname is False
    assert isinstance(_credentials(c), faust.SSLCredentials)
