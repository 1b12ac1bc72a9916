"""Teaching notes: what to notice on each page, in plain words. Each page shows its
entry in a collapsed "What to notice" expander (`show(page)`); the home page links
them into a guided path for a lecture (`LECTURE_PATH`)."""
from __future__ import annotations

import streamlit as st

NOTES = {
    "Home": """
- The lab trains **many seeds at once** and measures, every epoch, how the two classes sit in
  the first hidden layer once every representation is put on the unit sphere.
- **R₊, R₋** (gyration radii) say how spread each class is; **D** says how far apart the two
  class centroids are. Small R and large D = the classes are well separated (segregated).
- Start with the *Quick demo*: it is small enough to finish while you talk about it.
""",
    "Run": """
- In the first epochs the radii **fall** and D **rises**: the network separates the classes.
- Then, at the **inversion epoch t\\*** (grey band), the curves turn: the radii grow back and D
  falls, while the training error keeps going down. The manifolds **re-entangle**.
- The band appears only once the curves have really turned — before that the run cannot know
  where the extremum is. The three metrics turn at nearly the same epoch.
- The thin lines are single seeds: the inversion is not an accident of one initialisation.
- Try *Random labels*: no structure to find, no inversion.
""",
    "Inversion": """
- **φ** is the training error at t\\*: the fraction of points still misclassified when the
  inversion starts. On MNIST parity it is about 10 %, and very similar across seeds.
- Switch the x axis to the **training error ε**: runs that learn at different speeds
  (optimisers, datasets, sizes) line up, and the turn happens at a similar ε.
- The scatter compares **epoch 0 with the end**: at initialisation R₊ ≈ R₋ and D is tiny;
  at the end the radii are *larger* than at t\\* and D smaller than its peak — the inversion
  is not a small wiggle.
""",
    "Stragglers": """
- The **stragglers** are the training points still misclassified at t\\*.
- They are largely **the same points across seeds** (high consensus): a property of the data,
  not of the initialisation. Look at them: ambiguous, badly written or atypical digits.
- They are learned **late**, after the inversion: fitting them is what re-entangles the manifolds.
""",
    "Map": """
- A 2-D map (t-SNE) of the **inputs** first (switch to the hidden layer at an epoch you choose):
  stragglers sit **far from the centre of their class**, near the boundary between the two
  classes or inside the wrong one. The histogram and its Mann–Whitney p-value test exactly that.
- In the hidden layer, compare an epoch before t\\* with one after: the network bends its
  representation to pull them across.
""",
    "Pruning": """
- Remove the stragglers from the training set and train again: the **inversion disappears**
  and the **test error rises**.
- Removing as many *random* points does much less: the stragglers carry information that
  helps the network generalise.
""",
    "Stability & scaling": """
- **z against ε** across seeds (Eq. 11): how much more S(t(ε)) overlap between pairs of seeds
  than random sets of the same sizes would. A large z = much the same points in every seed;
  z needs at least 3 seeds. The **overlap matrix** |S_i ∩ S_j| shows it pair by pair.
- **φ(P)**: the training error at t\\* for several training-set sizes P, with the fit of Eq. 12,
  φ(P) = φ∞ [1 − (P/P0)^(−γ)]: φ levels off at **φ∞**, so the inversion is not a small-sample effect.
- The optional **depth × width grid** shows how φ∞ depends on the architecture.
""",
    "Scores": """
- The **data map** (dataset cartography) places every training point by the mean (confidence) and the
  spread (variability) of p(true label) over training. Most points sit top left: easy to learn. The
  stragglers (bright) sit lower and to the right — on MNIST parity their median confidence is about 0.5
  and their variability four times the others': the *ambiguous* region, reaching down to *hard to
  learn*. Select a region with the lasso to see its images.
- **AUROC** says how well each classic score, computed in the same pass on the same seeds, ranks the
  consensus stragglers first (0.5 = chance; the grey bars are its 95 % interval). On MNIST parity every
  score read during training does it far above chance (0.95–1.00; GraNd at epoch 10, `--grand-epoch 10`):
  the stragglers *are* the points these methods call hard. GraNd at initialisation (the default, Paul et
  al.'s headline score) is another question: a network that has learned nothing yet.
  The **top-|S| overlap** tells the scores apart: of each score's |S| hardest points, 93 % are
  stragglers for correctness, about 70 % for forgetting events.
- The **Spearman** matrix shows which scores are one ranking under two names (on MNIST: correctness
  and presentations to learn, confidence and AUM).
""",
    "Your data": """
- Upload your own images (.npz) labelled 0..9: the network learns their **parity** (even vs
  odd), as on MNIST, and the same analysis runs on it.
- Whether an inversion appears tells you whether a few hard points shape what the network
  learns on your task.
""",
    "Data selection": """
- Keep a fraction f of the training set chosen by a score: drop its **hardest** points (solid
  lines) or its **easiest** (dashed), or a **random** subset (grey band), then retrain.
- Dropping the stragglers (the hardest by straggler frequency) removes the inversion and
  costs test error; whether dropping the easy ones is cheaper depends on how much data is left.
- The scores come from other seeds than the retrains: no selection sees its own test.
""",
    "Paper": """
- Each figure of the paper is rerun here at the budget's size and set beside the paper's own numbers:
  **matches**, **differs**, **undetermined** (too few seeds to say) or **not run** (its data set is missing).
- The rule behind each verdict is shown with it: the claims are data, not prose.
- *quick* keeps the paper's P = 8192 and cuts seeds and epochs; verdicts that need many seeds may say
  undetermined. Download the HTML to hand the result around: it opens without a network.
""",
}

