"""An online copy of the embedded SQLite database, taken with SQLite's backup API while the
server goes on serving (WAL: the copy is one consistent snapshot; writers are not held up)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path


class BackupError(Exception):
    """A backup that could not be taken; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    pages: int
    bytes: int


def backup_sqlite(source: Path, target: Path, *, replace: bool = False) -> Backup:
    """Copy the database at ``source`` into ``target``: written beside it under a temporary
    name, checked, then renamed, so a failed backup leaves no half-written file behind."""
    if not source.is_file():
        raise BackupError(f"There is no database at {source}: nothing to back up.")
    if target.exists() and not replace:
        raise BackupError(f"{target} already exists: choose another name, or add --force.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    if target.resolve() == source.resolve():
        raise BackupError("The backup cannot be the database itself.")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with contextlib.closing(sqlite3.connect(source)) as db:
            db.execute("PRAGMA busy_timeout = 30000")
            with contextlib.closing(sqlite3.connect(partial)) as copy:
                db.backup(copy)
                # One self-contained file: no -wal beside it to forget when restoring.
                copy.execute("PRAGMA journal_mode = DELETE")
                (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
                if verdict != "ok":
                    raise BackupError(f"The copy failed SQLite's check ({verdict}).")
                (pages,) = copy.execute("PRAGMA page_count").fetchone()
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not copy the database: {error}.") from None
    except OSError as error:
        raise BackupError(f"The backup could not be written: {error.strerror}.") from None
    finally:
        partial.unlink(missing_ok=True)
    return Backup(path=target, pages=int(pages), bytes=target.stat().st_size)
