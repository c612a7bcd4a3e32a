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


def test_dispatcher_with_neither_routes_nor_hooks_is_a_config_error(monkeypatch):
    monkeypatch.delenv("CDP_ROUTES_FILE", raising=False)
    monkeypatch.delenv("CDP_HOOK_SIGNING_KEY", raising=False)
    result = CliRunner().invoke(app, ["dispatcher"])
    assert result.exit_code == 2 and "neither CDP_ROUTES_FILE nor CDP_HOOK_SIGNING_KEY is set" in result.output


def test_a_short_hook_signing_key_is_a_config_error_without_the_key(monkeypatch):
    monkeypatch.setenv("CDP_HOOK_SIGNING_KEY", "s3cret-but-short")
    for command in (["dispatcher"], ["api"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and "CDP_HOOK_SIGNING_KEY: too short" in result.output, result.output
        assert "s3cret-but-short" not in result.output
