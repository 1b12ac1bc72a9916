"""benchmarks/gpu.sh is the one command run on a lent GPU: it must work the first
time there. Here it runs its smoke test on the CPU (tiny sizes): every case in its
own process, the naive baseline, the engine in two precisions, the fidelity check,
gpu.json and gpu.txt written to $OUT."""
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_script_smoke_test_on_the_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PY": __import__("sys").executable,
           "STRAGGLERS_RUNS": str(tmp_path / "runs")}
    proc = subprocess.run(["bash", "benchmarks/gpu.sh", "--device", "cpu", "--seeds", "4", "--epochs", "3",
                           "--precisions", "fp32,bf16", "--naive-seeds", "1", "--naive-epochs", "4",
                           "--fidelity-seeds", "3", "--fidelity-epochs", "40"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "gpu.json").read_text())
    for p in ("fp32", "bf16"):
        e = res[p]
        assert "error" not in e, e
        assert e["seeds"] == 4 and e["epochs_recorded"] == 3 and e["total_s"] > 0 and e["precision"] == p
    assert res["naive"]["run_epochs_per_s"] > 0
    check = res["fidelity"]["bf16"]["check"]
    # 40 epochs may be too short to judge: then the check says undetermined, never fit
    assert (set(check["criteria"]) and isinstance(check["fit"], bool)) or (check["fit"] is None
                                                                           and check["undetermined"])
    text = (tmp_path / "out" / "gpu.txt").read_text()
    assert "engine bf16, R=4" in text and "fidelity bf16 vs fp32 (3 seeds x 40 epochs)" in text
    assert "fastest precision that passes the fidelity check" in text
