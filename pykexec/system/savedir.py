# SPDX-License-Identifier: GPL-2.0-or-later
"""``--save DIR``: files written only inside DIR, never through a symlink, never by
opening something that could block (a FIFO, a device) or that another user planted.

DIR itself is opened with O_NOFOLLOW | O_DIRECTORY (a symlink or a FIFO at its name
is refused without being followed or opened for reading), and every file is created
relative to that descriptor with O_CREAT | O_EXCL | O_NOFOLLOW, so nothing that
already exists is ever opened.  A DIR that is not empty is refused unless
``overwrite``; then a file of the same name is unlinked first (a symlink is removed,
not followed; a directory is refused).  DIR's parent must exist: only DIR is created.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from pykexec.errors import SaveError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(path: str) -> int:
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    except OSError as err:
        raise SaveError(
            "io", directory=path, action="create", target=path, reason=err.strerror
        ) from None
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise SaveError(
                "io", directory=path, action="open", target=path, reason=err.strerror
            ) from None
    if os.path.islink(path):
        raise SaveError("symlink", directory=path)
    raise SaveError("not-a-directory", directory=path)


def _write(dir_fd: int, path: str, name: str, data: bytes, overwrite: bool) -> None:
    if overwrite:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise SaveError("exists", directory=path, name=name, reason=err.strerror) from None
    try:
        fd = os.open(name, _FILE_FLAGS, 0o644, dir_fd=dir_fd)
    except FileExistsError:  # appeared since the check or the unlink: not ours to open
        raise SaveError(
            "exists", directory=path, name=name, reason="it appeared while saving"
        ) from None
    except OSError as err:
        raise SaveError("io", directory=path, action="create", target=os.path.join(path, name),
                        reason=err.strerror) from None  # fmt: skip
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as err:
        raise SaveError("io", directory=path, action="write", target=os.path.join(path, name),
                        reason=err.strerror) from None  # fmt: skip
    finally:
        os.close(fd)


def write_files(
    directory: Path, files: Sequence[tuple[str, bytes]], *, overwrite: bool = False
) -> list[Path]:
    """Write each (name, bytes) of ``files`` into ``directory``; returns their paths."""
    path = os.fspath(directory)
    if "\0" in path:
        raise SaveError("nul-byte", directory=path)
    path = path.rstrip("/") or "/"
    dir_fd = _open_dir(path)
    try:
        present = os.listdir(dir_fd)
        if present and not overwrite:
            raise SaveError(
                "not-empty", directory=path, count=len(present), name=sorted(present)[0]
            )
        for name, data in files:
            assert "/" not in name and name not in ("", ".", ".."), name
            _write(dir_fd, path, name, data, overwrite)
    finally:
        os.close(dir_fd)
    return [directory / name for name, _ in files]
