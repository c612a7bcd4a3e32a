"""The worker's Faust app as built (no broker needed to build it)."""

from tests.support.kafka import test_settings as settings_for


def test_state_tables_keep_their_names_because_their_changelogs_are_the_state(tmp_path):
    from streams.worker.app import create_app

    pipeline = create_app(settings_for("127.0.0.1:9", tmp_path, app_id="names"))
    assert set(pipeline.app.tables) == {"datasources", "threshold-entities", "refresh-runs", "run-clocks"}
    assert sorted(pipeline.state_tables) == ["datasources", "refresh-runs", "run-clocks", "threshold-entities"]
    agents = {agent.name.rsplit(".", 1)[-1] for agent in pipeline.app.agents.values()}
    assert agents >= {"datasources", "thresholds", "runs"}


def test_the_dispatcher_keeps_its_delivery_records_table(tmp_path, monkeypatch):
    from streams.delivery.app import create_dispatcher
    from streams.delivery.config import parse

    monkeypatch.setenv("T_URL", "https://teams.example/hook")
    routes = parse(
        {"receivers": [{"name": "t", "teams": {"url": {"env": "T_URL"}}}], "route": {"receiver": "t"}}, "inline"
    )
    pipeline = create_dispatcher(settings_for("127.0.0.1:9", tmp_path, app_id="names"), routes)
    assert set(pipeline.app.tables) == {"deliveries"}
    assert pipeline.app.conf.id == "names-dispatcher"
