"""`python -m engine paper`: the table's commands are the real CLI's, the rules decide
as the paper's numbers say, a small report on digits has a verdict for every figure
and resumes without retraining, and the HTML carries plotly once and no link out."""
import json
import re

import pytest

from engine.cli import build_parser, main
from engine.cli.experiments import EXPERIMENTS, job_config
from engine.experiments import JOB_OPTIONS
from engine.experiments.context import split
from engine.paper import rules
from engine.paper.book import VERDICTS, judge, plan, run
from engine.paper.budgets import BUDGETS, Budget
from engine.paper.figures import BY_ID, FIGURES

# digits (always here): small enough for a test, an inversion in every seed at eta = 1
TINY = Budget("tiny", dataset="digits", lr=1.0, n_train=512, seeds=3, epochs=60, n_trains=(128, 256, 512),
              grid_depths=(2,), grid_widths=(10, 20), grid_seeds=2, grid_epochs=60, sweep_points=3,
              stability_points=4, tsne_iter=100)
EVERY_DATASET = ["mnist", "kmnist", "fashion", "cifar10", "digits"]


@pytest.mark.parametrize("budget", [*BUDGETS.values(), TINY], ids=lambda b: b.name)
def test_every_command_is_the_cli_command_of_the_same_config(budget):
    """What the report says reruns a figure alone, parsed by the real CLI, is the very job it ran."""
    parser = build_parser()
    for s in plan(budget, EVERY_DATASET):
        argv = s.command.split()[3:]  # after `python -m engine`
        assert argv[-2:] == ["--out", f"DIR/{s.figure.id}"]
        args = parser.parse_args([a.strip("'") for a in argv])
        dests = [o[1] for o in EXPERIMENTS[s.figure.kind][1]]
        ran, said = split(s.config, JOB_OPTIONS[s.figure.kind]), split(job_config(s.figure.kind, args, dests),
                                                                          JOB_OPTIONS[s.figure.kind])
        assert ran == said, s.figure.id


def test_a_figure_without_its_data_is_not_run_and_says_how_to_get_it():
    sections = {s.figure.id: s for s in plan(TINY, ["digits", "mnist"], how_to={"cifar10": "fetch it like so"})}
    assert sections["3c-d"].config is None and "cifar10" in sections["3c-d"].reason
    assert "fetch it like so" in sections["3c-d"].reason
    assert sections["3a"].config["variants"] == {"dataset=mnist": {"dataset": "mnist"}}  # only what is here
    verdict, claims = judge(BY_ID["3a"], {"variants": {"dataset=mnist": _variant(present=3, n=3)}}, ["mnist"])
    assert verdict == "matches" and [c["verdict"] for c in claims] == ["matches", "not run", "not run"]


def _variant(present, n, phi=0.1, phi_std=0.01, undetermined=0, t=35.0, P=8192):
    state = ["present"] * present + ["undetermined"] * undetermined + ["absent"] * (n - present - undetermined)
    return {"state": state, "states": {"present": present, "undetermined": undetermined,
                                       "absent": n - present - undetermined},
            "n_present": present, "inversion_present": [s == "present" for s in state],
            "phi": [phi if s == "present" else None for s in state], "phi_mean": phi if present else None,
            "phi_std": phi_std if present else None, "config": {"n_train": P},
            "t_star": {m: [t if s == "present" else None for s in state] for m in ("r_plus", "r_minus", "distance")}}


