"""SI Fig. 4: where the stragglers sit in a 2-D map of the data.

t-SNE (openTSNE) of the training inputs after PCA to 50 components. The input map depends only on (dataset, block, P), so it is
computed once and cached under <runs>/cache keyed by a hash of those, the
dataset's checksums and the t-SNE settings. Optionally the same for the hidden
representation (on the unit sphere) of one seed at a chosen epoch.

The map only draws: t-SNE distorts distances (it keeps neighbourhoods, not lengths),
so "are stragglers farther from their class centre?" (each point's distance to the
centroid of its own class, of the 10 original classes, one-sided Mann-Whitney) is
tested in the input space (the standardised pixels the network sees) and in the
hidden layer (on the unit sphere, as the geometry sees it) of one seed at its t*
(or at the chosen epoch).
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

from engine.analysis.stragglers import consensus_stragglers, straggler_frequency, with_inversion
from engine.data.dataset import prepare
from engine.environment import runs_dir
from engine.experiments.context import Steps, split
from engine.experiments.ensemble import hidden_of, run_rows
from engine.experiments.verdicts import HORIZON, max_epochs
from engine.files import atomic_write
from engine.planning.estimate import Phase

OPTIONS = {"perplexity": 30.0, "n_iter": 500, "early_iter": 250, "tsne_seed": 0, "hidden_epoch": None,
           "hidden_seed_row": 0, "benchmark": False, "cache": True, "tsne_jobs": -1, "horizon": HORIZON}
PCA_COMPONENTS = 50


def cache_dir() -> Path:
    return runs_dir() / "cache"


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def pca(x: np.ndarray, n: int = PCA_COMPONENTS, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA
    n = min(n, x.shape[0], x.shape[1])
    return PCA(n_components=n, random_state=seed).fit_transform(np.asarray(x, np.float64))


# openTSNE's Barnes-Hut gradients beat its FFT ones below ~10^4 points (8192 MNIST
# points on 2 cores: BH 17.5 s, FFT 27.9 s, scikit-learn 20.7 s; benchmarks/measure.py);
# FFT is O(n) per iteration and wins for larger maps.
FFT_ABOVE = 10_000


def tsne(x: np.ndarray, perplexity: float = 30.0, n_iter: int = 500, early_iter: int = 250, seed: int = 0,
         n_jobs: int = -1) -> np.ndarray:
    """openTSNE on PCA(50) of x: early_iter exaggerated iterations, then n_iter
    normal ones (openTSNE's defaults). n_jobs=-1: every core."""
    from openTSNE import TSNE
    y = pca(x, seed=seed)
    perplexity = min(perplexity, (len(y) - 1) / 3)  # openTSNE needs 3 * perplexity < n
    emb = TSNE(n_components=2, perplexity=perplexity, n_iter=n_iter, early_exaggeration_iter=early_iter,
               negative_gradient_method="fft" if len(y) > FFT_ABOVE else "bh",
               n_jobs=n_jobs, random_state=seed).fit(y)
    return np.asarray(emb, dtype=np.float64)


def _cache_path(key: dict, kw: dict) -> Path:
    settings = {k: v for k, v in kw.items() if k != "n_jobs"}  # threads change the speed, not the map
    return cache_dir() / f"tsne-{_key({**key, **settings, 'pca': PCA_COMPONENTS})}.npy"


def cached_tsne(x: np.ndarray, key: dict, use_cache: bool = True, **kw) -> tuple[np.ndarray, dict]:
    """t-SNE of x, read from / written to the cache under a hash of `key` + the
    settings. Returns (embedding, {"seconds", "cached", "path"})."""
    path = _cache_path(key, kw)
    start = time.perf_counter()
    if use_cache and path.exists():
        emb = np.load(path)
        return emb, {"seconds": time.perf_counter() - start, "cached": True, "path": str(path)}
    emb = tsne(x, **kw)
    seconds = time.perf_counter() - start
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, emb)
        atomic_write(path, buf.getvalue())  # a concurrent reader never sees half an array
    return emb, {"seconds": seconds, "cached": False, "path": str(path)}


def input_key(cfg, data) -> dict:
    """The input map depends on the data block only, not on labels or the network."""
    return {"what": "inputs", "dataset": cfg.dataset, "block": cfg.block, "n_train": cfg.n_train, "md5": data.md5}


