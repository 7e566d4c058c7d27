import pytest

from app.scaleway import ScalewayClient, load_profile

PROJECT_ID = "0605492a-161b-43ad-bb1e-ce0380be8dc9"


@pytest.fixture
def scw_env(monkeypatch):
    monkeypatch.setenv("SCW_ACCESS_KEY", "SCWNCZN9C9P7RJ9HVK0P")
    monkeypatch.setenv("SCW_SECRET_KEY", "a161f9f2-608e-4f51-9229-9eee5a75902d")
    monkeypatch.setenv("SCW_DEFAULT_PROJECT_ID", PROJECT_ID)
    monkeypatch.setenv("SCW_DEFAULT_REGION", "fr-par")


def test_profile_from_env(scw_env):
    profile = load_profile()
    assert profile.access_key == "SCWNCZN9C9P7RJ9HVK0P"
    assert profile.secret_key == "a161f9f2-608e-4f51-9229-9eee5a75902d"
    assert profile.default_project_id == PROJECT_ID


def test_bucket_url(scw_env):
    client = ScalewayClient(load_profile())
    assert client.bucket_url("media") == "https://media.s3.fr-par.scw.cloud"
