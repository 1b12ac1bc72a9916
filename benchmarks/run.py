"""`make bench`: the engine against the naive baseline, the GEMM roofline, the
CLI, the store and t-SNE, in one run (about 5 minutes on 2 cores).

Every case runs in its own process (benchmarks/measure.py) and prints JSON; this
collects them into benchmarks/results/bench.json (with the machine's description)
and prints the table, also written to benchmarks/results/bench.txt.

    python -m benchmarks.run [--seeds 1,20,100] [--precisions fp32,bf16] [--skip ablation,cli,store,tsne]

The engine runs in every precision of --precisions (engine/training/precision.py; bf16
passes the fidelity check, docs/precision.md); the naive baseline in fp32, as the
authors ran it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

# epochs per timed block (~0.3 s each, like the naive blocks) and blocks, per R
ENGINE_PLAN = {1: (20, 6), 20: (3, 6), 100: (1, 5)}


def measure(*args: str, timeout: float = 600, env: dict | None = None) -> dict:
    import os
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:  # one slow case (a loaded machine) must not lose the others' numbers
        return {"error": [f"timed out after {timeout:.0f} s"]}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli_run(seeds: int = 20, epochs: int = 300, precision: str = "fp32", repeats: int = 1) -> dict:
    """Wall time of `python -m engine run --seeds 20 --epochs 300 --out DIR` (MNIST),
    from process start to exit: imports, data, training, report files; and how much
    of it was outside the training loop (wall - the loop's time in summary.json).
    The first call fills the input cache (engine/data/input_cache.py), as a user's first
    run does; the timed ones read it; the fastest of `repeats` counts (a shared machine)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "engine", "run", "--seeds", str(seeds), "--epochs", str(epochs),
               "--precision", precision, "--out", out]
        subprocess.run([*cmd[:5], "1", "--epochs", "1", *cmd[8:]], cwd=ROOT, capture_output=True, timeout=900)
        wall, loop_s = float("inf"), float("nan")
        for _ in range(repeats):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
            if time.perf_counter() - start < wall:
                wall = time.perf_counter() - start
                loop_s = json.loads((Path(out) / "summary.json").read_text())["timing"]["seconds"] \
                    if proc.returncode == 0 else float("nan")
    return {"command": " ".join(["python", "-m", "engine", *cmd[3:-1], "tmp"]), "wall_s": wall,
            "returncode": proc.returncode, "stdout": proc.stdout.strip().splitlines()[:2],
            "run_epochs_per_s_wall": seeds * epochs / wall, "loop_s": loop_s, "outside_loop_s": wall - loop_s,
            "seeds": seeds, "epochs": epochs, "precision": precision}


def store_bench() -> dict:
    """benchmarks/store_bench.py belongs to the store's owner; run it if it exists
    and keep what it prints and the store.json it writes."""
    path = ROOT / "benchmarks" / "store_bench.py"
    if not path.exists():
        return {"skipped": "benchmarks/store_bench.py does not exist (yet)"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.store_bench"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    out = {"wall_s": time.perf_counter() - start, "returncode": proc.returncode,
           "output": [line for line in proc.stdout.strip().splitlines() if not line.startswith("written to")][-8:]}
    written = RESULTS / "store.json"
    if proc.returncode == 0 and written.exists() and written.stat().st_mtime > time.time() - out["wall_s"] - 1:
        out["result"] = json.loads(written.read_text())
    elif proc.returncode != 0:
        out["error"] = proc.stderr.strip().splitlines()[-1:]
    return out