def test_the_rules_decide_as_the_paper_says():
    r = {"variants": {"base": _variant(5, 5, phi=0.0927, phi_std=0.0015)}}
    assert rules.inversion_in_most("base")(r).verdict is True
    assert rules.inversion_in_most("base")({"variants": {"base": _variant(3, 5)}}).verdict is False
    assert rules.inversion_in_most("base")({"variants": {"base": _variant(1, 5, undetermined=3)}}).verdict is None
    assert rules.stragglers_within("base", 750, 850)(r).verdict is True          # 759 stragglers of 8192
    assert rules.stragglers_within("base", 750, 850)({"variants": {"base": _variant(5, 5, phi=0.12)}}).verdict is False
    assert rules.t_star_within("base", 30, 40)({"variants": {"base": _variant(5, 5, t=41.0)}}).verdict is False
    assert rules.t_star_within("base", 30, 40)(r).verdict is True
    # activations: within 2 sqrt(sd_paper^2 + sd_ours^2) of the paper's value
    near = {"variants": {"relu": _variant(5, 5, phi=0.089 + 0.018, phi_std=0.001)}}
    far = {"variants": {"relu": _variant(5, 5, phi=0.089 + 0.02, phi_std=0.001)}}
    assert rules.phi_each_within({"relu": (0.089, 0.009)})(near).verdict is True
    assert rules.phi_each_within({"relu": (0.089, 0.009)})(far).verdict is False
    named = {"variants": {"activation=relu": near["variants"]["relu"]}}  # as --vary activation=... names them
    assert rules.phi_each_within({"relu": (0.089, 0.009)}, key="activation={}")(named).verdict is True
    blocks = {"variants": {"a": _variant(5, 5, phi=0.09), "b": _variant(5, 5, phi=0.11)}}
    assert rules.phi_agrees(0.25)(blocks).verdict is True and rules.phi_agrees(0.15)(blocks).verdict is False


def test_the_pruning_rules_read_the_s_t_variants_on_each_side_of_t_star():
    r = {"t_star": [30.0, 40.0], "variants": {"stragglers": _variant(0, 5), "random": _variant(5, 5),
                                               "s_t12": _variant(0, 5), "s_t105": _variant(4, 5)}}
    assert rules.pruned_inversion("stragglers", most=False)(r).verdict is True
    assert rules.pruned_inversion("before", most=False)(r).verdict is True
    assert rules.pruned_inversion("after", most=True)(r).verdict is True
    r["variants"]["s_t105"] = _variant(2, 5)
    assert rules.pruned_inversion("after", most=True)(r).verdict is False
    pts = [{"epsilon": e, "stragglers": {"test_error": s, "noisy_test_error": {"1.5": ns}, "r_plus": rp},
            "random": {"test_error": 0.08, "noisy_test_error": {"1.5": 0.2}}}
           for e, s, ns, rp in [(0.2, 0.16, 0.18, 0.40), (0.12, 0.13, 0.16, 0.43), (0.06, 0.10, 0.21, 0.56)]]
    sweep = {"points": pts, "sigmas": [0.0, 1.5], "full": {"phi_mean": 0.09}}
    assert rules.stragglers_cost_more()(sweep).verdict is True
    assert rules.noisy_stragglers_help()(sweep).verdict is True                  # 2 of 3 lower
    assert rules.asymptote_flat_above_phi(0.1)(sweep).verdict is True            # 0.40, 0.43 above phi
    assert rules.asymptote_flat_above_phi(0.02)(sweep).verdict is False


def test_stability_scaling_and_map_rules():
    s = {"inversion": {"phi_mean": 0.093}, "best": {"epsilon": 0.103, "z": 115.0},
         "t_star": {"z": 63.0, "overlap_fraction": 0.9, "null_fraction": 0.09}}
    assert rules.most_stable_near_phi()(s).verdict is True and rules.conserved_at_t_star()(s).verdict is True
    s["best"]["epsilon"] = 0.21
    assert rules.most_stable_near_phi()(s).verdict is False
    assert rules.phi_inf_within(0.105, 0.13)({"phi_inf": 0.10, "phi_inf_2sigma": 0.01}).verdict is True
    assert rules.phi_inf_within(0.105, 0.13)({"phi_inf": 0.08, "phi_inf_2sigma": 0.01}).verdict is False
    assert rules.phi_inf_within(0.105, 0.13)({"phi_inf": None, "phi_inf_2sigma": None}).verdict is None
    # an interval wide enough to cover anything is no agreement (quick's 4 small sizes: +- 0.64)
    assert rules.phi_inf_within(0.105, 0.13)({"phi_inf": 0.116, "phi_inf_2sigma": 0.643}).verdict is None
    grid = {"grid": [{"depth": 2, "width": 10, "phi_inf": 0.12, "phi_inf_2sigma": 0.01},
                     {"depth": 3, "width": 10, "phi_inf": None, "phi_inf_2sigma": None}]}
    assert rules.grid_within(0.11, 0.13)(grid).verdict is None
    far = {"inputs": {"p": 1e-25, "effect": 0.61, "median_stragglers": 21.8, "median_rest": 16.5}}
    assert rules.farther_from_centre("inputs")(far).verdict is True
    far["inputs"]["p"] = 0.2
    assert rules.farther_from_centre("inputs")(far).verdict is False


