"""When buffered work is flushed: often while live (a commit follows its input closely), seldom while catching
up (each flush's fixed cost is spread over more events)."""

from streams.runtime.pipeline import (
    FLUSH_SECONDS,
    FLUSH_SECONDS_BEHIND,
    FLUSH_SIZE,
    FLUSH_SIZE_BEHIND,
    behind,
    flush_due,
    send_window,
)


def test_a_live_worker_flushes_after_a_short_wait_or_a_little_work():
    assert not flush_due(1, FLUSH_SECONDS / 2, catching_up=False)
    assert flush_due(1, FLUSH_SECONDS, catching_up=False)
    assert flush_due(FLUSH_SIZE, 0.0, catching_up=False)


def test_a_worker_catching_up_flushes_after_a_longer_wait_or_more_work():
    assert FLUSH_SECONDS_BEHIND >= 10 * FLUSH_SECONDS and FLUSH_SIZE_BEHIND > FLUSH_SIZE
    assert not flush_due(FLUSH_SIZE, FLUSH_SECONDS, catching_up=True)
    assert flush_due(1, FLUSH_SECONDS_BEHIND, catching_up=True)
    assert flush_due(FLUSH_SIZE_BEHIND, 0.0, catching_up=True)


def test_behind_is_judged_by_the_age_of_the_message_applied():
    now = 1_000_000.0
    assert behind(int((now - 5) * 1000), now) and not behind(int((now - 0.1) * 1000), now)
    assert not behind(None, now)  # nothing applied yet
    assert send_window(int((now - 5) * 1000), now) > send_window(int(now * 1000), now)
