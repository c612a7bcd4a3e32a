"""A CreateTopics answer carries each topic's outcome instead of raising it: what the engine makes of them."""

from __future__ import annotations

from streams.kafka.clients import creation_errors


def test_created_and_already_existing_are_success_refused_and_failed_are_told_apart():
    answer = [
        ("made", 0, None),
        ("raced", 36, "Topic 'raced' already exists."),  # another process created it first
        ("inputs", 29, "Authorization failed."),
        ("wide", 38, "Replication factor: 3 larger than available brokers: 1."),
        ("old", 37),  # a v0 answer has no message
    ]
    refused, failed = creation_errors(answer)
    assert refused == ["inputs"]
    assert failed == [
        "wide: InvalidReplicationFactorError (Replication factor: 3 larger than available brokers: 1.)",
        "old: InvalidPartitionsError",
    ]
