"""Writing outputs safely: a failed write as one line (full disk, unwritable place), and partials of dead runs removed.

A full disk shows up in many shapes: an OSError with ENOSPC, a Rust or C++ library's own message
("No space left on device (os error 28)", llama.cpp's "basic_ios::clear: iostream error"). The reliable
sign is the disk itself, looked at before the partial file is removed: so `write_problem` checks the
free space too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from quantwb.errors import WriteError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR)
# Below this many free bytes a failed write is taken to be the disk's fault (libraries that do not say ENOSPC).
_NEARLY_FULL_BYTES = 1 << 20
PARTIAL_MARK = ".partial-"  # a temporary sibling is `.NAME.partial-PID`


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem that holds `path` (or would hold it: its nearest existing folder)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    device = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def free_bytes(path: Path) -> int | None:
    """Bytes free to this user on the filesystem holding `path`; None when that cannot be known."""
    try:
        return shutil.disk_usage(mount_point(path)).free
    except OSError:
        return None


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _about(err: OSError, target: Path) -> bool:
    """True when the OSError concerns writing `target`: its filename is the target or a folder above it, or (for a
    refused permission) something next to it, its partial. A missing file inside is a read, not ours to rename."""
    if err.filename is None:
        return True
    name = Path(os.path.abspath(str(err.filename)))
    target = Path(os.path.abspath(target))
    if name == target or name in target.parents:
        return True
    return err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and target.parent in name.parents


def write_problem(err: BaseException, target: Path) -> WriteError | None:
    """The one-line WriteError behind `err` raised while writing `target`, or None when it was something else."""
    if isinstance(err, WriteError):
        return err
    if isinstance(err, KeyboardInterrupt | SystemExit):
        return None
    for link in _chain(err):
        if isinstance(link, OSError) and link.errno in _NO_SPACE or "No space left on device" in str(link):
            return no_space(target)
        if isinstance(link, OSError) and link.errno in _NOT_WRITABLE and _about(link, target):
            where = "" if link.filename is None or Path(str(link.filename)) == target else f" ({link.filename})"
            return WriteError(f"cannot write {target}: {link.strerror or os.strerror(link.errno)}{where}")
    free = free_bytes(target)
    if free is not None and free < _NEARLY_FULL_BYTES:
        return no_space(target)
    return None


def no_space(target: Path) -> WriteError:
    return WriteError(f"no space left on {mount_point(target)} writing {target}")


@contextlib.contextmanager
def writing(target: Path) -> Iterator[None]:
    """Turn a failure of the block that writes `target` into one WriteError line when the disk or place is at fault."""
    try:
        yield
    except BaseException as err:
        problem = write_problem(err, target)
        if problem is None or problem is err:
            raise
        raise problem from err


def ensure_folder(path: Path) -> Path:
    """Create the output folder and prove a file can be made in it, before any work whose result would go there."""
    import tempfile

    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    return path


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the `.NAME.partial-PID` files and folders in `folder` whose writer is dead (a killed run left them:
    nothing else ever would); a live writer's, or this process's, are left alone. Returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for candidate in folder.glob(f".*{PARTIAL_MARK}*"):
            pid = candidate.name.rpartition(PARTIAL_MARK)[2]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                remove_path(candidate)
                removed.append(candidate)
    return removed


def remove_path(path: Path) -> None:
    """Remove a file, link or folder tree; absent is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def umask_mode(mode: int = 0o666) -> int:
    """`mode` as the process's umask lets it be (what `open()` would create), for files made private by mkstemp."""
    current = os.umask(0)
    os.umask(current)  # reading the umask means setting it: put it straight back
    return mode & ~current
