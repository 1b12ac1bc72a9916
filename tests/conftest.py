import pytest


@pytest.fixture(scope="session")
def digits_config():
    from engine.config import RunConfig
    return RunConfig(dataset="digits", n_train=512, epochs=30, seeds=3, device="cpu")


@pytest.fixture(scope="session")
def digits_data(digits_config):
    from engine.data import prepare
    return prepare(digits_config)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session (2 CPUs, no dashboard, a small object
    store); its address, which job workers (separate processes) join."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20, log_to_driver=False,
             logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
