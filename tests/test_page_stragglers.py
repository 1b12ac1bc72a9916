"""The Stragglers page on a real small finished run: counts, filters, S(t) at another
epoch or error, the non-straggler strip, per-class counts and the downloads' bytes."""
import csv
import io
import json
import re

import numpy as np
import pytest
from helpers import Downloads, TWO_SEEDS_LONG, app_test, env_restored, figures, seed_store, shared_store, traces, values

from engine.analysis.report import consensus_indices, straggler_table
from engine.analysis.stragglers import consensus, stragglers_at, stragglers_at_error
from engine.jobs import views


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store, job_id = seed_store(tmp_path_factory.mktemp("stragglers"))
    result, data = store.result(job_id), views.dataset(store, job_id)
    return {"store": store, "job": job_id, "result": result, "data": data, "summary": views.summary(store, job_id),
            "table": straggler_table(result, data)}


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(run["store"].path.parent))
    return run


def shown_count(at) -> int:
    heads = [h.value for h in at.subheader if re.fullmatch(r"\d+ stragglers", h.value)]
    assert len(heads) == 1, [h.value for h in at.subheader]
    return int(heads[0].split()[0])


def caption_indices(images) -> list[int]:
    return [int(re.match(r"#(\d+)", c).group(1)) for c in images.captions]


def test_gallery_count_and_images_match_the_store(env):
    at = app_test("pages/3_Stragglers.py", {"job": env["job"]})
    assert not at.exception
    table = env["table"]
    assert len(table) > 20  # a real inversion: stragglers to look at
    assert shown_count(at) == len(table)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["consensus (≥ ½ of the seeds)"]) == env["summary"]["stragglers"]["consensus_count"]
    mean = np.mean(env["summary"]["stragglers"]["count"])
    assert float(metrics["|S| per seed (mean)"]) == pytest.approx(mean, abs=0.05)
    gallery, strip = at.get("image")[:2]
    # first page, sorted by consensus: the table's order
    assert caption_indices(gallery) == [r["index"] for r in table[:48]]
    first = table[0]
    assert gallery.captions[0].startswith(f"#{first['index']} · class {first['class']} · ")
    assert gallery.captions[0].endswith(f"{first['consensus']:.0%}")
    # non-stragglers: in no seed's S(t*), and of the classes shown above
    freq = consensus(stragglers_at(env["result"]))
    pos = {int(i): p for p, i in enumerate(env["data"].index_train)}
    others = caption_indices(strip)
    assert others and all(freq[pos[i]] == 0 for i in others)
    assert {int(env["data"].classes_train[pos[i]]) for i in others} <= {r["class"] for r in table[:48]}
    assert at.query_params["job"] == str(env["job"])


def test_downloads_are_the_report_table(env, monkeypatch):
    dl = Downloads(monkeypatch)
    at = app_test("pages/3_Stragglers.py", {"job": env["job"]})
    assert not at.exception
    stem = f"stragglers-job{env['job']}"
    rows = list(csv.reader(io.StringIO(dl.files[f"{stem}.csv"].decode())))
    assert rows[0] == ["index", "class", "label", "consensus", "learned_epoch"]
    expected = [[str(r["index"]), str(r["class"]), str(r["label"]), str(r["consensus"]), str(r["learned_epoch"])]
                for r in env["table"]]
    assert rows[1:] == expected
    # the NPY is what the CLI's stragglers.npy is: the consensus stragglers, ascending, and says so
    npy = np.load(io.BytesIO(dl.files[f"{stem}.npy"]), allow_pickle=False)
    cons = consensus_indices(env["result"], env["data"])
    assert npy.dtype == np.int64 and npy.tolist() == cons.tolist() and 0 < len(cons) < len(env["table"])
    labels = [b.label for b in at.get("download_button")]
    assert f"NPY · {len(cons)} consensus indices" in labels and f"CSV · {len(env['table'])} stragglers" in labels
    js = json.loads(dl.files[f"{stem}.json"])
    assert js["indices"] == [r["index"] for r in env["table"]] and js["definition"]["mode"] == "t*"
    assert js["count"] == len(env["table"])
    man = json.loads(dl.files[f"{stem}-manifest.json"])
    assert man["config_hash"] == env["result"].config.config_hash() and man["seeds"] == env["summary"]["seeds"]
    assert man["config_hash"] == env["store"].get_job(env["job"])["config_hash"]  # one hash: the job's
    assert man["selection"]["count"] == len(env["table"])
    # the consensus filter at 0.5 gives exactly the CLI's stragglers.npy
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "min": 0.5})
    cons = consensus_indices(env["result"], env["data"])
    assert shown_count(at) == len(cons) == env["summary"]["stragglers"]["consensus_count"]
    assert sorted(np.load(io.BytesIO(dl.files[f"{stem}.npy"])).tolist()) == sorted(cons.tolist())


