"""Issue 20, case 8: URLs that crashed pages. A link is edited by hand, so each query
parameter a page reads may hold anything: a huge integer, 1e309, nan, a digit of
another script ('²' is a digit to str.isdigit but not to int), nothing at all. Each
page shows its usual warning instead of a traceback: the value is named, the page
falls back to the default and keeps working. And a damaged file in the user data
folder is listed as damaged, with the reason, on the Your data page.
"""
import os

import numpy as np
import pytest

from helpers import app_test, env_restored, seed_store, shared_store
from test_e2e_browser import CHROMEDRIVER, CHROMIUM, _chrome, _page_drawn, _serve, _wait

HUGE = "99999999999999999999"  # beyond 2**53 - 1: no widget in the browser holds it


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """A store of its own with no job and no worker: pages show their message without a run."""
    from engine.jobs import queue as jobs
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(jobs, "refresh", lambda *a, **k: 0)
    return tmp_path


@pytest.fixture
def seeded(tmp_path_factory, monkeypatch):
    """One finished run (shared, read only), for the pages that need one to read their parameters."""
    return shared_store(tmp_path_factory, monkeypatch)


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


def named(at, name: str, value: str) -> bool:
    """A warning names the parameter and its value as the link wrote it."""
    return any(f"?{name}={value}" in w for w in warnings(at))


# --- the pure parsing every page shares ------------------------------------------------------

@pytest.mark.parametrize("text, cast", [("²", int), ("", int), (HUGE, int), ("1.5", int), ("1e309", float),
                                        ("-inf", float), ("nan", float), ("²", float), ("x", float)])
def test_text_no_widget_can_hold_is_not_usable(text, cast):
    from dashboard.analysis_ui import parse_param, usable
    assert usable(text, cast) is None
    assert parse_param(text, 8, cast, lo=2, hi=40) == 8


@pytest.mark.parametrize("text, cast, value", [("12", int, 12), ("-5", int, 2), ("1000", int, 40), ("0.5", float, 2),
                                               ("1e300", float, 40)])
def test_a_usable_number_is_clamped_to_the_widgets_range(text, cast, value):
    from dashboard.analysis_ui import parse_param
    assert parse_param(text, 8, cast, lo=2, hi=40) == value


def test_the_warning_shows_a_hostile_value_as_text_and_short():
    from dashboard.analysis_ui import unusable_text
    text = unusable_text("grid", "`[x](http://example.com)`" + "9" * 500, 8, "whole number")
    assert "http://example.com" in text and len(text) < 200
    assert text.count("`") == 2  # the value stays inside one code span: never read as markdown


# --- the Run page: its form reads every option from the URL ------------------------------------

RUN = "pages/1_Run.py"


@pytest.mark.parametrize("name, value, fallback", [
    ("lr", "1e309", 0.2), ("lr", "-inf", 0.2), ("lr", "nan", 0.2), ("lr", "²", 0.2),
    ("epochs", HUGE, 300), ("n_train", "²", 8192), ("seeds", "", 20), ("width", "1e3", 20),
    ("labels", "²|1", "parity"), ("labels", "0,1|2", "parity"),
])
def test_run_form_values_no_widget_can_hold_fall_back_with_a_warning(empty_store, name, value, fallback):
    at = app_test(RUN, {name: value})
    assert not at.exception, at.exception
    assert named(at, name, value), warnings(at)
    assert any(f"using {fallback}" in w for w in warnings(at)), warnings(at)
    if name == "labels":
        assert at.radio(key="opt-labels").value == fallback
    else:
        assert at.get_by_key(f"opt-{name}").value == pytest.approx(fallback)
    assert name not in at.query_params  # the form's default leaves the link


def test_run_form_value_the_engine_refuses_is_named_at_its_field(empty_store):
    at = app_test(RUN, {"epochs": "-5"})  # a number the widget holds: the engine names it, as when typed
    assert not at.exception and not at.warning
    assert any(e.value.startswith("Epochs T: -5 is not possible") for e in at.error)


def test_run_page_with_a_job_id_beyond_any_store(empty_store):
    at = app_test(RUN, {"job": "99999999999999999999999"})
    assert not at.exception
    assert any("no job 99999999999999999999999" in w for w in warnings(at))


