"""The per-epoch curves a run records, by name: one list for the engine, the store,
the exports and the pages. The geometry (Eqs. 8-9) is R+ and R- (gyration radii of
the two classes on the unit sphere) and D (distance between their centroids)."""

METRICS = ("r_plus", "r_minus", "distance")               # the geometry; t* is taken on each
CURVES = ("loss", "train_error", "test_error") + METRICS  # every curve, in the store's column order
SYMBOLS = {"r_plus": "R₊", "r_minus": "R₋", "distance": "D", "train_error": "ε_train", "test_error": "ε_test",
           "loss": "loss"}
