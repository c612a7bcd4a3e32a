import pytest

from devtools.settings import load_broker_settings
from streams.settings import ConfigError


def test_broker_settings_read_their_own_variables(monkeypatch):
    monkeypatch.setenv("CDP_BROKER_PORT", "19092")
    assert load_broker_settings().port == 19092


def test_a_bad_broker_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("CDP_BROKER_KAFKA_VERSION", "four")
    with pytest.raises(ConfigError, match="CDP_BROKER_KAFKA_VERSION"):
        load_broker_settings()