@pytest.mark.parametrize("name, value", [("logx", "²"), ("lines", HUGE)])
def test_run_page_toggles_of_a_job(seeded, name, value):
    store, job_id = seeded
    at = app_test(RUN, {"job": job_id, name: value})
    assert not at.exception, at.exception
    assert named(at, name, value), warnings(at)
    assert at.toggle(key=name).value is True  # the default: on


# --- the pages of a run ----------------------------------------------------------------------

@pytest.mark.parametrize("page, params, name", [
    ("pages/2_Inversion.py", {"jobs": "²"}, "jobs"),
    ("pages/2_Inversion.py", {"jobs": "1e309"}, "jobs"),
    ("pages/2_Inversion.py", {"jobs": HUGE}, "jobs"),
    ("pages/2_Inversion.py", {"x": "²"}, "x"),
    ("pages/3_Stragglers.py", {"def": "²"}, "def"),
    ("pages/3_Stragglers.py", {"def": "epoch", "t": HUGE}, "t"),
    ("pages/3_Stragglers.py", {"def": "error", "eps": "nan"}, "eps"),
    ("pages/3_Stragglers.py", {"min": "1e309"}, "min"),
    ("pages/3_Stragglers.py", {"cls": "²"}, "cls"),
    ("pages/3_Stragglers.py", {"seed": "²"}, "seed"),
    ("pages/3_Stragglers.py", {"sort": ""}, "sort"),
    ("pages/3_Stragglers.py", {"fscore": "confidence", "flo": "-inf"}, "flo"),
    ("pages/4_Map.py", {"space": "²"}, "space"),
    ("pages/4_Map.py", {"space": "hidden", "epoch": "²"}, "epoch"),
    ("pages/4_Map.py", {"perplexity": "1e309"}, "perplexity"),
    ("pages/4_Map.py", {"iter": HUGE}, "iter"),
    ("pages/5_Pruning.py", {"retrain": HUGE}, "retrain"),
    ("pages/5_Pruning.py", {"grid": "²"}, "grid"),
    ("pages/5_Pruning.py", {"sigmas": "1e309"}, "sigmas"),
    ("pages/6_Stability_and_scaling.py", {"grid": ""}, "grid"),
    ("pages/6_Stability_and_scaling.py", {"sizes": "²"}, "sizes"),
    ("pages/6_Stability_and_scaling.py", {"depths": HUGE}, "depths"),
    ("pages/8_Scores.py", {"job": "²"}, "job"),
])
def test_hostile_parameters_of_a_run_page_fall_back_with_a_warning(seeded, page, params, name):
    at = app_test(page, params)
    assert not at.exception, at.exception
    if name == "job":
        assert any("Job ² is not a finished run" in w for w in warnings(at)), warnings(at)
    else:
        assert named(at, name, params[name]), warnings(at)


def test_paper_page_budget(empty_store):
    at = app_test("pages/10_Paper.py", {"budget": "²"})
    assert not at.exception, at.exception
    assert named(at, "budget", "²"), warnings(at)
    assert at.radio(key="budget").value == "quick"


# --- Your data: a damaged file in the user data folder -------------------------------------------

def _save_good(name="mine", n=60):
    from engine.data.upload import save_user_dataset
    rng = np.random.default_rng(0)
    save_user_dataset(name, {"x_train": rng.integers(0, 256, (n, 8, 8)).astype(np.uint8),
                             "y_train": np.arange(n) % 10,
                             "x_test": rng.integers(0, 256, (20, 8, 8)).astype(np.uint8),
                             "y_test": np.arange(20) % 10})


def _damage(name="broken"):
    """Random bytes under a user dataset's name: a disk error, a copy cut short, a hand edit."""
    from engine.data.upload import user_dir
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.npz").write_bytes(np.random.default_rng(7).bytes(4096))


YOUR_DATA = "pages/7_Your_data.py"