# The guided path for a lecture: (page title, page file, one line on what to do there).
LECTURE_PATH = [
    ("Run", "pages/1_Run.py", "launch the quick demo and watch R₊, R₋, D fall, then turn at t*"),
    ("Inversion", "pages/2_Inversion.py", "φ per seed, epochs vs training error, epoch 0 vs the end"),
    ("Stragglers", "pages/3_Stragglers.py", "who the points misclassified at t* are, and how consistent"),
    ("Map", "pages/4_Map.py", "where they sit in a map of the inputs, then of the hidden layer"),
    ("Pruning", "pages/5_Pruning.py", "what happens without them"),
    ("Stability & scaling", "pages/6_Stability_and_scaling.py", "the same points across seeds, φ against P"),
    ("Scores", "pages/8_Scores.py", "stragglers beside forgetting, cartography, AUM, EL2N and GraNd"),
    ("Your data", "pages/7_Your_data.py", "the same analysis on an uploaded data set"),
    ("Data selection", "pages/9_Data_selection.py", "keep the hard or the easy points, or random ones: which is best?"),
    ("Paper", "pages/10_Paper.py", "every figure rerun here, beside the paper's numbers"),
]


def note(page: str) -> str:
    """The markdown for one page ('' for an unknown page)."""
    return NOTES.get(page, "").strip()


def show(page: str) -> None:
    """The collapsed "What to notice" expander of a page."""
    with st.expander("What to notice", expanded=False):
        st.markdown(note(page))


INTRO = """
A small network learns a two-class task (MNIST: even vs odd digits) while we watch its first hidden
layer, every training image's representation put on the unit sphere. The two **class manifolds** first
*segregate* — their radii R₊, R₋ shrink and the distance D between their centroids grows — and then,
after an **inversion epoch t\\***, *re-entangle* while the training error keeps falling. The training
points still misclassified at t\\* are the **stragglers**: few, the same across seeds, and the ones the
network bends its representation to fit (Ciceri et al., 2024).
"""


def show_path() -> None:
    """The guided path as page links."""
    for k, (title, path, what) in enumerate(LECTURE_PATH, start=1):
        st.page_link(path, label=f"{k}. {title} — {what}")
