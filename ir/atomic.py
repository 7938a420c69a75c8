"""Atomic output: a file appears whole or not at all, and an output directory is swapped in
as a whole (a reader sees the old directory or the new one, never a mix)."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path

from .diagnostics import BnncError
from .staging import hold, remove_stale_siblings

# renameat2(2) flag: exchange two paths atomically (Linux >= 3.15, most local filesystems).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to the new file ``path`` (mode from the umask), not yet synced."""
    _write_fd(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), data)


def _write_fd(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_written(paths: list[Path]) -> None:
    """Make the new files ``paths`` and their directory entries durable: one ``syncfs(2)`` of
    their filesystem (Linux) where every path is on the same one, else an fsync of each file
    and each directory."""
    directories = {path.parent for path in paths}
    devices = {os.stat(d).st_dev for d in directories}
    if len(devices) == 1 and _syncfs(next(iter(directories))):
        return
    for path in paths:
        _fsync_path(path)
    for directory in directories:
        _fsync_path(directory)


def _syncfs(directory: Path) -> bool:
    """Flush the filesystem holding ``directory`` (Linux ``syncfs``); False where the system
    has no such call or it fails."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return False
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return syncfs(fd) == 0
    finally:
        os.close(fd)


def _umask_mode(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def write_files_atomically(files: dict[Path, bytes]) -> None:
    """Write each file to a temporary sibling, then rename them all into place. If writing any
    one fails, none of them is replaced. Files get the mode the umask gives a new file."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((Path(name), path))
            os.fchmod(fd, _umask_mode(0o666))
            _write_fd(fd, data)
        _sync_written([tmp for tmp, _ in staged])
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as e:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise BnncError(f"{path}: cannot write ({e.strerror or e})") from e
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for parent in {path.parent for path in files}:
        _fsync_path(parent)


def _is_output_directory(path: Path) -> bool:
    """An existing directory bnnc may replace: empty, or holding a previous run's report."""
    return not any(path.iterdir()) or ((path / "report.json").is_file() and (path / "model.bir").is_file())


def check_output_directory(out_dir: Path, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse, before any work, an output directory that cannot be replaced: an existing
    non-directory, a non-empty directory that is not an earlier bnnc output (e.g. ``-o .``:
    bnnc replaces only its own outputs), one holding an input, or a parent that cannot be
    written."""
    target = Path(os.path.abspath(out_dir))
    if target.exists() and not target.is_dir():
        raise BnncError(f"{out_dir}: exists and is not a directory; choose another -o")
    if target.is_dir() and not _is_output_directory(target):
        raise BnncError(f"{out_dir}: exists and is not a bnnc output directory (no report.json and model.bir); "
                        "it would be replaced as a whole: choose another -o or empty it")
    resolved = target.resolve()
    for path in inputs:
        if resolved == Path(path).resolve() or resolved in Path(path).resolve().parents:
            raise BnncError(f"{out_dir}: the output directory holds the input {path}, which replacing it would delete; "
                            "choose another -o")
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK) or not _can_create_in(ancestor, target.name):
        raise BnncError(f"{out_dir}: cannot create the output directory ({ancestor} is not a writable directory)")


def _can_create_in(directory: Path, name: str) -> bool:
    """Whether a directory can really be created in ``directory`` (``os.access`` says yes to
    root for /proc and some special filesystems); the trial directory, a hidden
    ``.NAME.XXXXXXXX.tmp`` named after the output directory ``name`` like every temporary
    sibling of an output, is removed at once."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=directory))
    except OSError:
        return False
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange the paths ``a`` and ``b``; False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, destination, follow_symlinks=False)


def _carry_over(old: Path, new: Path, owned: frozenset[str]) -> None:
    """Hard-link (copy across filesystems) into ``new`` every top-level entry of ``old`` whose
    name is not in ``owned`` and not written anew: the user's own files survive a rerun."""
    for entry in old.iterdir():
        if entry.name in owned or (new / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(new / entry.name))


def _swap(staging: Path, target: Path) -> Path | None:
    """Put ``staging`` at ``target``; returns where the old directory now is (None if there
    was none). A ``target`` another run creates meanwhile is exchanged like an old one."""
    if not target.exists():
        try:
            os.rename(staging, target)
            return None
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if _exchange(staging, target):
        return staging
    previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    lock = hold(target)  # the old directory, locked before it takes the .old name
    try:
        os.rename(target, previous)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(previous, target)
            raise
    finally:
        os.close(lock)
    return previous


def replace_directory_atomically(out_dir: Path, files: dict[str, bytes], owned: frozenset[str] = frozenset()) -> None:
    """Make ``out_dir`` hold ``files`` (paths relative to it), replacing the whole directory,
    so that nothing of an earlier run stays: of the old directory's top-level entries, those
    named in ``owned`` (the names the writer ever writes) are dropped, the others (the
    user's) carried over by hard links.

    The files are written into a fresh hidden sibling ``.NAME.*.new`` (same parent,
    so renames are atomic), made durable at once (:func:`_sync_written`), then swapped in. Where the kernel can exchange two paths
    atomically (Linux ``renameat2``), a reader sees the old directory or the new one at every
    instant; otherwise the old directory is renamed aside to ``.NAME.*.old`` and the new one
    renamed in, and a reader between those two renames finds no directory. A failure while
    writing leaves the old directory untouched. A kill leaves, by step: while writing, the old
    directory and a stray ``.new`` sibling; after the swap and before the old directory is
    removed (best effort), the new directory and the old one in a hidden sibling (``.new``
    after an exchange, ``.old`` after renaming aside); without ``renameat2``, a kill between
    the two renames leaves no directory and the old one as ``.old``. The hidden siblings are
    never read and can be deleted; the next run into ``out_dir`` removes them
    (:mod:`.staging`: each is locked while its run lives). :func:`check_output_directory`
    should have been called first."""
    target = Path(os.path.abspath(out_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent))
    except OSError as e:
        raise BnncError(f"{out_dir}: cannot write the output directory ({e.strerror or e}); it is left as it was") from e
    lock = hold(staging)
    try:
        os.chmod(staging, _umask_mode(0o777))
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_new(path, data)
        if target.is_dir():
            _carry_over(target, staging, owned | {name.split("/", 1)[0] for name in files})
        _sync_written([staging / name for name in files] + [staging])
        previous = _swap(staging, target)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise BnncError(f"{out_dir}: cannot write the output directory ({e.strerror or e}); it is left as it was") from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(lock)
    _fsync_path(target.parent)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