def test_every_claim_names_its_source_and_rule():
    for f in FIGURES:
        assert f.claims, f.id
        for c in f.claims:
            assert c.source and c.paper and c.rule_text and callable(c.rule), (f.id, c.what)


def test_a_small_report_has_a_verdict_for_every_figure_and_resumes(tmp_path):
    only = ["1a-b", "1e-f", "2d", "si4"]
    sections = plan(TINY, ["digits"], only=only, out=str(tmp_path))
    report = run(tmp_path, TINY, sections, ["digits"])
    assert [e["figure"] for e in report["figures"]] == only
    assert all(e["verdict"] in VERDICTS for e in report["figures"])
    assert json.loads((tmp_path / "report.json").read_text())["figures"][0]["claims"][0]["paper"]
    by_id = {e["figure"]: e for e in report["figures"]}
    assert by_id["1e-f"]["claims"][1]["verdict"] == "matches"  # random labels: no inversion, on digits too
    for e in report["figures"]:
        assert (tmp_path / e["figure"] / "result.json").exists() and e["command"].endswith(f"{tmp_path}/{e['figure']}")
        assert {"figure", "title", "paper", "ours", "verdict", "command", "seconds"} <= set(e)
    stamps = {i: (tmp_path / i / "result.json").stat().st_mtime_ns for i in only}
    again = run(tmp_path, TINY, plan(TINY, ["digits"], only=only, out=str(tmp_path)), ["digits"])
    assert all(e["reused"] for e in again["figures"])
    assert stamps == {i: (tmp_path / i / "result.json").stat().st_mtime_ns for i in only}  # nothing retrained
    assert [e["verdict"] for e in again["figures"]] == [e["verdict"] for e in report["figures"]]
    page = (tmp_path / "report.html").read_text()
    assert page.count("Plotly.newPlot") == len(only)            # a figure per section
    assert len(re.findall(r"plotly\.js v\d", page)) == 1        # the library, once
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?(https?:)?//", page)


def test_the_cli_dry_run_and_its_errors(capsys):
    assert main(["paper", "--dry-run", "--json", "--only", "1a-b,2a", "--dataset", "mnist"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["figure"] for f in out["figures"]] == ["1a-b", "2a"] and out["seconds"] > 0
    assert out["seconds"] == pytest.approx(sum(f["seconds"] for f in out["figures"]), abs=0.2)
    assert main(["paper", "--only", "9z", "--dry-run"]) == 2
    assert "9z" in capsys.readouterr().err
    assert main(["paper", "--dataset", "svhn", "--dry-run"]) == 2
    assert main(["paper"]) == 2 and "--out" in capsys.readouterr().err


def test_the_report_as_a_queue_job(tmp_path, monkeypatch):
    """Kind "paper" through the queue and a worker's execute: its folder is
    runs/paper/<budget>, its result the verdicts, its progress reaches the end."""
    import dataclasses

    from engine.config import ConfigError
    from engine.jobs import queue
    from engine.jobs.store import Store
    from helpers import run_job
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.setitem(BUDGETS, "quick", dataclasses.replace(TINY, name="quick"))
    store = Store(tmp_path / "store.sqlite")
    job_id = run_job(store, "paper", {"budget": "quick", "only": ["1e-f"]})
    job = store.get_job(job_id)
    assert job["epoch"] == job["total"] == 100
    result = store.get_artifact(job_id, "result")
    assert result["folder"] == str(tmp_path / "paper" / "quick") and set(result["verdicts"]) == {"1e-f"}
    report = json.loads((tmp_path / "paper" / "quick" / "report.json").read_text())
    assert report["figures"][0]["verdict"] == result["verdicts"]["1e-f"] != "pending"
    for bad in ({"budget": "huge"}, {"budget": "quick", "seeds": 3}, {"datasets": ["svhn"]}):
        with pytest.raises(ConfigError):
            queue.submit("paper", bad, store=store)
