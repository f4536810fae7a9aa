"""Atomic writes and content hashes: nothing half-written ever carries a final name."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quantwb import disk

_CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of one file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(root: Path, patterns: tuple[str, ...] = ("*",)) -> str:
    """Hex sha256 over (relative name, file hash) of the files under `root` matching `patterns`."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in patterns for p in root.rglob(pattern) if p.is_file()})
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a temporary sibling, fsync, then rename over `path` (with the mode the umask gives new files)."""
    with disk.writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, disk.umask_mode())  # mkstemp makes 0600; a record is as readable as any file the user writes
        with disk.writing(path), os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling path (file or folder); rename it to `final` only if the block succeeds."""
    with disk.writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
    disk.remove_stale_partials(final.parent)  # left by killed runs: nothing else would ever remove them
    tmp = final.parent / f".{final.name}{disk.PARTIAL_MARK}{os.getpid()}"
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        _remove(final)
        os.replace(tmp, final)
    except BaseException as err:
        problem = disk.write_problem(err, final)  # before removing the partial: a full disk is seen while it is full
        _remove(tmp)
        if problem is not None and problem is not err:
            raise problem from err
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def contained(path: Path, root: Path) -> Path:
    """`path` resolved, if it lies inside `root` (or is `root`); else ValueError. Links are followed first.

    Guards every move or delete of a path a library reports: one library returned a str where a list was
    expected, its first character "/" was taken as its output folder, and the entries of "/" were moved away."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if not resolved.is_relative_to(base):
        raise ValueError(f"{path} lies outside {root}")
    return resolved


def move_entries(source: Path, scratch: Path, dest: Path) -> None:
    """Move every entry of `source` into `dest`; `source` must lie inside `scratch` (checked before anything moves)."""
    entries = sorted(contained(source, scratch).iterdir())
    for entry in entries:
        contained(entry, scratch)  # a link inside that points out is refused too
    for entry in entries:
        os.replace(entry, dest / entry.name)
