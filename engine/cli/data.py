"""`python -m engine data list|fetch|import`: which datasets are ready, fetching them,
and importing an .npz as a user dataset (the checks of the Your data page)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="list, fetch or import datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    s = sub.add_parser("list", help="which datasets are ready, and how to fetch the others")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("fetch", help="make datasets present in the data folder")
    s.add_argument("names", nargs="*", default=["mnist"])
    s.add_argument("--force", action="store_true", help="fetch again over files that are there but damaged")
    s.set_defaults(func=cmd_fetch)
    s = sub.add_parser("import", help="check an .npz (x_train, y_train, x_test, y_test) and save it as user:NAME")
    s.add_argument("name", help="1-48 letters, digits, '-' or '_'; the dataset is then --dataset user:NAME")
    s.add_argument("file", help="the .npz file")
    s.add_argument("--replace", action="store_true", help="replace a saved dataset of that name")
    s.set_defaults(func=cmd_import)


def cmd_fetch(args) -> int:
    from engine.data.sources import fetch
    for name in args.names:
        start = time.perf_counter()
        raw = fetch(name, force=args.force)
        print(f"{name}: {len(raw.y_train)} train + {len(raw.y_test)} test from {raw.source} "
              f"({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_list(args) -> int:
    from engine.data.inventory import status
    rows = status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        if r["ready"]:
            state = f"ready ({r['source']}, {r['n_train']} train / {r['n_test']} test)"
        elif r.get("problem"):
            state = f"damaged: {r['problem']}; python -m engine data fetch {r['name']} --force"
        else:
            state = f"missing: {r['how_to_fetch']}"
        print(f"{r['name']:<8} {state}")
    return 0


def cmd_import(args) -> int:
    """The same checks and messages as the Your data page; the file's size is checked
    before it is read."""
    from engine.data.upload import (MAX_UPLOAD_BYTES, UploadError, check_name, describe, save_user_dataset,
                                    validate_npz)
    path = Path(args.file)
    try:
        check_name(args.name)
        if not path.is_file():
            raise UploadError("no such file" if not path.exists() else "not a file")
        limit = MAX_UPLOAD_BYTES
        size = path.stat().st_size
        if size > limit:
            raise UploadError(f"The file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB.")
        arrays = validate_npz(path.read_bytes(), max_bytes=limit)
        saved = save_user_dataset(args.name, arrays, overwrite=args.replace)
    except UploadError as e:
        hint = " (or --replace)" if "already exists" in str(e) else ""
        print(f"error: {path}: {e}{hint}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {path}: could not read or save it ({e.strerror or e})", file=sys.stderr)
        return 2
    info = describe(arrays)
    print(f"user:{args.name}: {info['n_train']} train + {info['n_test']} test images of "
          f"{' x '.join(map(str, info['image_shape']))} ({info['dtype']}) saved to {saved}")
    return 0
