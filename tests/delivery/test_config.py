import base64

import pytest

from streams.delivery.config import RoutesError, load

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()

GOOD = """
receivers:
  - name: teams
    teams: {url: {env: T_URL}}
  - name: hook
    webhook: {url: {env: H_URL}, signing_secret: {file: SECRET_FILE}}
  - name: mail
    email:
      from: cdp@example.com
      to_owner: true
      smtp: {host: 127.0.0.1, port: 2525, security: none, username: u, password: {env: SMTP_PW}}
route:
  routes:
    - match: {types: [datasource.refresh.failed]}
      receiver: teams
    - receiver: hook
"""


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("T_URL", "https://prod.example/workflows/abc?sig=TOPSECRET1")
    monkeypatch.setenv("H_URL", "https://hooks.example/in")
    monkeypatch.setenv("SMTP_PW", "TOPSECRET2")
    (tmp_path / "secret").write_text(SECRET + "\n")
    return tmp_path


def write(tmp_path, text):
    path = tmp_path / "routes.yaml"
    path.write_text(text.replace("SECRET_FILE", str(tmp_path / "secret")))
    return path


def test_a_good_file_loads_with_secrets_resolved_and_masked_everywhere(env):
    routes = load(write(env, GOOD))
    assert routes.receivers["teams"].secret("url").endswith("TOPSECRET1")
    assert routes.receivers["hook"].secret("signing_secret") == SECRET
    shown = repr(routes) + str(routes.dump()) + repr(routes.receivers)
    for secret in ("TOPSECRET1", "TOPSECRET2", SECRET, "hooks.example"):
        assert secret not in shown
    assert routes.dump()["receivers"][0]["teams"]["url"] == {"env": "T_URL", "value": "********"}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ("{env: SMTP_PW}", "{env: NOT_SET_ANYWHERE}"),
            "receivers.2.email.smtp.password: environment variable NOT_SET_ANYWHERE",
        ),
        (("receiver: teams", "receiver: nobody"), "unknown receiver 'nobody'"),
        (("datasource.refresh.failed", "datasource.refresh.faild"), "unknown trigger type 'datasource.refresh.faild'"),
        (("security: none", "security: ssl"), "receivers.2.email.smtp.security"),
        (("to_owner: true", "to_owner: false"), "receivers.2.email"),
        (("- name: hook", "- name: teams"), "receiver names must be unique: teams"),
        (("teams: {url: {env: T_URL}}", "teams: {url: {env: T_URL, file: /x}}"), "give exactly one of 'env' or 'file'"),
        (("route:", "rute:"), "route: Field required"),
        (("port: 2525", "port: [2525"), "not valid YAML at line"),
    ],
)
def test_mistakes_name_the_field(env, change, message):
    with pytest.raises(RoutesError) as err:
        load(write(env, GOOD.replace(*change)))
    assert message in str(err.value)
    assert str(env / "routes.yaml") in str(err.value)


def test_a_bad_signing_secret_or_url_is_refused_without_showing_it(env, monkeypatch):
    (env / "secret").write_text("whsec_%%%TOPSECRET3")
    with pytest.raises(RoutesError, match="receivers.1.webhook.signing_secret") as err:
        load(write(env, GOOD))
    assert "TOPSECRET3" not in str(err.value)
    (env / "secret").write_text(SECRET)
    monkeypatch.setenv("H_URL", "hooks.example/TOPSECRET4")
    with pytest.raises(RoutesError, match="receivers.1.webhook.url: the URL must start with http") as err:
        load(write(env, GOOD))
    assert "TOPSECRET4" not in str(err.value)


def test_the_example_routes_file_is_valid(monkeypatch, tmp_path):
    from pathlib import Path

    for name in ("TEAMS_WEBHOOK_URL", "AUTOMATION_WEBHOOK_URL"):
        monkeypatch.setenv(name, "https://example.com/x")
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    text = (Path(__file__).parents[2] / "examples" / "routes.yaml").read_text()
    (tmp_path / "secret").write_text(SECRET)
    path = tmp_path / "routes.yaml"
    path.write_text(text.replace("/run/secrets/automation-webhook-secret", str(tmp_path / "secret")))
    routes = load(path)
    assert sorted(routes.receivers) == ["automation", "data-team-channel", "segment-owners"]
