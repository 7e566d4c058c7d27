import pytest

from app.scaleway import ScalewayClient, load_profile

PROJECT_ID = "8df09d05-2fdd-44b7-b808-083fc991c3b5"


@pytest.fixture
def scw_env(monkeypatch):
    monkeypatch.setenv("SCW_ACCESS_KEY", "SCW3NJDP0DP0Z96RP402")
    monkeypatch.setenv("SCW_SECRET_KEY", "2d999afa-33ae-40e0-ad73-5705c33ec499")
    monkeypatch.setenv("SCW_DEFAULT_PROJECT_ID", PROJECT_ID)
    monkeypatch.setenv("SCW_DEFAULT_REGION", "fr-par")


def test_profile_from_env(scw_env):
    profile = load_profile()
    assert profile.access_key == "SCW3NJDP0DP0Z96RP402"
    assert profile.secret_key == "2d999afa-33ae-40e0-ad73-5705c33ec499"
    assert profile.default_project_id == PROJECT_ID


def test_bucket_url(scw_env):
    client = ScalewayClient(load_profile())
    assert client.bucket_url("media") == "https://media.s3.fr-par.scw.cloud"
