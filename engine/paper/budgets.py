"""How big the report's runs are. `paper` is the paper's sizes; `quick` keeps the
paper's P = 8192 (so t*, phi and |S(t*)| stay comparable with its numbers) and
cuts seeds and epochs, so that it finishes in about 20 minutes on a 2-core CPU.
The report states the budget of every section, and rules that need many seeds
say "differs" or "undetermined" honestly when five are too few."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    name: str
    dataset: str = "mnist"           # the data set of every figure but 3a and 3c (the paper's: MNIST)
    seeds: int = 20                  # seeds of every ensemble (the paper: 20; its phi averages 100)
    epochs: int = 300                # epochs of every run; t* is about 30-40 at the paper's eta = 0.2
    lr: float = 0.2                  # eta of full-batch GD in every figure but 3c-e (the paper's)
    n_train: int = 8192              # P of Figs. 1, 2 and the supplementary checks (the paper's)
    n_trains: tuple = (4096, 8192, 16384, 32768)   # the sizes of phi(P), Fig. 3b (Methods, Eq. 12)
    grid_depths: tuple = (2, 4, 8)   # Fig. 3e: depths of the phi_inf grid
    grid_widths: tuple = (10, 20, 40, 80)          # ... and widths
    grid_seeds: int = 20             # seeds of each grid point
    grid_epochs: int = 300
    sweep_points: int = 8            # eps values of Fig. 2b-c (each: two retrains per seed)
    stability_points: int = 16       # eps values of Fig. 2d
    tsne_iter: int = 500             # t-SNE iterations after the exaggerated ones (SI Fig. 4)


BUDGETS = {
    "quick": Budget("quick", seeds=5, epochs=150, n_trains=(1024, 2048, 4096, 8192), grid_depths=(2, 3),
                    grid_widths=(10, 20), grid_seeds=3, grid_epochs=120, sweep_points=4, stability_points=10,
                    tsne_iter=300),
    "paper": Budget("paper"),
}