def test_no_class_selected_shows_no_chart_and_no_live_download(env):
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "cls": "none"})
    assert not at.exception
    assert shown_count(at) == 0
    assert any("No class is selected" in i.value for i in at.info)
    assert not [f for f in figures(at) if traces(f, "class_counts")]  # no 0-count bars on a −100 %…100 % axis
    assert all(b.proto.disabled for b in at.get("download_button") if b.proto.label.split(" ")[0] in
               ("CSV", "JSON", "NPY", "Manifest"))


def test_seed_and_class_filters(env):
    seeds = env["summary"]["seeds"]
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "seed": seeds[2]})
    assert shown_count(at) == env["summary"]["stragglers"]["count"][2]
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "cls": "3,8", "sort": "index"})
    want = sorted(r["index"] for r in env["table"] if r["class"] in (3, 8))
    assert shown_count(at) == len(want)
    assert caption_indices(at.get("image")[0]) == want[:48]
    bars = traces(figures(at)[1], "class_counts")[0]
    counts = dict(zip(values(bars, "x"), values(bars, "customdata")[:, 0]))
    assert counts["3"] + counts["8"] == len(want) and counts["0"] == 0


def test_s_of_t_at_another_epoch_or_error_updates_the_count(env):
    result = env["result"]
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "def": "epoch", "t": 5})
    S5 = stragglers_at(result, 5)
    assert at.slider(key="t").value == 5
    assert shown_count(at) == int(S5.any(axis=0).sum())
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["|S| per seed (mean)"]) == pytest.approx(S5.sum(1).mean(), abs=0.05)
    assert shown_count(at) > len(env["table"])  # earlier than t*: more points still wrong
    at.slider(key="t").set_value(40).run()
    assert shown_count(at) == int(stragglers_at(result, 40).any(axis=0).sum())
    assert at.query_params["t"] == "40"
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "def": "error", "eps": 0.02})
    assert shown_count(at) == int(stragglers_at_error(result, 0.02).any(axis=0).sum())
    assert any("S(t(ε)) at ε = 0.02" in c.value for c in at.caption)


# --- the URL keeps what is shown; bad values in it are clamped ----------------------------------

def test_emptied_classes_and_the_gallery_page_survive_a_reload(env):
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "def": "epoch", "t": 5, "sort": "index"})
    at.multiselect(key="cls").set_value([]).run()
    assert shown_count(at) == 0
    assert at.query_params["cls"] == "none"  # not "": that would read back as every class
    again = app_test("pages/3_Stragglers.py", {"job": env["job"], "def": "epoch", "t": 5, "cls": "none"})
    assert again.multiselect(key="cls").value == [] and shown_count(again) == 0
    # the gallery's page number
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "def": "epoch", "t": 5, "sort": "index", "page": 2})
    assert not at.exception
    n = shown_count(at)
    assert n > 48 and at.get_by_key("page").value == 2
    want = sorted(int(i) for i in env["data"].index_train[stragglers_at(env["result"], 5).any(axis=0)])
    assert caption_indices(at.get("image")[0]) == want[48:96]
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "def": "epoch", "t": 5, "sort": "index"})
    at.get_by_key("page").set_value(2).run()
    assert at.query_params["page"] == "2"


@pytest.mark.parametrize("params, key, want", [({"def": "epoch", "t": -5}, "t", 0),
                                               ({"def": "epoch", "t": 10**6}, "t", 60),
                                               ({"def": "error", "eps": 7}, "eps", 0.5),
                                               ({"min": 5}, "min", 1.0),
                                               ({"page": 99}, None, None)])
def test_bad_numbers_in_the_link_are_clamped(env, params, key, want):
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], **params})
    assert not at.exception
    if key is not None:
        assert at.slider(key=key).value == want


