import pytest


@pytest.fixture(autouse=True)
def scw_env(monkeypatch):
    monkeypatch.setenv("SCW_ACCESS_KEY", "SCW2QNY4VXPPTZETYAAQ")
    monkeypatch.setenv("SCW_SECRET_KEY", "24434577-791e-4a4a-aae2-f38aa4c5c656")
    monkeypatch.setenv("SCW_DEFAULT_PROJECT_ID", "07eb635a-3313-4042-a259-ff99874253ac")
    monkeypatch.setenv("SCW_DEFAULT_REGION", "fr-par")