def class_centre_distance(emb: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Distance of each point to the centroid of its own class, in whatever space
    `emb` lives (inputs, hidden layer; a t-SNE map only for drawing)."""
    d = np.empty(len(emb))
    for c in np.unique(classes):
        sel = classes == c
        d[sel] = np.linalg.norm(emb[sel] - emb[sel].mean(0), axis=1)
    return d


def farther_test(distance: np.ndarray, is_straggler: np.ndarray) -> dict:
    """One-sided Mann-Whitney: are stragglers farther from their class centre?"""
    s, rest = distance[is_straggler], distance[~is_straggler]
    if len(s) == 0 or len(rest) == 0:
        return {"U": np.nan, "p": np.nan, "n_stragglers": int(len(s))}
    test = mannwhitneyu(s, rest, alternative="greater")
    return {"U": float(test.statistic), "p": float(test.pvalue), "n_stragglers": int(len(s)),
            "median_stragglers": float(np.median(s)), "median_rest": float(np.median(rest)),
            # P(a straggler is farther than a random other point): U / (n1 n2)
            "effect": float(test.statistic / (len(s) * len(rest)))}


def benchmark(x: np.ndarray, perplexity: float = 30.0, n_iter: int = 500, early_iter: int = 250,
              seed: int = 0, n_jobs: int = -1) -> dict:
    """Wall time of the engine's openTSNE vs scikit-learn's Barnes-Hut TSNE on the same
    PCA input and the same number of iterations (sklearn's 250 exaggerated ones are
    fixed, so early_iter only changes openTSNE's)."""
    from sklearn.manifold import TSNE
    y = pca(x, seed=seed)
    start = time.perf_counter()
    tsne(x, perplexity=perplexity, n_iter=n_iter, early_iter=early_iter, seed=seed, n_jobs=n_jobs)
    t_open = time.perf_counter() - start
    start = time.perf_counter()
    TSNE(n_components=2, perplexity=perplexity, max_iter=n_iter + 250, random_state=seed,
         n_jobs=n_jobs).fit_transform(y)
    t_sk = time.perf_counter() - start
    return {"n_points": int(len(x)), "n_jobs": n_jobs, "opentsne_s": t_open, "sklearn_s": t_sk,
            "speedup": t_sk / t_open}


def phases(cfg, opts, map_cached: bool = False) -> list[Phase]:
    """The run (for the consensus stragglers), then the t-SNE of the inputs (none when
    `map_cached`) and of the hidden layer when asked for, and the benchmark's two."""
    maps = (0 if map_cached else 1) + (opts["hidden_epoch"] is not None) + 2 * bool(opts["benchmark"])
    return [Phase("training", cfg, cfg.seeds, tsne_maps=maps,
                  tsne_iterations=int(opts["n_iter"]) + int(opts["early_iter"]))]


def map_is_cached(cfg, data, opts) -> bool:
    """Whether the input map of this data block and these settings is in the cache."""
    kw = {"perplexity": float(opts["perplexity"]), "n_iter": int(opts["n_iter"]),
          "early_iter": int(opts["early_iter"]), "seed": int(opts["tsne_seed"])}
    return bool(opts["cache"]) and _cache_path(input_key(cfg, data), kw).exists()


def embed(config: dict, ctx) -> dict:
    """Job "embed": the input map (cached) with the stragglers on it, and the
    farther-from-the-class-centre test in the input space and in the hidden layer."""
    cfg, opts = split(config, OPTIONS)
    data = prepare(cfg)
    hidden_epoch = opts["hidden_epoch"]
    steps = Steps(ctx, phases(cfg, opts))
    keep = (int(hidden_epoch),) if hidden_epoch is not None else ()
    ens = run_rows(cfg, data, cfg.seed_list, steps=steps, on_epoch=ctx.on_epoch, keep_epochs=keep,
                   max_epochs=max_epochs(cfg.epochs, opts["horizon"]))
    present = with_inversion(ens.result)
    freq = straggler_frequency(ens.result)
    strag = consensus_stragglers(freq)
    kw = {"perplexity": float(opts["perplexity"]), "n_iter": int(opts["n_iter"]), "early_iter": int(opts["early_iter"]),
          "seed": int(opts["tsne_seed"]), "n_jobs": int(opts["tsne_jobs"])}
    emb, info = cached_tsne(data.x_train, input_key(cfg, data), use_cache=bool(opts["cache"]), **kw)
    dist = class_centre_distance(np.asarray(data.x_train, np.float64), data.classes_train)
    out = {"kind": "embed", "n_train": data.n_train, "n_stragglers": int(strag.sum()), "tsne": info,
           "seeds_with_inversion": int(present.sum()), "epochs": int(ens.result.epochs_done),
           "inputs": {"space": "inputs (standardised pixels)", **farther_test(dist, strag)}}
    rows = [{"index": int(i), "class": int(c), "label": int(y), "x": e[0], "y": e[1], "consensus": f,
             "straggler": bool(s), "distance": d}
            for i, c, y, e, f, s, d in zip(data.index_train, data.classes_train, data.y_train, emb, freq, strag, dist)]
    row = int(opts["hidden_seed_row"])
    if hidden_epoch is not None:
        epoch = int(hidden_epoch)
        if epoch not in ens.params:
            raise ValueError(f"hidden_epoch {epoch} was not reached (last epoch {ens.result.epochs_done})")
        params, at = ens.params[epoch], row
    else:  # the hidden layer at that seed's own t* (the first seed with an inversion if it has none)
        invs = ens.result.inversions()
        if not invs[row].present and present.any():
            row = int(np.flatnonzero(present)[0])
        epoch = invs[row].straggler_epoch if invs[row].present else ens.result.epochs_done
        if epoch == ens.result.epochs_done:
            params, at = ens.final_params(), row
        else:  # that seed retrained to t*: an ensemble row equals its single-seed run (tests/test_golden.py)
            params, at = run_rows(cfg.replace(epochs=epoch), data, [int(ens.seeds[row])]).final_params(), 0
    h = hidden_of(cfg, data, params, at)
    hdist = class_centre_distance(h, data.classes_train)
    out["hidden"] = {"space": "hidden layer (unit sphere)", "epoch": epoch, "seed": int(ens.seeds[row]),
                     **farther_test(hdist, strag)}
    for r, d in zip(rows, hdist):
        r["hidden_distance"] = d
    if hidden_epoch is not None:  # the map of that hidden layer, to draw
        key = {"what": "hidden", "config": cfg.config_hash(), "epoch": epoch, "seed": int(ens.seeds[row])}
        hemb, hinfo = cached_tsne(h, key, use_cache=bool(opts["cache"]), **kw)
        out["hidden"]["tsne"] = hinfo
        for r, e in zip(rows, hemb):
            r.update({"hidden_x": e[0], "hidden_y": e[1]})
    if opts["benchmark"]:
        out["benchmark"] = benchmark(data.x_train, **kw)
    ctx.put_artifact("embedding", rows)
    return out
