"""Write a file completely or not at all.

Every output of gpuresample is written under its final name into a hidden
temporary folder ``.<name>.*.part`` inside the target's own folder (same file
system, so the final rename is atomic) and only then moved into place.
Writers that record the file's own name (stdatamodels stores the name it
saves to in FILENAME and ``meta.filename``) therefore record the real name.
A crash, a full disk, Ctrl-C or SIGTERM leaves nothing that is not removed on
the way out — never a truncated product under the real name.  Only SIGKILL
can leave the hidden folder; its name holds the writer's process ID, and the
next write of the same output removes folders whose writer is gone.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_output", "check_output_path"]


def check_output_path(path, overwrite=False, inputs=()):
    """Refuse an output that cannot or must not be written, before any work is done.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    ValueError
        ``path`` is one of ``inputs`` (inputs are never modified), or a folder.
    OSError
        The folder does not exist or is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    for item in inputs:
        try:
            same = Path(item).resolve() == path.resolve() or (path.exists() and os.path.samefile(item, path))
        except OSError:
            same = False
        if same:
            raise ValueError(f"{path}: the output would replace an input file; choose another output name")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name for the output")
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "output folder does not exist", str(folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "output folder is not writable", str(folder))
    if path.exists() and not overwrite:
        raise FileExistsError(errno.EEXIST, "output exists (pass overwrite=True to replace it)",
                              str(path))
    return path


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_stale_parts(path):
    """Remove ``.<name>.<pid>.*.part`` folders of ``path`` whose writer no longer runs.

    Only SIGKILL (or a power cut) leaves one: every other ending removes its
    own.  Folders of running processes, and names that do not parse, are left alone.
    """
    prefix = f".{path.name}."
    for entry in path.parent.glob(f"{glob.escape(prefix)}*.part"):
        pid_text = entry.name[len(prefix):].split(".", 1)[0]
        if entry.is_dir() and pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path, overwrite=False):
    """Context manager yielding a temporary path; on success it becomes ``path``.

    Without ``overwrite`` the final step is a hard link, which fails if
    ``path`` appeared in the meantime (another process), so an existing file
    is never replaced.  On any exception the temporary file is removed.
    """
    path = check_output_path(path, overwrite)
    _remove_stale_parts(path)
    # the final name inside a private folder: writers choose the format by the
    # suffix and stdatamodels records the name it saves to; the writer's process
    # ID in the name lets a later run recognise a folder a killed run left
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent))
    tmp = tmp_dir / path.name
    try:
        try:
            yield tmp
        except OSError as exc:  # full disk, file-size limit, I/O error: say which output failed
            detail = exc.strerror or str(exc)
            raise OSError(exc.errno, f"could not write the output ({detail}); nothing was left behind",
                          str(path)) from exc
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the usual mode, whatever the writer chose
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(errno.EEXIST, "output appeared while writing; not replaced",
                                      str(path)) from None
            except OSError:  # no hard links on this file system: check, then rename
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "output appeared while writing; not replaced",
                                          str(path)) from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        shutil.rmtree(tmp_dir, ignore_errors=True)
