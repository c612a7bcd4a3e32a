from typer.testing import CliRunner

from streams.cli import app

ROUTES = """
receivers:
  - name: hook
    webhook: {url: {env: CLI_HOOK_URL}}
route: {receiver: hook}
"""


def test_routes_check_masks_secrets_and_names_the_bad_field(tmp_path, monkeypatch):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    monkeypatch.setenv("CLI_HOOK_URL", "https://hooks.example/in?token=TOPSECRET")
    shown = CliRunner().invoke(app, ["routes", "check", str(path), "--show"])
    assert shown.exit_code == 0, shown.output
    assert "TOPSECRET" not in shown.output and '"value": "********"' in shown.output
    assert "valid; receivers: hook (webhook)" in shown.output

    monkeypatch.delenv("CLI_HOOK_URL")
    missing = CliRunner().invoke(app, ["routes", "check", str(path)])
    assert missing.exit_code == 2
    assert "receivers.0.webhook.url: environment variable CLI_HOOK_URL is not set" in missing.output
    assert "Traceback" not in missing.output


def test_dispatcher_without_a_routes_file_is_a_config_error(monkeypatch):
    monkeypatch.delenv("CDP_ROUTES_FILE", raising=False)
    result = CliRunner().invoke(app, ["dispatcher"])
    assert result.exit_code == 2 and "CDP_ROUTES_FILE is not set" in result.output
