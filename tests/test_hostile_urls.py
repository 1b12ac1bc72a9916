"""Issue 20, case 8: URLs that crashed pages. A link is edited by hand, so each query
parameter a page reads may hold anything: a huge integer, 1e309, nan, a digit of
another script ('²' is a digit to str.isdigit but not to int), nothing at all. Each
page shows its usual warning instead of a traceback: the value is named, the page
falls back to the default and keeps working. And a damaged file in the user data
folder is listed as damaged, with the reason, on the Your data page.
"""
import numpy as np
import pytest

from helpers import app_test, shared_store

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
    at = app_test("pages/9_Paper.py", {"budget": "²"})
    assert not at.exception, at.exception
    assert named(at, "budget", "²"), warnings(at)
    assert at.radio(key="budget").value == "quick"
