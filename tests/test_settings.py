import pytest

from streams.settings import ConfigError, load_settings


def test_defaults(monkeypatch):
    for var in ("CDP_KAFKA_BOOTSTRAP", "CDP_PARTITIONS", "CDP_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092" and s.partitions == 4
    assert s.topic("actions") == "cdp.actions"


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("CDP_PARTITIONS", "many")
    with pytest.raises(ConfigError, match="CDP_PARTITIONS"):
        load_settings()


def test_bad_bootstrap_names_the_variable(monkeypatch):
    monkeypatch.setenv("CDP_KAFKA_BOOTSTRAP", "localhost")
    with pytest.raises(ConfigError, match="CDP_KAFKA_BOOTSTRAP: .*host:port"):
        load_settings()


def test_config_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    path = tmp_path / "cdp.env"
    path.write_text("CDP_PARTITIONS=8\nCDP_APP_ID=from-file\n")
    monkeypatch.setenv("CDP_CONFIG_FILE", str(path))
    monkeypatch.setenv("CDP_APP_ID", "from-env")
    s = load_settings()
    assert (s.partitions, s.app_id) == (8, "from-env")


def test_missing_config_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CDP_CONFIG_FILE", str(tmp_path / "nope.env"))
    with pytest.raises(ConfigError, match="CDP_CONFIG_FILE"):
        load_settings()


def test_the_configuration_page_lists_every_setting_from_the_class():
    import importlib.util
    from pathlib import Path

    from streams.settings import Settings

    path = Path(__file__).resolve().parents[1] / "docs" / "hooks.py"
    spec = importlib.util.spec_from_file_location("docs_hooks", path)
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = (path.parent / "configuration.md").read_text()
    table = hooks.on_page_markdown(page, None, None, None)
    for name, field in Settings.model_fields.items():
        assert f"| `CDP_{name.upper()}` |" in table, f"CDP_{name.upper()} is not on the configuration page"
        assert field.description, f"CDP_{name.upper()} has no description"
        assert field.description.replace("|", "\\|") in table


@pytest.mark.parametrize(
    "env, named",
    [
        ({"CDP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "CDP_KAFKA_SASL_USERNAME"),
        ({"CDP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CDP_KAFKA_SASL_USERNAME": "u"}, "CDP_KAFKA_SASL_PASSWORD"),
        ({"CDP_KAFKA_SECURITY_PROTOCOL": "SSL", "CDP_KAFKA_SSL_CERT_FILE": "/etc/hosts"}, "CDP_KAFKA_SSL_KEY_FILE"),
        ({"CDP_KAFKA_SSL_CA_FILE": "/etc/hosts"}, "CDP_KAFKA_SSL_CA_FILE"),
        ({"CDP_KAFKA_SECURITY_PROTOCOL": "SSL", "CDP_KAFKA_SSL_CA_FILE": "/nope.pem"}, "CDP_KAFKA_SSL_CA_FILE"),
        ({"CDP_KAFKA_SECURITY_PROTOCOL": "TLS"}, "CDP_KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_an_incomplete_kafka_connection_names_the_setting(monkeypatch, env, named):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_a_password_is_never_shown_in_errors_or_reprs(monkeypatch):
    monkeypatch.setenv("CDP_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CDP_KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("CDP_KAFKA_SASL_PASSWORD", "hunter2-secret")
    settings = load_settings()
    assert settings.kafka_password() == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings.model_dump())
    monkeypatch.setenv("CDP_PARTITIONS", "zero")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "hunter2-secret" not in str(err.value)
