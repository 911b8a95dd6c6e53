from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, default_data_dir


def test_defaults():
    settings = Settings.load(environ={})
    assert (settings.host, settings.port, settings.region, settings.account) == (
        "127.0.0.1", 5055, "us-east-1", "123456789012"
    )  # fmt: skip
    assert settings.data_dir == default_data_dir({})
    assert settings.storage_dir is not None


def test_environment_then_flags():
    environ = {"LOOKOUTVISION_EMULATOR_PORT": "6000", "LOOKOUTVISION_EMULATOR_IN_MEMORY": "true",
               "LOOKOUTVISION_EMULATOR_DATA_DIR": "/tmp/x"}  # fmt: skip
    settings = Settings.load(environ=environ, port=7000)
    assert settings.port == 7000
    assert settings.in_memory is True and settings.storage_dir is None
    assert settings.data_dir == Path("/tmp/x")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LOOKOUTVISION_EMULATOR_DEVICE": "tpu"}, "device must be one of"),
        ({"LOOKOUTVISION_EMULATOR_IN_MEMORY": "maybe"}, "is not a valid bool"),
        ({"LOOKOUTVISION_EMULATOR_PORT": "70000"}, "port must be"),
        ({"LOOKOUTVISION_EMULATOR_REGION": "../x"}, "region must be"),
        ({"LOOKOUTVISION_EMULATOR_ACCOUNT": "/tmp"}, "account must be 12 digits"),
    ],
)
def test_bad_values_are_named(environ, message):
    with pytest.raises(ValueError, match=message):
        Settings.load(environ=environ)


def test_xdg_data_home_is_respected(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    assert default_data_dir({"XDG_DATA_HOME": "/xdg"}) == Path("/xdg/lookoutvision-emulator")
