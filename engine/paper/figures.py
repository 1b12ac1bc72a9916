"""The one table: every figure of the paper the report reruns, what it runs at a
budget's size, and each claim of the paper about it (its number, where the paper
says it, and the rule in engine.paper.rules that decides `matches`). The paper's
numbers are quoted as the paper gives them; where it gives no spread (≈ 800), the
interval is the rounding of its number, and says so."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.paper import rules
from engine.paper.budgets import Budget


@dataclass(frozen=True)
class Claim:
    what: str        # the paper's statement, in its words
    paper: str       # its number(s), as printed
    source: str      # figure, text or table of the paper
    rule: object     # result dict -> rules.Finding
    rule_text: str   # the rule in words, for the report
    needs: str = ""  # a data set this claim is about ("not run" without it)


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    kind: str                          # the experiment (engine.experiments.JOB_KINDS)
    config: object                     # (budget, datasets present) -> the flat job config
    claims: tuple = ()
    needs: tuple = ()                  # data sets it cannot run without
    plot: str = ""                     # which drawing (engine.paper.plots)
    note: str = field(default="")


def base(b: Budget, **over) -> dict:
    return {"dataset": b.dataset, "n_train": b.n_train, "seeds": b.seeds, "epochs": b.epochs, "lr": b.lr, **over}


def vary(key: str, values) -> dict:
    """The variants `--vary key=v1,v2` makes (engine.experiments.coordinates.variants_from)."""
    return {f"{key}={v}": {key: v} for v in values}


OPTIMISERS_QUICK = {"gd": {"optimizer": "gd"}, "adam_0.005": {"optimizer": "adam", "lr": 0.005},
                    "wd_0.01": {"optimizer": "gd", "weight_decay": 0.01}}
OPTIMISERS_PAPER = {**OPTIMISERS_QUICK, "adam_0.001": {"optimizer": "adam", "lr": 0.001},
                    "wd_0.05": {"optimizer": "gd", "weight_decay": 0.05},
                    "momentum_0.5": {"optimizer": "momentum", "momentum": 0.5, "lr": 0.5},
                    "momentum_0.9": {"optimizer": "momentum", "momentum": 0.9, "lr": 0.2}}
ACTIVATIONS = {"tanh": (0.098, 0.002), "relu": (0.089, 0.009), "leaky_relu": (0.088, 0.007),
               "silu": (0.097, 0.014), "linear": (0.100, 0.002)}  # 4 layers, H = 20, P = 8192 (Results)
FIG3A_DATA = ("mnist", "kmnist", "fashion")


def _optimisers(b: Budget, _data) -> dict:
    return {**base(b), "variants": OPTIMISERS_PAPER if b.name == "paper" else OPTIMISERS_QUICK}


def _datasets(b: Budget, data) -> dict:
    return {**base(b), "variants": vary("dataset", [d for d in FIG3A_DATA if d in data])}


FIGURES = (
    Figure("1a-b", "Training disentangles the class manifolds, non-monotonically", "compare",
           lambda b, _: base(b), plot="dynamics", claims=(
        Claim("the trained representations are always less entangled than at initialisation: R± smaller, D larger",
              "every one of 1000 runs", "Fig. 1a", rules.disentangled("base"), "in every seed"),
        Claim("R± and D overshoot: an inversion epoch t* separates segregation from expansion", "every run",
              "Fig. 1b", rules.inversion_in_most("base"), f"inversion present in ≥ {rules.MOST:.0%} of the seeds"),
        Claim("t* is not appreciably different between R+, R− and D", "t* ≈ 30–40", "Results, Fig. 1b",
              rules.t_star_within("base", 30, 40), "our mean t* ± 2 s.e. meets [30, 40]"),
        Claim("the number of stragglers at P = 8192", "|S(t*)| ≈ 800", "Results (Fig. 2)",
              rules.stragglers_within("base", 750, 850),
              "our φP ± 2 s.e. meets [750, 850] (the rounding of ≈ 800; the paper gives no spread)"),
    )),
    Figure("1c", "The dynamics is robust to sub-sampling (disjoint blocks of MNIST)", "compare",
           lambda b, _: {**base(b), "variants": vary("block", [0, 1, 2])}, plot="overlay", claims=(
        Claim("ε_tr(t*) is quite independent of the subset used for training", "same curves on three blocks",
              "Fig. 1c", rules.phi_agrees(0.2), "the blocks' φ within 20 % of their mean, inversion in most seeds"),
    )),
    Figure("1d", "Similar dynamics across optimisers and hyper-parameters", "compare", _optimisers, plot="overlay",
           claims=(
        Claim("the training error at the inversion, ε_tr(t*) = φ, is approximately invariant across optimisers",
              "Adam, GD with weight decay, with momentum", "Fig. 1d", rules.phi_agrees(0.25),
              "the variants' φ within 25 % of their mean, inversion in most seeds"),
    )),
    Figure("1e-f", "Randomised labels remove the non-monotonicity", "compare",
           lambda b, _: {**base(b), "variants": vary("labels", ["parity", "random"])}, plot="overlay", claims=(
        Claim("with the true (parity) labels the inversion is there", "every run", "Fig. 1b",
              rules.inversion_in_most("labels=parity"), f"inversion in ≥ {rules.MOST:.0%} of the seeds"),
        Claim("with random labels the expansion phase disappears", "no inversion", "Fig. 1e–f",
              rules.inversion_in_few("labels=random"), f"inversion in ≤ {1 - rules.MOST:.0%} of the seeds"),
        Claim("the two radii remain roughly constant throughout training", "flat R±", "Fig. 1e",
              rules.radii_flat("labels=random", 0.05), "R± move by ≤ 0.05 from their initial value"),
    )),
    Figure("2a", "Training without the stragglers removes the inversion", "prune",
           lambda b, _: base(b), plot="prune", claims=(
        Claim("without S(t*) no inversion point could be identified in any single run", "0 of 20 runs", "Fig. 2a",
              rules.pruned_inversion("stragglers", most=False), f"inversion in ≤ {1 - rules.MOST:.0%} of the seeds"),
        Claim("removing a random subset of the same size does not affect the radii appreciably", "inversion kept",
              "Fig. 2a", rules.pruned_inversion("random", most=True), f"inversion in ≥ {rules.MOST:.0%}"),
        Claim("removing S(t < t*) has the same effect", "no inversion", "Fig. 2a",
              rules.pruned_inversion("before", most=False), f"inversion in ≤ {1 - rules.MOST:.0%}"),
        Claim("removing S(t > t*) does not destroy the non-monotonicity", "inversion kept", "Fig. 2a",
              rules.pruned_inversion("after", most=True), f"inversion in ≥ {rules.MOST:.0%}"),
    )),
    Figure("2b-c", "Pruning the stragglers: asymptotic geometry and (noisy) test error", "sweep",
           lambda b, _: {**base(b), "n_grid": b.sweep_points}, plot="sweep", claims=(
        Claim("for ε_tr > ε_tr(t*) the asymptotic geometry is about independent of ε_tr", "flat R+ above φ",
              "Fig. 2b", rules.asymptote_flat_above_phi(0.1), "asymptotic R+ varies by ≤ 0.1 over ε > φ"),
        Claim("removing S(t(ε)) raises the test error much more than removing a random set as large",
              "stragglers above random", "Fig. 2c", rules.stragglers_cost_more(),
              f"higher test error at ≥ {rules.MOST:.0%} of the ε values (σ = 0)"),
        Claim("on noisy test sets removing the stragglers can instead help", "lower at σ = 1.5",
              "Fig. 2c, Discussion", rules.noisy_stragglers_help(), "lower noisy test error at ≥ half the ε values"),
    )),
    Figure("2d", "The inversion marks a maximally stable set of misclassified points", "stability",
           lambda b, _: {**base(b), "n_grid": b.stability_points}, plot="stability", claims=(
        Claim("among all the sets S(t(ε)), the stragglers are maximally conserved across initialisations",
              "the z-score peaks at ε ≈ φ", "Fig. 2d", rules.most_stable_near_phi(2.0), "best ε within [φ/2, 2φ]"),
        Claim("the identity of the stragglers is conserved across initialisations (hypergeometric null)",
              "significant", "Results, Methods", rules.conserved_at_t_star(3.0), "z at each seed's t* ≥ 3"),
    )),
    Figure("3a", "KMNIST and Fashion-MNIST show the same non-monotonic dynamics", "compare", _datasets,
           plot="overlay", claims=tuple(
        Claim(f"{d}: a similar non-monotonic dynamics", "inversion", "Fig. 3a",
              rules.inversion_in_most(f"dataset={d}"), f"inversion in ≥ {rules.MOST:.0%} of the seeds", needs=d)
        for d in FIG3A_DATA)),
    Figure("3c-d", "CIFAR-10 (greyscale), 8 layers, η = 0.02", "compare",
           lambda b, _: {**base(b, dataset="cifar10"), "depth": 8, "lr": 0.02}, needs=("cifar10",),
           plot="dynamics", claims=(
        Claim("an 8-layer network on CIFAR-10 shows the non-monotonic R+", "inversion", "Fig. 3c–d",
              rules.curve_turns_in_most("base", "r_plus"), f"R+ turns in ≥ {rules.MOST:.0%} of the seeds"),
    )),
    Figure("3b", "The fraction of stragglers has a large-data-set limit (MNIST)", "scaling",
           lambda b, _: {**base(b), "n_trains": list(b.n_trains)}, plot="scaling", claims=(
        Claim("φ(P) saturates as P grows", "Eq. 12 fits", "Fig. 3b", rules.phi_grows_with_P(),
              "φ at the largest P ≥ φ at the smallest"),
        Claim("the asymptotic fraction of stragglers in MNIST", "φ∞ ≈ 11 % (11–13 % over architectures)",
              "Results, Fig. 3b and 3e", rules.phi_inf_within(0.105, 0.13),
              f"our φ∞ ± 2σ meets [0.105, 0.13] (≈ 11 % rounded, up to 13 %); undetermined if 2σ > {rules.TOO_WIDE}"),
    )),
    Figure("3e", "φ∞ depends weakly on depth and negligibly on width", "scaling",
           lambda b, _: {**base(b, seeds=b.grid_seeds, epochs=b.grid_epochs, lr=0.1), "n_trains": list(b.n_trains),
                         "depths": list(b.grid_depths), "widths": list(b.grid_widths)}, plot="grid", claims=(
        Claim("about 11–13 % of MNIST are stragglers over depths 2–8 and widths 10–80", "φ∞ ≈ 0.11–0.13",
              "Results, Fig. 3e", rules.grid_within(0.11, 0.13),
              f"every cell's φ∞ ± 2σ meets [0.11, 0.13]; undetermined if a 2σ > {rules.TOO_WIDE}"),
    )),
    Figure("act", "Other activation functions (4 layers, H = 20)", "compare",
           lambda b, _: {**base(b, depth=4), "variants": vary("activation", list(ACTIVATIONS))}, plot="overlay",
           claims=(
        Claim("the inversion occurs around the same training error for ReLU, leaky ReLU, SiLU, tanh and linear",
              ", ".join(f"{k} {m} ± {s}" for k, (m, s) in ACTIVATIONS.items()), "Results",
              rules.phi_each_within(ACTIVATIONS, key="activation={}"),
              "|ours − paper| ≤ 2 √(sd_paper² + sd_ours²) for each"),
    )),
    Figure("cnn", "A 2-layer CNN (4 × 4 kernels)", "compare", lambda b, _: base(b, model="cnn", kernel_size=4),
           plot="dynamics", claims=(
        Claim("with 4 × 4 kernels the dynamics is qualitatively the same only for D", "D non-monotonic",
              "Discussion, Supplementary Fig. 5", rules.curve_turns_in_most("base", "distance"),
              f"D turns in ≥ {rules.MOST:.0%} of the seeds"),
    )),
    Figure("si4", "Stragglers on the t-SNE map, far from their class centres", "embed",
           lambda b, _: {**base(b), "n_iter": b.tsne_iter}, plot="map", claims=(
        Claim("stragglers are challenging instances at the outskirts of the class manifolds (input space)",
              "farther from the class centre", "Discussion, Supplementary Fig. 4",
              rules.farther_from_centre("inputs"), "one-sided Mann–Whitney p < 0.01 and P(farther) > 0.5"),
        Claim("... and in the hidden layer", "farther from the class centre", "Supplementary Fig. 4",
              rules.farther_from_centre("hidden"), "one-sided Mann–Whitney p < 0.01 and P(farther) > 0.5"),
    )),
)
BY_ID = {f.id: f for f in FIGURES}