def test_sizes_over_many_epochs_are_thinned_when_drawn(tmp_path_factory, monkeypatch):
    from engine.figures.dynamics import MAX_POINTS
    store, job_id = shared_store(tmp_path_factory, monkeypatch, **TWO_SEEDS_LONG)
    T = TWO_SEEDS_LONG["epochs"]
    at = app_test("pages/3_Stragglers.py", {"job": job_id})
    assert not at.exception
    for t in traces(figures(at)[0]):
        x = values(t, "x")
        assert len(x) <= MAX_POINTS < T and x[0] == 1 and x[-1] == T and np.all(np.diff(x) > 0)


# --- a run on an uploaded dataset, and the upload replaced ---------------------------------------

@pytest.fixture(scope="module")
def upload_run(tmp_path_factory):
    """A finished run on `user:digits_up` (scikit-learn's digits saved as an upload)."""
    import os

    from sklearn.datasets import load_digits

    from engine.data.upload import save_user_dataset
    root = tmp_path_factory.mktemp("upload-run")
    d = load_digits()
    x, y = d.images.astype(np.uint8), d.target
    arrays = {"x_train": x[:1400], "y_train": y[:1400], "x_test": x[1400:], "y_test": y[1400:]}
    with env_restored("STRAGGLERS_DATA"), env_restored():
        os.environ["STRAGGLERS_DATA"] = str(root / "data")
        save_user_dataset("digits_up", arrays)
        store, job_id = seed_store(root / "runs", dataset="user:digits_up", n_train=256, seeds=2, epochs=20)
    return {"root": root, "store": store, "job": job_id, "arrays": arrays}


def test_a_replaced_upload_shows_its_new_images(upload_run, monkeypatch):
    from dashboard import gallery
    from engine.data.upload import save_user_dataset
    monkeypatch.setenv("STRAGGLERS_DATA", str(upload_run["root"] / "data"))
    monkeypatch.setenv("STRAGGLERS_RUNS", str(upload_run["store"].path.parent))
    drawn = []
    real = gallery.thumbnail
    monkeypatch.setattr(gallery, "thumbnail", lambda x, *a, **k: drawn.append(np.array(x)) or real(x, *a, **k))
    params = {"job": upload_run["job"], "def": "epoch", "t": 1, "sort": "index"}
    at = app_test("pages/3_Stragglers.py", params)
    assert not at.exception and drawn
    before = drawn[0]
    np.testing.assert_array_equal(before, upload_run["arrays"]["x_train"][caption_indices(at.get("image")[0])[0]])
    # the same name, other pixels (the page's "replace a saved dataset" checkbox does this)
    a = upload_run["arrays"]
    save_user_dataset("digits_up", {**a, "x_train": 16 - a["x_train"]}, overwrite=True)
    drawn.clear()
    at = app_test("pages/3_Stragglers.py", params)
    assert not at.exception
    np.testing.assert_array_equal(drawn[0], 16 - before)  # not the cached images of the old file


def test_gallery_sorts_and_filters_by_any_difficulty_score(env):
    scores = views.score_frame(env["store"], env["job"]).set_index("index")
    rows = [r["index"] for r in env["table"]]
    # least confident first, the value in the caption
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "sort": "confidence (lowest first)"})
    assert not at.exception
    want = sorted(rows, key=lambda i: (scores.loc[i, "confidence"], i))
    gallery = at.get("image")[0]
    assert caption_indices(gallery) == want[:48]
    assert gallery.captions[0].endswith(f" · confidence {scores.loc[want[0], 'confidence']:.3g}")
    # only the stragglers with 1 to 3 forgetting events (mean over seeds), most forgotten first
    at = app_test("pages/3_Stragglers.py", {"job": env["job"], "fscore": "forgetting_events", "flo": 1, "fhi": 3,
                                  "sort": "forgetting events (highest first)"})
    assert not at.exception
    inside = [i for i in rows if 1 <= scores.loc[i, "forgetting_events"] <= 3]
    assert 0 < shown_count(at) == len(inside) < len(rows)
    want = sorted(inside, key=lambda i: (-scores.loc[i, "forgetting_events"], i))
    assert caption_indices(at.get("image")[0]) == want[:48]
    assert at.slider(key="frange-forgetting_events").value == (1.0, 3.0)
