from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, default_data_dir


def test_defaults(monkeypatch):
    # An explicit environ is the only one read: this process's variables must not leak in.
    monkeypatch.setenv("XDG_DATA_HOME", "/somewhere/else")
    monkeypatch.setenv("LOOKOUTVISION_EMULATOR_PORT", "6000")
    monkeypatch.setenv("LOOKOUTVISION_EMULATOR_DATA_DIR", "/also/not/this")
    settings = Settings.load(environ={})
    assert (settings.host, settings.port, settings.region, settings.account) == (
        "127.0.0.1", 5055, "us-east-1", "123456789012"
    )  # fmt: skip
    assert settings.data_dir == default_data_dir({})
    assert not str(settings.data_dir).startswith(("/somewhere", "/also"))
    assert settings.storage_dir is not None


def test_the_data_dir_default_follows_the_given_environ(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", "/not/this")
    assert Settings.load(environ={"HOME": "/home/u"}).data_dir == Path(
        "/home/u/.local/share/lookoutvision-emulator"
    )
    assert Settings.load(environ={"XDG_DATA_HOME": "/x"}).data_dir == Path("/x/lookoutvision-emulator")


def test_every_setting_has_help_and_a_variable():
    table = Settings.table()
    assert len({option.env for option in table}) == len(table)
    for option in table:
        assert option.doc and option.default, option.name
        assert option.env == "LOOKOUTVISION_EMULATOR_" + option.name.upper()


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
        ({"LOOKOUTVISION_EMULATOR_LOG_LEVEL": "loud"}, "log_level must be one of debug, info"),
        ({"LOOKOUTVISION_EMULATOR_DATABASE_URL": "mysql://h/db"}, "database_url must start with sqlite:///"),
        ({"LOOKOUTVISION_EMULATOR_STORAGE_URL": "s3:///prefix"}, "names no bucket"),
        (
            {"LOOKOUTVISION_EMULATOR_STORAGE_URL": "gs://bucket"},
            "storage_url must be a local folder or s3://",
        ),
        (
            {
                "LOOKOUTVISION_EMULATOR_DATABASE_URL": "sqlite:////tmp/x.db",
                "LOOKOUTVISION_EMULATOR_IN_MEMORY": "1",
            },
            "in_memory and database_url exclude each other",
        ),
    ],
)
def test_bad_values_are_named(environ, message):
    with pytest.raises(ValueError, match=message):
        Settings.load(environ=environ)


def test_xdg_data_home_is_respected(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    assert default_data_dir({"XDG_DATA_HOME": "/xdg"}) == Path("/xdg/lookoutvision-emulator")


def test_signing_keys_come_from_every_source(tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# one a line\n\nFILEKEY:file:secret\n  OTHER:two  \n")
    environ = {
        "LOOKOUTVISION_EMULATOR_AUTH": "sigv4",
        "LOOKOUTVISION_EMULATOR_CREDENTIALS_FILE": str(keys_file),
        "LOOKOUTVISION_EMULATOR_CREDENTIALS": "SETKEY:set",
        "AWS_ACCESS_KEY_ID": "ENVKEY",
        "AWS_SECRET_ACCESS_KEY": "env",
    }
    assert Settings.load(environ=environ).signing_keys(environ) == {
        "SETKEY": "set", "FILEKEY": "file:secret", "OTHER": "two", "ENVKEY": "env"
    }  # fmt: skip
    # Without auth=sigv4 the server's own AWS keys (used for S3) sign nothing; named keys still do.
    plain = {key: value for key, value in environ.items() if key != "LOOKOUTVISION_EMULATOR_AUTH"}
    assert sorted(Settings.load(environ=plain).signing_keys(plain)) == ["FILEKEY", "OTHER", "SETKEY"]
    assert (
        Settings.load(environ={"AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"}).signing_keys({}) == {}
    )


@pytest.mark.parametrize(
    ("environ", "lines", "message"),
    [
        ({}, None, "auth sigv4 needs at least one key"),
        ({"AWS_ACCESS_KEY_ID": "K"}, None, "must be set together"),
        ({}, "KEY-WITHOUT-SECRET\n", "line 1: expected ACCESS_KEY:SECRET"),
        ({"LOOKOUTVISION_EMULATOR_AUTH": "basic"}, None, "auth must be one of none, sigv4"),
    ],
)
def test_auth_without_usable_keys_is_refused(tmp_path, environ, lines, message):
    environ = {"LOOKOUTVISION_EMULATOR_AUTH": "sigv4", **environ}
    if lines is not None:
        (tmp_path / "keys").write_text(lines)
        environ["LOOKOUTVISION_EMULATOR_CREDENTIALS_FILE"] = str(tmp_path / "keys")
    with pytest.raises(ValueError, match=message):
        Settings.load(environ=environ)
