"""The remote store's credentials (MILDIP_STORE_USER with MILDIP_STORE_PASSWORD or
MILDIP_STORE_PASSWORD_FILE): read from settings only, complete or refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mildip_ld.cli.main import parser
from mildip_ld.vocab.settings import Settings


def test_no_user_means_no_credentials():
    assert Settings().store_credentials() is None


def test_a_password_or_its_file_gives_the_credentials(tmp_path: Path):
    given = Settings(store_user="writer", store_password="s3cret").store_credentials()
    assert given is not None and (given.user, given.scheme) == ("writer", "digest")
    assert given.password.get_secret_value() == "s3cret" and "s3cret" not in repr(given)
    secret = tmp_path / "password"
    secret.write_text("from-a-file\nignored\n")
    read = Settings(store_user="writer", store_password_file=secret, store_auth="basic").store_credentials()
    assert read is not None and read.password.get_secret_value() == "from-a-file" and read.scheme == "basic"


def test_the_environment_gives_them(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MILDIP_STORE_USER", "writer")
    monkeypatch.setenv("MILDIP_STORE_PASSWORD", "from-env")
    found = Settings().store_credentials()
    assert found is not None and found.password.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"store_password": "x"}, "no MILDIP_STORE_USER"),
        ({"store_user": "writer"}, "no password is set"),
        ({"store_user": "writer", "store_password": ""}, "no password is set"),
        ({"store_user": "writer", "store_password": "x", "store_password_file": "/etc/hostname"}, "not both"),
        ({"store_user": "writer", "store_password_file": "/nonexistent/password"}, "No such file"),
    ],
)
def test_incomplete_or_doubled_credentials_are_refused(settings: dict[str, str], reason: str):
    with pytest.raises(ValueError, match=reason):
        Settings(**settings).store_credentials()


def test_no_flag_takes_a_secret():
    publish = parser().parse_args(["publish", "--to", "http://h/store"])
    assert not any("token" in name or "password" in name for name in vars(publish))
    with pytest.raises(SystemExit):
        parser().parse_args(["publish", "--to", "http://h/store", "--token", "t"])
