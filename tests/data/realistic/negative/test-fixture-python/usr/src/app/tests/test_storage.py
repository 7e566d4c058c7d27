import pytest

from app.scaleway import ScalewayClient, load_profile

PROJECT_ID = "de0b4820-e88e-4752-a937-140d22af7318"


@pytest.fixture
def scw_env(monkeypatch):
    monkeypatch.setenv("SCW_ACCESS_KEY", "SCWQGTTA1PXB8AF2DWH3")
    monkeypatch.setenv("SCW_SECRET_KEY", "ae72409a-eb59-4aec-bc98-a2c13e06cf98")
    monkeypatch.setenv("SCW_DEFAULT_PROJECT_ID", PROJECT_ID)
    monkeypatch.setenv("SCW_DEFAULT_REGION", "fr-par")


def test_profile_from_env(scw_env):
    profile = load_profile()
    assert profile.access_key == "SCWQGTTA1PXB8AF2DWH3"
    assert profile.secret_key == "ae72409a-eb59-4aec-bc98-a2c13e06cf98"
    assert profile.default_project_id == PROJECT_ID


def test_bucket_url(scw_env):
    client = ScalewayClient(load_profile())
    assert client.bucket_url("media") == "https://media.s3.fr-par.scw.cloud"