def test_a_damaged_saved_dataset_alone_is_listed_as_damaged_with_the_reason(empty_store):
    _damage()
    at = app_test(YOUR_DATA)
    assert not at.exception, at.exception
    damaged = [w for w in warnings(at) if "broken" in w]
    assert damaged and "damaged" in damaged[0] and "not a zip file" in damaged[0], warnings(at)
    assert (empty_store / "data" / "user" / "broken.npz").exists()  # nothing stored is deleted


def test_a_damaged_dataset_beside_a_good_one(empty_store):
    _save_good()
    _damage()
    at = app_test(YOUR_DATA, {"dataset": "broken"})
    assert not at.exception, at.exception
    assert any("broken" in w and "damaged" in w for w in warnings(at)), warnings(at)
    assert at.selectbox(key="dataset").options == ["user:mine"]  # the good one can still be run
    assert at.number_input(key="P").value == 60


def test_a_saved_dataset_damaged_inside_its_arrays(empty_store):
    """Sound zip directory and .npy headers, bytes zeroed in the middle of x_train (38 kB,
    more than the headers' read reaches): only reading the arrays shows the damage."""
    from engine.data.upload import damage, user_dataset_path
    _save_good(n=600)
    path = user_dataset_path("mine")
    data = bytearray(path.read_bytes())
    data[20000:20100] = bytes(100)  # the zip's CRC of x_train no longer matches
    path.write_bytes(bytes(data))
    assert damage("mine") is None  # the listing's quick check passes it
    at = app_test(YOUR_DATA)
    assert not at.exception, at.exception
    assert any("user:mine" in w and "damaged" in w and "cannot be read" in w for w in warnings(at)), warnings(at)


def test_your_data_with_an_unknown_dataset_in_the_link(empty_store):
    _save_good()
    at = app_test(YOUR_DATA, {"dataset": "²"})
    assert not at.exception, at.exception
    assert named(at, "dataset", "²"), warnings(at)


def test_run_form_on_a_damaged_upload_names_it_at_its_field(empty_store):
    _damage()
    at = app_test(RUN, {"dataset": "user:broken", "n_train": "8"})
    assert not at.exception, at.exception
    assert any("user:broken" in e.value and "cannot be read" in e.value for e in at.error), [e.value for e in at.error]


# --- in a real browser: the same links on one server ------------------------------------------

# (path and query as typed in the address bar, the page's title, what its warning says)
BROWSER_LINKS = [("Run?lr=1e309", "Run", "?lr=1e309 is not a usable"),
                 (f"Run?epochs={HUGE}", "Run", f"?epochs={HUGE} is not a usable"),
                 ("Run?labels=%C2%B2%7C1", "Run", "?labels=²|1 is not a usable"),
                 ("Run?job=99999999999999999999999", "Run", "no job 99999999999999999999999"),
                 ("Inversion?jobs=%C2%B2", "Inversion", "?jobs=²: ² is not a usable"),
                 ("Your_data", "Your data", "user:broken is damaged")]
EXCEPTIONS_JS = "return [...document.querySelectorAll('[data-testid=\"stException\"]')].map(e => e.innerText.slice(0, 300));"
WARNINGS_JS = "return [...document.querySelectorAll('[data-testid=\"stAlertContentWarning\"]')].map(e => e.innerText);"


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian's chromium and chromedriver in /usr/bin (`make browser` installs them)")
def test_hostile_links_in_chromium_show_a_warning_not_a_traceback(tmp_path, monkeypatch):
    """What the browser draws, not only what the script sent: the warning box, and no
    exception box, for each link (about 20 s; a session's first estimate measures the
    machine first, so alone it takes half a minute more)."""
    with env_restored():
        seed_store(tmp_path / "runs")  # a finished run, for the Inversion page to read ?jobs= at all
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))  # the server inherits it
    _damage()
    with _serve(tmp_path / "runs", tmp_path / "server.log") as url, _chrome(tmp_path / "profile") as d:
        for link, title, says in BROWSER_LINKS:
            d.get(f"{url}/{link}")
            _page_drawn(d, title, timeout=90)
            _wait(lambda: any(says in w for w in d.execute_script(WARNINGS_JS)), 20, f"the warning on /{link}")
            assert not d.execute_script(EXCEPTIONS_JS), f"/{link}: {d.execute_script(EXCEPTIONS_JS)}"
