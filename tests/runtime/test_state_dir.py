"""A worker whose data directory cannot be written says so in one sentence (exit 2 through ``launch``), before
it waits on the network; the image test sees the same on a read-only root."""

from __future__ import annotations

import os

import pytest

from streams.runtime.app import state_dir, writable_state_dir
from streams.settings import ConfigError, Settings


def test_a_data_directory_that_cannot_be_made_is_one_sentence_naming_path_uid_and_setting(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = Settings(data_dir=blocker / "state", instance_id="w1")  # under a file: no one can make it
    with pytest.raises(ConfigError) as caught:
        writable_state_dir(settings)
    message = str(caught.value)
    assert message.startswith("CDP_DATA_DIR: cannot write ") and str(state_dir(settings)) in message
    assert f"as uid {os.getuid()} (Not a directory)" in message and "mount a writable volume" in message
    assert "\n" not in message


def test_a_writable_data_directory_is_made(tmp_path):
    settings = Settings(data_dir=tmp_path / "state", instance_id="w1")
    made = writable_state_dir(settings)
    assert made == state_dir(settings) and made.is_dir() and list(made.iterdir()) == []
