"""The executor setting in the sidebar (dashboard/executor_ui.py) on the Run page: local
by default; a Ray cluster's address that does not answer is refused at launch with the
engine's one line and nothing queued; a local Ray per job is queued with the job."""
import pytest

from helpers import app_test

PAGE = "pages/1_Run.py"


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """A store of its own, and no worker processes: submitted jobs stay queued."""
    from engine.jobs import queue as jobs
    from engine.jobs.store import Store
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.setattr(jobs, "refresh", lambda *a, **k: 0)
    return Store(tmp_path / "store.sqlite")


def small(at):
    for name, value in (("dataset", "digits"), ("n_train", 256), ("seeds", 2), ("epochs", 5)):
        at.get_by_key(f"opt-{name}").set_value(value)
    return at.run()


def test_local_is_the_default_and_ray_asks_for_an_address(empty_store):
    at = app_test(PAGE)
    assert at.get_by_key("executor").value == "local" and not at.sidebar.text_input
    at.get_by_key("executor").set_value("ray").run()
    assert at.get_by_key("ray_address").value == "" and at.get_by_key("ray_cpus").value == 1
    at.get_by_key("ray_address").set_value("not an address").run()
    assert [e.value for e in at.sidebar.error] == [
        "--ray-address='not an address' is not valid: host:port of a Ray head (as `ray start --head` prints it), "
        "or auto; leave it out to start a local Ray"]
    assert at.get_by_key("launch").disabled


def test_an_address_that_does_not_answer_is_refused_at_launch_and_nothing_is_queued(empty_store):
    at = small(app_test(PAGE))
    at.get_by_key("executor").set_value("ray").run()
    at.get_by_key("ray_address").set_value("127.0.0.1:9").run()
    at.get_by_key("launch").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Could not launch: --ray-address='127.0.0.1:9' is not valid: "
                                                     "no Ray head answers there within 3 s")
    assert empty_store.list_jobs() == []


def test_a_run_on_a_local_ray_is_queued_with_its_executor(empty_store):
    at = small(app_test(PAGE))
    at.get_by_key("executor").set_value("ray").run()
    at.get_by_key("ray_cpus").set_value(2).run()
    at.get_by_key("launch").click().run()
    assert not at.exception and not at.error
    [job] = empty_store.list_jobs()
    assert job["config"]["executor"] == {"name": "ray", "address": None, "cpus": 2}
    assert job["config"]["dataset"] == "digits" and str(at.query_params["job"]).strip("[]'") == str(job["id"])


def test_the_setting_survives_a_reload(empty_store):
    """Issue 20, case 7: "Train on" went back to local after a reload; it is kept in the URL."""
    at = app_test(PAGE)
    at.get_by_key("executor").set_value("ray").run()
    at.get_by_key("ray_cpus").set_value(2).run()
    kept = {k: str(v).strip("[]'") for k, v in at.query_params.items()}
    assert kept["executor"] == "ray" and kept["ray_cpus"] == "2"
    again = app_test(PAGE, kept)  # a reload: a new session with the page's URL
    assert again.get_by_key("executor").value == "ray" and again.get_by_key("ray_cpus").value == 2
    odd = app_test(PAGE, {"executor": "gpu-farm"})
    assert odd.get_by_key("executor").value == "local" and any("gpu-farm" in w.value for w in odd.warning)
