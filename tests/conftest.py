import pytest


@pytest.fixture(scope="session")
def digits_config():
    from engine.config import RunConfig
    return RunConfig(dataset="digits", n_train=512, epochs=30, seeds=3, device="cpu")


@pytest.fixture(scope="session")
def digits_data(digits_config):
    from engine.data import prepare
    return prepare(digits_config)
