"""Issue 20, cases 4, 6 and 7: pages open on a run with something to show, defaults
that are not errors (P for the dataset, the scaling sizes, Adam's η), progress that
tells the truth (the t-SNE phase, Your data's run, the executor after a reload)."""
import pytest
from helpers import app_test, env_restored, run_job, seed_store

# a small run that cannot show an inversion: 3 epochs are fewer than a verdict needs
EMPTY_RUN = dict(dataset="digits", n_train=64, seeds=2, epochs=3, lr=0.01, device="cpu")
RUN_PAGES = ["pages/3_Stragglers.py", "pages/4_Map.py", "pages/5_Pruning.py", "pages/6_Stability_and_scaling.py"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """An older run with an inversion, then a newer one without."""
    with env_restored():
        store, good = seed_store(tmp_path_factory.mktemp("defaults"))
        empty = run_job(store, "run", EMPTY_RUN)
    assert empty > good
    return store, good, empty


@pytest.fixture
def env(two_runs, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(two_runs[0].path.parent))
    return two_runs


def texts(at) -> str:
    return " ".join(str(e.value) for kind in ("info", "warning", "caption", "markdown", "error")
                    for e in at.get(kind))


@pytest.mark.parametrize("page", RUN_PAGES)
def test_pages_open_on_the_newest_run_with_an_inversion(env, page):
    store, good, empty = env
    at = app_test(page)
    assert not at.exception, at.exception
    assert at.selectbox(key="pick-job").value == good
    assert at.query_params["job"] == str(good)


def test_inversion_page_opens_on_the_newest_run_with_an_inversion(env):
    store, good, empty = env
    at = app_test("pages/2_Inversion.py")
    assert not at.exception, at.exception
    assert at.multiselect(key="jobs").value == [good]


@pytest.mark.parametrize("page", RUN_PAGES + ["pages/2_Inversion.py"])
def test_a_run_without_inversion_says_so_in_words(env, page):
    store, good, empty = env
    at = app_test(page, {"job": empty, "jobs": empty})
    assert not at.exception, at.exception
    words = texts(at)
    assert "No seed of this run shows the inversion" in words
    assert "undetermined 2" in words or "absent 2" in words  # the per-seed states
    assert all("nan" not in str(m.value).lower() for m in at.metric)
    assert "lower the consensus frequency" not in words


# --- case 6: defaults that are errors ----------------------------------------------------------

@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    from engine.jobs.store import Store
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    return Store(tmp_path / "store.sqlite")


def test_choosing_digits_offers_its_largest_valid_P(empty_store):
    from dashboard.machine import split_size
    at = app_test("pages/1_Run.py")
    assert at.get_by_key("opt-n_train").value > split_size("digits")  # MNIST's 8192: too many for digits
    at.get_by_key("opt-dataset").set_value("digits").run()
    assert not at.exception and not at.error and not at.warning
    assert at.get_by_key("opt-n_train").value == split_size("digits")  # block 0: all its training points
    assert not at.get_by_key("launch").disabled
    at.get_by_key("opt-n_train").set_value(300).run()  # a P typed by hand stays
    at.get_by_key("opt-dataset").set_value("mnist").run()
    assert at.get_by_key("opt-n_train").value == 300


def test_choosing_adam_switches_eta_unless_typed(empty_store):
    from engine.config import OPTIONS
    at = app_test("pages/1_Run.py")
    assert at.get_by_key("opt-lr").value == OPTIONS["lr"].default
    at.get_by_key("opt-optimizer").set_value("adam").run()
    assert not at.exception and not at.warning
    assert at.get_by_key("opt-lr").value == pytest.approx(0.005)
    at.get_by_key("opt-optimizer").set_value("gd").run()  # back: the paper's η again
    assert at.get_by_key("opt-lr").value == pytest.approx(OPTIONS["lr"].default)
    at.get_by_key("opt-lr").set_value(0.07).run()  # typed by hand: kept
    at.get_by_key("opt-optimizer").set_value("adam").run()
    assert at.get_by_key("opt-lr").value == pytest.approx(0.07)


def test_scaling_sizes_start_at_the_run_and_double_within_the_data_set(env):
    """Case 6: the Scaling sizes P, 2P, 4P, 8P (the paper's 4096-32768 from a run of 8192),
    within the data set (halvings below P when it is small); not P/4, P/2, P (on MNIST
    with P = 1024: two undetermined points and no fit)."""
    from dashboard.analysis_ui import scaling_sizes
    assert scaling_sizes(1024, 60000) == [1024, 2048, 4096, 8192]
    assert scaling_sizes(8192, 60000) == [4096, 8192, 16384, 32768]
    assert scaling_sizes(512, 1437) == [128, 256, 512, 1024]          # digits: 1437 training points
    store, good, _ = env
    at = app_test("pages/6_Stability_and_scaling.py", {"job": good})
    assert not at.exception
    assert at.text_input(key="sizes").value == "128,256,512,1024"      # the seeded run: digits, P = 512
