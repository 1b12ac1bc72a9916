"""Difficulty scores accumulated in the training loop (engine.training.scores, engine.training.grand):
each one against a plain per-seed computation from the recorded logits of a small
run on digits, on the hand-written two-layer path and on the autograd path, with
seeds trained in chunks, and GraNd's closed form against autograd per-example
gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.data.dataset import prepare
from engine.config import ConfigError, RunConfig
from engine.environment import torch_threads
from engine.training.grand import closed_form, closed_form_applies, per_example
from engine.training.models import forward, init_ensemble
from engine.run import run
from engine.training.scores import DEFAULT_SCORE_EPOCH, SCORES, score_epochs

BASE = dict(dataset="digits", n_train=384, seeds=3, epochs=30, device="cpu", lr=1.0)


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


class Recorder:
    """on_epoch for engine.run.run: copies of every record's margin (the logits'
    difference o1 - o0) and the parameters at some epochs, per epoch and seed."""

    def __init__(self, *at: int):
        self.at, self.margins, self.params, self.chunks = set(at), {}, {}, set()

    def __call__(self, rec):
        self.chunks.add(tuple(int(s) for s in rec.seeds))
        for i, s in enumerate(rec.seeds):
            self.margins.setdefault(int(s), []).append(rec.margin[i].detach().clone().numpy())
            if rec.epoch in self.at:
                self.params.setdefault(int(rec.epoch), {})[int(s)] = [p[i:i + 1].detach().clone() for p in rec.params]


def plain_scores(margins: np.ndarray, y: np.ndarray) -> dict:
    """The definitions, one seed, epochs 0..T as rows: margins (T+1, P)."""
    T = len(margins) - 1
    true_margin = np.where(y == 1, margins, -margins).astype(np.float64)  # z_y - z_other
    correct = (margins > 0) == (y == 1)
    p_true = 1 / (1 + np.exp(-true_margin))
    forgetting = (correct[:-1] & ~correct[1:]).sum(0).astype(float)
    forgetting[~correct.any(0)] = T + 1
    to_learn, first = np.empty(len(y)), np.empty(len(y))
    for j in range(len(y)):
        wrong = np.flatnonzero(~correct[:, j])
        to_learn[j] = 0 if len(wrong) == 0 else wrong[-1] + 1  # T + 1 when still wrong at T
        right = np.flatnonzero(correct[:, j])
        first[j] = right[0] if len(right) else T + 1  # Toneva's first learning event; T + 1: never
    return {"forgetting_events": forgetting, "first_correct_epoch": first, "presentations_to_learn": to_learn,
            "confidence": p_true.mean(0),
            "variability": p_true.std(0), "correctness": correct.mean(0), "aum": true_margin.mean(0)}


def autograd_grand(config, params, x, y, shape, points) -> np.ndarray:
    """||d loss_p / d theta|| one point at a time, by torch.autograd: (R, len(points))."""
    out = np.zeros((params[0].shape[0], len(points)))
    for r in range(params[0].shape[0]):
        for j, p in enumerate(points):
            ps = [t[r:r + 1].detach().clone().requires_grad_(True) for t in params]
            logits, _ = forward(config, ps, x[p:p + 1], shape)
            grads = torch.autograd.grad(F.cross_entropy(logits[0], y[p:p + 1]), ps)
            out[r, j] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    return out


def check_against_plain(config, result, data, rec):
    T, (el2n_at, grand_at, _) = config.epochs, score_epochs(config)
    y = data.y_train
    x, yt = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    for r, seed in enumerate(result.seeds):
        margins = np.stack(rec.margins[int(seed)])
        assert margins.shape == (T + 1, data.n_train)
        want = plain_scores(margins, y)
        for name, value in want.items():
            np.testing.assert_allclose(result.scores.values[name][r], value, rtol=2e-6, atol=2e-6, err_msg=name)
        # the loop's own misclassified masks S(t) agree with the margins' sign
        assert (np.unpackbits(result.masks[r], axis=-1, count=data.n_train).astype(bool)
                == ((margins > 0) != (y == 1))).all()
        # EL2N from the logits themselves at its epoch
        params = rec.params[el2n_at][int(seed)]
        logits, _ = forward(config, params, x, data.image_shape)
        np.testing.assert_allclose(logits[0, :, 1] - logits[0, :, 0], margins[el2n_at], rtol=1e-4, atol=1e-4)
        el2n = (F.softmax(logits[0].double(), -1) - F.one_hot(yt, 2)).norm(dim=-1).numpy()
        np.testing.assert_allclose(result.scores.values["el2n"][r], el2n, rtol=1e-4, atol=1e-5)
        points = np.arange(0, data.n_train, 23)
        grand = autograd_grand(config, rec.params[grand_at][int(seed)], x, yt, data.image_shape, points)[0]
        np.testing.assert_allclose(result.scores.values["grand"][r][points], grand, rtol=1e-4, atol=1e-6)
    assert (result.scores.el2n_epoch, result.scores.grand_epoch) == (el2n_at, grand_at)
    assert list(result.scores.epochs) == [T] * len(result.seeds)


@pytest.mark.parametrize("overrides", [
    {},                                               # the hand-written two-layer path, GraNd closed form
    {"depth": 3, "activation": "relu", "lr": 0.5},    # autograd path, GraNd by torch.func
    {"optimizer": "sgd", "batch_size": 64, "lr": 0.1, "epochs": 14},  # mini-batch SGD, closed form
], ids=["dense2", "deep", "sgd"])
def test_every_score_equals_the_plain_computation_from_recorded_logits(overrides):
    torch.manual_seed(0)
    config = RunConfig(**{**BASE, **overrides}, el2n_epoch=12, grand_epoch=5).validate()
    rec = Recorder(12, 5)
    result, data = run(config, on_epoch=rec)
    assert len(rec.chunks) == 1
    check_against_plain(config, result, data, rec)
    # a real trajectory: points forgotten, points never learned, learned at many epochs
    values = result.scores.values
    assert (values["forgetting_events"] > 0).any() and len(np.unique(values["presentations_to_learn"])) > 5
    # first learned (the first correct epoch) and learned for good (after the last mistake) differ
    # exactly for the points forgotten at least once
    first, to_learn = values["first_correct_epoch"], values["presentations_to_learn"]
    assert (first <= to_learn).all() and (first < to_learn).any()
    forgotten = (values["forgetting_events"] > 0) & (first <= config.epochs)
    np.testing.assert_array_equal(first < to_learn, forgotten)


def test_seeds_trained_in_chunks_give_exact_values():
    config = RunConfig(**BASE).validate()
    rec = Recorder(DEFAULT_SCORE_EPOCH, 0)
    data = prepare(config)
    chunked, _ = run(config, data=data, on_epoch=rec, budget=1)  # one seed per chunk
    assert rec.chunks == {(0,), (1,), (2,)}
    check_against_plain(config, chunked, data, rec)
    whole, _ = run(config, data=data)
    for name in SCORES:  # the same seeds trained together: the same scores up to float rounding
        a, b = whole.scores.values[name], chunked.scores.values[name]
        assert np.mean(np.isclose(a, b, rtol=1e-3, atol=1e-3)) > 0.995, name


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "linear"])
def test_grand_closed_form_equals_autograd_per_example_gradients(activation, digits_data):
    config = RunConfig(dataset="digits", n_train=512, seeds=2, activation=activation, init_scale=3.0)
    assert closed_form_applies(config)
    x, y = torch.from_numpy(digits_data.x_train[:40]), torch.from_numpy(digits_data.y_train[:40])
    params = init_ensemble(config, [0, 1], x.shape[1], digits_data.image_shape, "cpu")
    want = autograd_grand(config, params, x, y, digits_data.image_shape, range(40))
    got = closed_form(config, [p.detach() for p in params], x, y, digits_data.image_shape)
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=1e-7)
    vmapped = per_example(config, [p.detach() for p in params], x, y, digits_data.image_shape)
    np.testing.assert_allclose(vmapped.numpy(), want, rtol=2e-5, atol=1e-7)


def test_grand_of_the_cnn_by_torch_func_equals_autograd(digits_data):
    config = RunConfig(dataset="digits", model="cnn", kernel_size=4, seeds=2, width=5)
    assert not closed_form_applies(config)
    x, y = torch.from_numpy(digits_data.x_train[:30]), torch.from_numpy(digits_data.y_train[:30])
    params = init_ensemble(config, [0, 1], x.shape[1], digits_data.image_shape, "cpu")
    want = autograd_grand(config, params, x, y, digits_data.image_shape, range(30))
    got = per_example(config, [p.detach() for p in params], x, y, digits_data.image_shape)
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=1e-7)


def test_score_epoch_beyond_the_run_is_refused():
    with pytest.raises(ConfigError, match=r"--score-epoch=31 is not valid: an epoch of the run, 0 \.\.\. epochs = 30"):
        RunConfig(epochs=30, score_epoch=31).validate()
    with pytest.raises(ConfigError, match="score-epoch"):
        RunConfig(score_epoch=-2).validate()
    assert RunConfig(epochs=30, score_epoch=30).validate().score_epoch == 30
    for name in ("el2n_epoch", "grand_epoch"):
        flag = name.replace("_", "-")
        with pytest.raises(ConfigError, match=rf"--{flag}=31 is not valid: an epoch of the run, 0 \.\.\. epochs = 30"):
            RunConfig(epochs=30, **{name: 31}).validate()
        with pytest.raises(ConfigError, match=flag):
            RunConfig(**{name: -2}).validate()
    with pytest.raises(ConfigError, match="sets the EL2N and the GraNd epoch both"):
        RunConfig(score_epoch=5, grand_epoch=3).validate()


def test_el2n_and_grand_each_have_their_own_epoch_and_score_epoch_sets_both():
    from engine.config import OPTIONS
    assert OPTIONS["el2n_epoch"].default == -1 and OPTIONS["grand_epoch"].default == 0  # the CLI's and the form's
    assert score_epochs(RunConfig(epochs=300)) == (DEFAULT_SCORE_EPOCH, 0, None)  # Paul et al.: GraNd at init
    assert score_epochs(RunConfig(epochs=300, score_epoch=7))[:2] == (7, 7)
    assert score_epochs(RunConfig(epochs=300, el2n_epoch=20, grand_epoch=-1))[:2] == (20, 10)
    config = RunConfig(**BASE).validate()
    result, data = run(config)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    init = init_ensemble(config, config.seed_list, x.shape[1], data.image_shape, "cpu")
    np.testing.assert_allclose(result.scores.values["grand"], closed_form(config, [p.detach() for p in init], x, y, data.image_shape).numpy(),
                               rtol=1e-5, atol=1e-7)  # GraNd of the initial weights
    both = run(config.replace(score_epoch=DEFAULT_SCORE_EPOCH), data=data)[0]
    np.testing.assert_array_equal(both.scores.values["el2n"], result.scores.values["el2n"])
    assert not np.allclose(both.scores.values["grand"], result.scores.values["grand"])
    assert (both.scores.el2n_epoch, both.scores.grand_epoch) == (DEFAULT_SCORE_EPOCH,) * 2


def test_the_default_score_epoch_fits_a_short_run_and_says_so():
    config = RunConfig(**{**BASE, "epochs": 4}).validate()
    el2n, grand, note = score_epochs(config)
    assert (el2n, grand) == (4, 0) and "default EL2N epoch 10: it is read at its last epoch, 4" in note
    rec = Recorder(4, 0)
    result, data = run(config, on_epoch=rec)
    check_against_plain(config, result, data, rec)
    assert any("fewer than the default EL2N epoch 10" in n for n in result.scores.notes)
    assert any("average over its 5 epochs" in n for n in result.scores.notes)
    assert "EL2N/GraNd epoch 10: they are" in score_epochs(config.replace(grand_epoch=-1))[2]
    assert score_epochs(RunConfig(epochs=300)) == (DEFAULT_SCORE_EPOCH, 0, None)


def test_a_stopped_run_keeps_the_epochs_it_has_and_leaves_el2n_undetermined():
    config = RunConfig(**BASE).validate()
    calls = []
    result, data = run(config, should_stop=lambda: calls.append(1) or len(calls) > 6)
    assert result.stopped and result.epochs_done == 6
    assert list(result.scores.epochs) == [6, 6, 6]
    assert np.isnan(result.scores.values["el2n"]).all()
    assert np.isfinite(result.scores.values["grand"]).all()  # read at epoch 0
    assert np.isfinite(result.scores.values["confidence"]).all()
    assert any("stopped early" in n and "EL2N (read at epoch 10) is undetermined" in n and "GraNd" not in n
               for n in result.scores.notes)


def test_a_diverged_seed_has_undetermined_scores():
    config = RunConfig(dataset="digits", n_train=128, epochs=30, seeds=2, activation="linear", lr=1e6,
                       device="cpu").validate()
    result, _ = run(config)
    assert result.diverged
    for name in SCORES:
        assert np.isnan(result.scores.values[name]).all()
    assert any("diverged" in n for n in result.scores.notes)


def test_config_hash_of_older_jobs_is_kept():
    import hashlib
    import json
    c = RunConfig(grand_epoch=-1)  # GraNd where EL2N is read: what every job computed before grand_epoch
    old = c.to_dict()
    old.pop("device")
    for name in ("score_epoch", "el2n_epoch", "grand_epoch", "precision", "label_noise", "label_noise_seed"):
        old.pop(name)
    old["data_version"] = None  # the store's run-job hash, which config_hash is (one hash)
    assert c.config_hash() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    assert c.replace(grand_epoch=10).config_hash() == c.config_hash()  # the same two epochs, spelt otherwise
    assert c.replace(score_epoch=5).config_hash() != c.config_hash()
    assert c.replace(score_epoch=5).config_hash() == c.replace(el2n_epoch=5, grand_epoch=5).config_hash()
    assert RunConfig().config_hash() != c.config_hash()  # GraNd at initialisation is another result


def test_a_job_submitted_before_score_epoch_existed_is_still_reused(tmp_path, monkeypatch):
    import hashlib
    import json
    import time
    from engine.jobs import queue
    from engine.jobs.store import Store
    monkeypatch.setattr(queue, "refresh", lambda *a, **k: 0)  # no worker process
    store = Store(tmp_path / "store.sqlite")
    config = RunConfig(dataset="digits", n_train=64, epochs=2, seeds=1, grand_epoch=-1).to_dict()
    old = {k: v for k, v in config.items() if k not in ("score_epoch", "el2n_epoch", "grand_epoch", "precision", "label_noise", "label_noise_seed")}
    science = {**{k: v for k, v in old.items() if k != "device"}, "data_version": None}
    digest = hashlib.sha256(json.dumps(science, sort_keys=True).encode()).hexdigest()[:16]
    with store.write() as c:
        old_id = c.execute("INSERT INTO jobs (kind, config, config_hash, status, total, created) VALUES "
                           "('run', ?, ?, 'done', 2, ?)", (json.dumps(old), digest, time.time())).lastrowid
    assert queue.submit("run", config, store=store) == old_id  # its GraNd was read where EL2N is
    assert queue.submit("run", {**config, "score_epoch": 1}, store=store) != old_id
    assert queue.submit("run", {**config, "grand_epoch": 0}, store=store) != old_id  # GraNd at init: not that job


def test_scores_stored_before_first_correct_epoch_still_load():
    from engine.training.scores import RunScores
    old_names = ["forgetting_events", "first_learned_epoch", "confidence", "variability", "correctness", "aum",
                 "el2n", "grand"]
    array = np.arange(len(old_names) * 2 * 3, dtype=np.float32).reshape(len(old_names), 2, 3)
    meta = {"scores": old_names, "seeds": [0, 1], "epochs": [5, 5], "score_epoch": 4, "grand_method": "x"}
    got = RunScores.from_stored(array, meta)
    assert set(got.values) == set(SCORES) and got.array().shape == (len(SCORES), 2, 3)
    np.testing.assert_array_equal(got.values["presentations_to_learn"], array[1])  # what that column was
    assert np.isnan(got.values["first_correct_epoch"]).all()  # not recorded then
    assert (got.el2n_epoch, got.grand_epoch) == (4, 4)
