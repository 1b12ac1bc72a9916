"""What went wrong with a store file, in words: every SQLite failure the store meets
becomes one StoreError that names the file, the cause and the fix, so the CLI prints
one line (exit status 2) and the pages a message, never a traceback."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

# SQLite's answers when it cannot open or write the file where it is (permissions, a
# read-only folder where WAL cannot create its -wal and -shm files)
READ_ONLY_CAUSES = ("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_READONLY", "SQLITE_READONLY_DIRECTORY",
                    "SQLITE_READONLY_CANTINIT", "SQLITE_READONLY_CANTLOCK", "SQLITE_READONLY_RECOVERY")


class StoreError(RuntimeError):
    """The store file cannot be used; the message names the file, the cause and the
    fix. `kind`: damaged | read_only | full | io | foreign | newer | gone | unusable."""

    def __init__(self, message: str, kind: str = "unusable"):
        super().__init__(message)
        self.kind = kind


class StoreGone(StoreError):
    """The store file was deleted or replaced under this process (runs/ removed during a job)."""

    def __init__(self, path: Path):
        super().__init__(f"{path} was deleted or replaced while this process used it", "gone")


def store_error(path: Path, e: BaseException) -> StoreError:
    """The StoreError for an SQLite failure on `path`. Errors of this code itself
    (a wrong statement, a constraint) are raised as they are."""
    if isinstance(e, StoreError):
        return e
    if not isinstance(e, sqlite3.Error) or type(e) in (sqlite3.ProgrammingError, sqlite3.IntegrityError,
                                                         sqlite3.InterfaceError):
        raise e
    name = getattr(e, "sqlite_errorname", "") or ""
    if name == "SQLITE_NOTADB":
        return StoreError(f"{path} is not a readable Stragglers store ({e}). It was left untouched: move it aside "
                          f"(mv '{path}' '{path}.broken') and a new store is created on the next start, or set "
                          "STRAGGLERS_RUNS to another folder.", "foreign")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in str(e):
        return StoreError(f"{path} is damaged ({e}). It was left untouched: move it aside (mv '{path}' "
                          f"'{path}.broken') and a new store is created on the next start (sqlite3 "
                          f"'{path}.broken' .recover saves what can be read), or set STRAGGLERS_RUNS to "
                          "another folder.", "damaged")
    if name.startswith("SQLITE_READONLY") or name in READ_ONLY_CAUSES or "readonly" in str(e):
        return StoreError(f"{path} is read-only ({e}): its jobs can be listed, shown and exported, not "
                          f"changed. To submit or cancel, make it and its folder writable (chmod u+w '{path}' "
                          f"'{path.parent}') or set STRAGGLERS_RUNS to a writable folder.", "read_only")
    free = _free(path.parent)
    if name == "SQLITE_FULL" or "full" in str(e) or free == 0:
        return StoreError(f"the disk holding {path} is full ({e}; {free} bytes free): free some space on it, "
                          "or set STRAGGLERS_RUNS to a folder on another disk.", "full")
    if name.startswith("SQLITE_IOERR"):
        return StoreError(f"could not read or write {path} ({e}; {free / 2**20:.0f} MiB free on its disk): the "
                          "disk may be full or failing.", "io")
    return StoreError(f"{path} cannot be used ({e}): set STRAGGLERS_RUNS to another folder to use a separate store.")


def _free(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return -1
