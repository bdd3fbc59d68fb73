"""Outputs written band by band: locked, resumable, published atomically.

An output ``DIR/NAME`` (a FITS file or a zarr directory) written by
`~imagemapper.FitsSink` or `~imagemapper.ZarrSink` lives beside its target
until it is complete:

- ``DIR/.NAME.lock``: an advisory lock (``fcntl.flock``) held by the writer,
  holding its process id, host and start time, which the error met by a
  second writer quotes. The kernel drops the lock when the writer exits or is
  killed, so a stale lock file never blocks anyone.
- ``DIR/.NAME.partial``: the output being written.
- ``DIR/.NAME.partial.json``: the progress record (how many bands are
  written and flushed to disk, and a description of the run), rewritten
  atomically after every band. ``runOutOfCore(..., resume=True)`` continues
  from it.

When the last band is written the partial output is flushed and renamed to
``NAME``: before that instant the target is the previous output (or absent),
after it the complete new one.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import shutil
import socket
import tempfile
from typing import Any

__all__ = [
    "OutputLock",
    "OutputLockedError",
    "ProgressRecord",
    "encodeChecksum",
    "fsyncDirectory",
    "namedOSError",
    "replaceDirectory",
    "replaceFile",
    "sideName",
]


def sideName(target: str, suffix: str) -> str:
    """``DIR/.NAME<suffix>`` for the target ``DIR/NAME``."""
    directory, name = os.path.split(os.path.abspath(target).rstrip(os.sep))
    return os.path.join(directory, f".{name}{suffix}")


def namedOSError(err: OSError, path: str, doing: str) -> OSError:
    """``err`` again, its message naming ``path`` and what was being done."""
    why = err.strerror or str(err)
    message = f"{path}: {doing}: {why}"
    return OSError(err.errno, message) if err.errno is not None else OSError(message)


def fsyncDirectory(directory: str) -> None:
    """Flush a directory's entries (a rename) to disk, where the system allows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- lock


class OutputLockedError(BlockingIOError):
    """Another writer holds the output's lock (the message names it)."""


class OutputLock:
    """An exclusive advisory lock on the output ``target`` (``.NAME.lock``).

    `acquire` never waits: it raises `OutputLockedError` naming the holder
    (process id, host, start time) when another writer, in this process or
    another, holds the lock.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.path = sideName(target, ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _readHolder(fd)
                os.close(fd)
                raise OutputLockedError(
                    errno.EAGAIN,
                    f"{self.target}: the output is being written by another run ({holder}); "
                    f"wait for it to finish or choose another output (lock file {self.path})",
                ) from None
            # The previous holder removes the lock file as it releases it: a
            # lock taken on a file no longer at that name locks nothing.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            self._fd = fd
            return
        raise OutputLockedError(  # pragma: no cover - a lock file replaced 100 times over
            errno.EAGAIN, f"{self.target}: cannot lock the output (lock file {self.path})"
        )

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(fd)

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _readHolder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']} on host {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a writer that has not said who it is yet"


# ----------------------------------------------------------------------- progress


class ProgressRecord:
    """The progress record of a partial output: ``{"run": {...}, "bandsDone": n}``."""

    def __init__(self, target: str) -> None:
        self.path = sideName(target, ".partial.json")

    def load(self) -> dict[str, Any] | None:
        try:
            with open(self.path) as f:
                record = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise OSError(f"{self.path}: unreadable progress record ({err})") from None
        if not isinstance(record, dict) or not isinstance(record.get("bandsDone"), int):
            raise OSError(f"{self.path}: not a progress record")
        return record

    def save(self, run: dict[str, Any], bandsDone: int) -> None:
        """Replace the record atomically (it is flushed before it is renamed)."""
        directory = os.path.dirname(self.path)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(self.path), suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"run": run, "bandsDone": bandsDone}, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def mismatch(recorded: dict[str, Any], run: dict[str, Any]) -> str:
    """What differs between two run descriptions (empty when nothing does)."""
    keys = sorted(set(recorded) | set(run))
    return "; ".join(
        f"{k}: {recorded.get(k)!r} then, {run.get(k)!r} now"
        for k in keys
        if recorded.get(k) != run.get(k)
    )


# ---------------------------------------------------------------------- publish


def replaceFile(tmp: str, target: str, overwrite: bool) -> None:
    """Rename the complete ``tmp`` to ``target`` (refusing an existing target
    unless ``overwrite``); the rename is flushed to disk."""
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
    os.replace(tmp, target)
    fsyncDirectory(os.path.dirname(os.path.abspath(target)))


def replaceDirectory(tmp: str, target: str, overwrite: bool = True) -> None:
    """Rename the complete directory ``tmp`` to ``target``.

    A previous directory at ``target`` is moved aside first and removed only
    after the new one is in place (a crash between the two renames leaves
    both, under their temporary names, and nothing half-written at ``target``).
    """
    target = os.path.abspath(target).rstrip(os.sep)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
    directory, name = os.path.split(target)
    fsyncDirectory(tmp)
    old = None
    if os.path.lexists(target):
        old = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".old")
        os.rmdir(old)
        os.rename(target, old)
    os.rename(tmp, target)
    fsyncDirectory(directory)
    if old is not None and os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    elif old is not None:
        os.unlink(old)


# --------------------------------------------------------------------- checksums

#: Characters the FITS checksum encoding avoids (punctuation between digits and letters).
_EXCLUDED = frozenset((*range(0x3A, 0x41), *range(0x5B, 0x61)))


def encodeChecksum(total: int) -> str:
    """The 16-character ``CHECKSUM`` value for an HDU whose 32-bit ones'-complement
    sum is ``total`` with ``CHECKSUM = '0000000000000000'`` (FITS standard 4.0,
    appendix J: the complement of the sum, each byte spread over four printable
    characters, then rotated one place right)."""
    value = ~total & 0xFFFFFFFF
    chars = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = divmod(byte, 4)
        ch = [quotient + 0x30] * 4
        ch[0] += remainder
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                if ch[j] in _EXCLUDED or ch[j + 1] in _EXCLUDED:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            chars[4 * j + i] = ch[j]
    return bytes(chars[-1:] + chars[:-1]).decode("ascii")