def table(res: dict) -> str:
    naive = res.get("naive", {})
    base = naive.get("run_epochs_per_s")
    lines = [f"{'case':<16}{'prec':>5}{'run-epochs/s':>13}{'ms/epoch':>10}{'vs naive':>10}{'GFLOP/s':>9}{'(784 px)':>9}"
             f"{'% GEMM':>8}{'MB/seed':>9}{'est.':>7}"]
    if base:
        lines.append(f"{'naive, 1 seed':<16}{'fp32':>5}{base:>13.1f}{1e3 * naive['seconds_per_epoch']:>10.1f}"
                     f"{1.0:>9.1f}x"
                     f"{naive['flops_per_s'] / 1e9:>9.0f}{naive['flops_per_s'] / 1e9:>9.0f}")
    for key, e in sorted(res.get("engine", {}).items(), key=lambda kv: (int(kv[0].split("/")[0]), kv[0])):
        R, precision = (key.split("/") + ["fp32"])[:2]
        if "error" in e:
            lines.append(f"engine R={R} {precision}: error {e['error']}")
            continue
        ratio = f"{e['run_epochs_per_s'] / base:>9.1f}x" if base else f"{'-':>10}"
        lines.append(f"{'engine, R=' + str(R):<16}{precision:>5}{e['run_epochs_per_s']:>13.1f}"
                     f"{1e3 * e['seconds_per_epoch']:>10.1f}"
                     f"{ratio}{e['flops_per_s'] / 1e9:>9.0f}{e['nominal_flops_per_s'] / 1e9:>9.0f}"
                     f"{100 * e['fraction_of_gemm']:>7.0f}%"
                     f"{e['peak_bytes_per_seed'] / 2**20:>9.2f}{e['estimate_bytes_per_seed'] / 2**20:>7.2f}")
        if int(R) == 1:
            lines[-1] = lines[-1][:-16] + f"{'(run ' + format(e['peak_bytes_one_seed'] / 2**20, '.0f') + ' MB)':>16}"
    cols = next((e["gemm_columns"] for e in res.get("engine", {}).values() if "gemm_columns" in e), None)
    lines.append("GFLOP/s: the epoch's 3 GEMMs, 2 R H (2 P N + P_test N_test), per second of the whole epoch"
                 + (f"; N = {cols[0]}, N_test = {cols[1]} pixels multiplied (the rest are 0 in every image), "
                    "(784 px) counts all 784" if cols else ""))
    lines.append("% GEMM: time of those GEMMs alone (same shapes and precision, same process) / time of the epoch;"
                 " MB/seed: measured peak RSS, (peak at R - peak at 1) / (R - 1), vs engine.training.memory's estimate")
    one = res.get("one_thread", {})
    if "run_epochs_per_s" in one.get("naive", {}):
        n = one["naive"]
        parts = [f"{key.replace('engine_', '').replace('engine', 'fp32')} {e['run_epochs_per_s']:.1f} "
                 f"({e['run_epochs_per_s'] / n['run_epochs_per_s']:.1f}x, {100 * e['fraction_of_gemm']:.0f}% of GEMM)"
                 for key, e in one.items() if key.startswith("engine") and "run_epochs_per_s" in e]
        lines.append(f"one thread, run-epochs/s: naive {n['run_epochs_per_s']:.1f}; engine R=20 " + ", ".join(parts))
    for threads, sbs in res.get("side_by_side", {}).items():
        if "run_epochs_per_s" in sbs:
            r = sbs["run_epochs_per_s"]
            lines.append(f"side by side, {sbs['threads']} thread(s), interleaved in one process (run-epochs/s): naive "
                         f"{r['naive']:.1f}; engine R={sbs['seeds']} " + ", ".join(
                             f"{p} {r[p]:.1f} ({v:.1f}x)" for p, v in sbs["vs_naive"].items()))
    abl = res.get("ablation", {})
    if "run_epochs_per_s" in abl:
        lines.append(f"ablation, R={abl['seeds']}, {abl['threads']} thread, interleaved (run-epochs/s): " + "; ".join(
            f"{k} {v:.0f}" for k, v in abl["run_epochs_per_s"].items()))
    if "sgemm" in res:
        lines.append(f"GEMM (8192x784)@(784x400) alone: fp32 "
                     f"{res['sgemm'].get('sgemm_8192x784x400_flops_per_s', 0) / 1e9:.0f} GFLOP/s, bf16 inputs (fp32 "
                     f"sums) {res['sgemm'].get('bf16_8192x784x400_flops_per_s', 0) / 1e9:.0f} GFLOP/s")
    prof = res.get("engine", {}).get("20/fp32", {}).get("profile")
    if prof:
        parts = ", ".join(f"{k} {1e3 * v:.1f}" for k, v in prof["groups"].items())
        lines.append(f"profile R=20, ms/epoch (profiled {1e3 * prof['seconds_per_epoch']:.0f}): {parts}")
    for label, sc in (("", res.get("scores", {})), (", one thread", res.get("scores_one_thread", {}))):
        if "epoch_ratio" in sc:
            lines.append(
                f"difficulty scores{label}, R={sc['seeds']}, P={sc['n_train']}, interleaved: "
                f"{1e3 * sc['seconds_per_epoch_without']:.1f} ms/epoch without, "
                f"{1e3 * sc['seconds_per_epoch_with']:.1f} with ({sc['epoch_ratio']:.3f}x; the update alone {1e3 * sc['update_seconds']:.1f} ms, "
                f"{sc['update_ratio']:.3f}x); EL2N/GraNd once {1e3 * sc['grand_once_seconds']:.0f} ms; a "
                f"{sc['run_epochs']}-epoch run {sc['run_ratio']:.3f}x; accumulators "
                f"{sc['accumulator_bytes'] / 2**20:.1f} MB ({sc['accumulator_bytes_per_seed_and_point']:.0f} B per "
                f"seed and point)")
        elif "error" in sc:
            lines.append(f"difficulty scores{label}: error {sc['error']}")
    for c in res.get("cli", []):
        if "wall_s" not in c:
            continue
        ratio = f", {c['run_epochs_per_s_wall'] / base:.1f}x the naive baseline's run-epochs/s" if base else ""
        lines.append(f"whole process `{c['command']}`: {c['wall_s']:.1f} s wall, {c['outside_loop_s']:.1f} s of it "
                     f"outside the training loop (exit {c['returncode']}): {c['run_epochs_per_s_wall']:.0f} "
                     f"run-epochs/s{ratio}")
    if "store" in res:
        s = res["store"]
        if "skipped" in s or "error" in s:
            lines.append(f"store: {s.get('skipped') or s.get('error')}")
        else:
            lines += [f"store ({s['wall_s']:.0f} s): " + line for line in s["output"]]
    if "tsne" in res and "sklearn_barnes_hut_s" in res["tsne"]:
        t = res["tsne"]
        fmt = lambda v: "n/a" if v is None else f"{v:.1f} s"  # noqa: E731
        lines.append(f"t-SNE of {t['n_points']} points after PCA(50) ({t['pca_s']:.1f} s), every core: openTSNE "
                     f"Barnes-Hut {fmt(t.get('opentsne_bh_s'))} (the engine's choice), openTSNE FFT "
                     f"{fmt(t.get('opentsne_fft_s'))}, scikit-learn Barnes-Hut {fmt(t['sklearn_barnes_hut_s'])}")
    m = res.get("machine", {})
    lines.append(f"machine: {m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')}, {m.get('threads')} "
                 f"threads, load average at start {m.get('loadavg', ['?'])[0]:.2f}, at end "
                 f"{res.get('loadavg_end', ['?'])[0]:.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run")
    p.add_argument("--seeds", default="1,20,100", help="engine ensemble sizes R")
    p.add_argument("--precisions", default="fp32,bf16", help="engine precisions (bf16: at R > 1)")
    p.add_argument("--skip", default="", help="comma-separated: naive, side, one_thread, scores, ablation, cli, "
                                              "store, tsne")
    a = p.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    start = time.perf_counter()
    res: dict = {}
    res["sgemm"] = measure("sgemm")
    res["machine"] = res["sgemm"].pop("machine", {})
    if "naive" not in skip:
        print("naive baseline ...", file=sys.stderr)
        res["naive"] = measure("naive", "--seeds", "3", "--epochs", "20")
    res["engine"] = {}
    precisions = a.precisions.split(",")
    for R in map(int, a.seeds.split(",")):
        for precision in precisions if R > 1 else ["fp32"]:
            epochs, blocks = ENGINE_PLAN.get(R, (max(1, 100 // R), 3))
            print(f"engine R={R} {precision} ...", file=sys.stderr)
            args = ["engine", "--seeds", str(R), "--epochs", str(epochs), "--blocks", str(blocks),
                    "--precision", precision]
            key = f"{R}/{precision}"
            res["engine"][key] = measure(*args, *(["--profile"] if R == 20 and precision == "fp32" else []))
            # freed buffers straight back to the system, so that the resident set follows the live tensors
            res["engine"][key].update(measure("memory", "--seeds", str(R), "--precision", precision,
                                              env={"MALLOC_MMAP_THRESHOLD_": "65536"}))
    if "side" not in skip:
        # the ratios the issue asks for, robust to a shared machine: naive and engine interleaved in one process
        print("side by side: naive and engine R=20 in each precision ...", file=sys.stderr)
        res["side_by_side"] = {str(t): measure(*(["--threads", "1"] if t == 1 else []), "side", "--precisions",
                                                a.precisions) for t in (2, 1)}
    if "one_thread" not in skip:
        # the same comparison on one thread: less sensitive to a shared machine
        # (a 2-thread OpenMP region stalls whenever another process holds a core)
        print("one thread: naive and engine R=20 ...", file=sys.stderr)
        res["one_thread"] = {"naive": measure("--threads", "1", "naive", "--seeds", "2", "--epochs", "12")}
        for precision in precisions:
            res["one_thread"]["engine" if precision == "fp32" else f"engine_{precision}"] = measure(
                "--threads", "1", "engine", "--seeds", "20", "--epochs", "2", "--blocks", "4", "--precision", precision)
    if "scores" not in skip:
        print("difficulty scores, R=20 ...", file=sys.stderr)
        res["scores"] = measure("scores", "--seeds", "20")
        res["scores_one_thread"] = measure("--threads", "1", "scores", "--seeds", "20")
    if "ablation" not in skip:
        print("ablation ...", file=sys.stderr)
        proc = subprocess.run([sys.executable, "-m", "benchmarks.ablation", "--threads", "1"], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        res["ablation"] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else \
            {"error": proc.stderr.strip().splitlines()[-1:]}
    if "cli" not in skip:
        print("CLI runs ...", file=sys.stderr)
        # a short run (whole process: start-up weighs) in each precision, and the paper's run
        res["cli"] = [cli_run(20, 60, p, repeats=2) for p in precisions] + [cli_run(20, 300, "fp32")]
    if "store" not in skip:
        res["store"] = store_bench()
    if "tsne" not in skip:
        print("t-SNE ...", file=sys.stderr)
        res["tsne"] = measure("tsne")
    import os
    res["loadavg_end"] = os.getloadavg()
    res["seconds"] = time.perf_counter() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = table(res)
    (RESULTS / "bench.json").write_text(json.dumps(res, indent=1, default=str))
    (RESULTS / "bench.txt").write_text(text + "\n")
    print(text)
    print(f"({res['seconds']:.0f} s; benchmarks/results/bench.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
