import os

import pytest

# No warm worker (engine.jobs.queue.warm) from the home page in the tests: each AppTest
# and server would leave a process waiting for jobs; tests of it set the variable.
os.environ.setdefault("STRAGGLERS_WARM_WORKER", "0")


@pytest.fixture(scope="session", autouse=True)
def one_calibration(tmp_path_factory):
    """Every test's store shares one calibration of this machine (engine.planning.calibration,
    measured for real the first time an estimate needs it), instead of measuring
    again in each temporary runs folder. Servers and workers the tests start inherit it."""
    from engine.planning.calibration import FOLDER_ENV
    before = os.environ.get(FOLDER_ENV)
    os.environ[FOLDER_ENV] = str(tmp_path_factory.mktemp("calibration"))
    yield
    if before is None:
        os.environ.pop(FOLDER_ENV, None)
    else:
        os.environ[FOLDER_ENV] = before


@pytest.fixture(scope="session")
def digits_config():
    from engine.config import RunConfig
    return RunConfig(dataset="digits", n_train=512, epochs=30, seeds=3, device="cpu")


@pytest.fixture(scope="session")
def digits_data(digits_config):
    from engine.data.dataset import prepare
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
