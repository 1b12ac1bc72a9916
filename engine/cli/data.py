"""`python -m engine data list|fetch`: which datasets are ready, and fetching them."""
from __future__ import annotations

import json
import time


def cmd_data(args) -> int:
    from ..sources import fetch, status
    if args.action == "fetch":
        for name in args.names:
            start = time.perf_counter()
            raw = fetch(name)
            print(f"{name}: {len(raw.y_train)} train + {len(raw.y_test)} test from {raw.source} "
                  f"({time.perf_counter() - start:.1f} s)")
        return 0
    rows = status()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = f"ready ({r['source']}, {r['n_train']} train / {r['n_test']} test)" if r["ready"] else \
                f"missing: {r['how_to_fetch']}"
            print(f"{r['name']:<8} {state}")
    return 0


