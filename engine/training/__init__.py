"""Training many seeds as one ensemble: the models, the optimisers, the precision of
the products, the loop and its per-epoch records, the memory it needs, and the
per-example scores accumulated while it runs."""
