"""A short run's start-up: `python -m engine run` imports torch and numpy but not
what it never uses (scipy: the experiments; pandas: the store's frames;
torch._dynamo: torch.optim's constructors), and the job worker, which starts the
dashboard's runs, starts without pandas. Each was a second or more of CPU."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("scipy", "pandas", "torch._dynamo", "sklearn", "engine.experiments")


def _modules_after(code: str, env_runs: Path) -> set:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "STRAGGLERS_RUNS": str(env_runs)})
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_a_cli_run_imports_nothing_it_does_not_use(tmp_path):
    code = ("import sys; from engine.cli import main\n"
            f"rc = main(['run', '--dataset', 'mnist', '--n-train', '256', '--seeds', '2', '--epochs', '2', "
            f"'--optimizer', 'adam', '--lr', '0.01', '--out', {str(tmp_path / 'out')!r}])\n"
            "assert rc == 0, rc")
    modules = _modules_after(code, tmp_path / "runs")
    assert "torch" in modules and (tmp_path / "out" / "summary.json").exists()  # it did train
    heavy = {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}
    assert not heavy, f"a run imported {sorted(heavy)[:5]}"


def test_the_job_worker_starts_without_pandas(tmp_path):
    modules = _modules_after("import engine.jobs.worker", tmp_path / "runs")
    assert "pandas" not in modules and "torch" not in modules
