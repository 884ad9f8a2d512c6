"""Writing files that a legacy system reads: a reader sees no file or the whole file, never a
part of it, and what was written survives a power cut."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` through a temporary dotfile in the same folder: write, fsync,
    then put it in place and fsync the folder.

    ``replace=True`` renames over an existing file (outcome files are rewritten). With
    ``replace=False`` an existing ``path`` is never touched: the temporary file is *linked* to
    the final name, which fails if the name exists -- a rename would silently overwrite it --
    and False is returned. Raises ``OSError`` (disk full, permission denied, no such folder).
    """
    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # renamed into place
    fsync_dir(folder)
    return True


def fsync_dir(folder: Path) -> None:
    """Make a rename, link or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_all(moves: list[tuple[Path, Path]], *, missing_ok: bool = False
               ) -> list[tuple[Path, Path]]:
    """Move each ``(source, target)`` (same file system), in order, and make the moves
    durable with one fsync per folder involved, not one per file. With ``missing_ok`` a
    source that is gone is passed over. Returns the moves made; an error stops the moves,
    and those made before it are made durable all the same."""
    done: list[tuple[Path, Path]] = []
    try:
        for source, target in moves:
            try:
                os.rename(source, target)
            except FileNotFoundError:
                if not missing_ok:
                    raise
                continue
            done.append((source, target))
    finally:
        for folder in dict.fromkeys(p.parent for move in done for p in move):
            fsync_dir(folder)
    return done


def free_name(folder: Path, name: str, limit: int = 10_000) -> Path:
    """``folder/name``, or the first ``stem.N.suffix`` that does not exist yet."""
    candidate = folder / name
    stem, dot, suffix = name.partition(".") if not name.startswith(".") else (name, "", "")
    for n in range(1, limit + 1):
        if not candidate.exists():
            return candidate
        candidate = folder / f"{stem}.{n}{dot}{suffix}"
    raise FileExistsError(f"{folder} already holds {limit} files named like {name}")
