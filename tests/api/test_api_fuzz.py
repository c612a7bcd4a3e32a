"""The API fuzzed from its own OpenAPI document (schemathesis), on a real
broker: whatever a client sends, no 5xx, and every answer (status, content
type, body) is one the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from devtools.processes import WorkerProcess, free_port
from tests.support.api import create_key, own_api

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


@pytest.fixture(scope="module")
def api(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    s, process, client = own_api(broker.bootstrap, tmp, api_rate_limit_per_minute=1_000_000)
    # a worker, for /v1/explain to have someone to ask (without one it answers 503, as documented)
    worker = WorkerProcess(s.model_copy(update={"metrics_port": free_port()}), tmp / "worker.log").start()
    yield client, create_key(s, "fuzz-operations", "operate")
    worker.stop()
    process.stop()


def _fuzz(operation, key: str) -> None:
    # schemathesis' pytest integration does not load under pytest 9: drive its strategies with hypothesis directly
    from hypothesis import given

    @given(operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case):
        # positive_data_acceptance is left out: rules JSON Schema cannot state (recovery <= threshold, a
        # callback that resolves to a private address) rightly refuse some schema-valid bodies
        case.call_and_validate(headers={"X-API-Key": key}, excluded_checks=[positive_data_acceptance])

    fuzz()


def test_no_server_errors_and_answers_match_the_document(api):
    api, operator_key = api
    document = schemathesis.openapi.from_url(f"{api.base}/openapi.json")
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:
        # the operations endpoints take an operate key, the rest a write key: each is fuzzed past its auth
        _fuzz(operation, operator_key if "operations" in operation.tags else api.key)
