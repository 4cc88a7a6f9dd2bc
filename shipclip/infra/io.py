"""Crash-safe file writes, used by both engines and by everything that writes a file a later run reads.

A write goes to a temporary file in the same folder, is ``fsync``-ed, then ``os.replace``-d onto
the target, so an interrupted run leaves either the old file or the new one, never half of one.

Temporary files from :func:`tempfile.mkstemp` are created with mode 600; a plain ``open()``
would give ``666 & ~umask`` (644 under the usual umask 022). Files written here get the mode
``open()`` would give, so colleagues sharing an output folder can read results, checkpoints,
generators and caches like Dassl's own files. :func:`make_shared_dir` does the same for folders
made with :func:`tempfile.mkdtemp` (mode 700).
"""
import errno
import json
import os
import tempfile

import torch

__all__ = [
    "mkdir_if_missing", "read_json", "write_json", "atomic_write", "atomic_write_bytes", "atomic_write_text",
    "atomic_torch_save", "default_file_mode", "default_dir_mode", "make_shared_dir",
]


def _current_umask():
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode():
    """The mode ``open(path, "w")`` gives a new file: ``0o666 & ~umask``."""
    return 0o666 & ~_current_umask()


def default_dir_mode():
    """The mode ``os.makedirs`` gives a new folder: ``0o777 & ~umask``."""
    return 0o777 & ~_current_umask()


def make_shared_dir(parent, prefix):
    """``tempfile.mkdtemp`` in ``parent`` with the folder mode ``os.makedirs`` would give."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(path, default_dir_mode())
    return path


def mkdir_if_missing(dirname):
    """Create ``dirname`` (and parents) if it does not exist; safe against concurrent creation."""
    if not os.path.exists(dirname):
        try:
            os.makedirs(dirname)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise


def read_json(fpath):
    with open(fpath, "r") as f:
        return json.load(f)


def _fsync_dir(dirname):
    """Make a rename durable; not every platform or filesystem allows opening a folder."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write_fn, mode="wb"):
    """Write via ``write_fn(fileobj)`` into a temp file beside ``path``, then replace ``path``.

    The file ends with the mode ``open()`` would have given it (see the module docstring).
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    mkdir_if_missing(parent)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(parent)
    return path


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text):
    """Write the string ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_torch_save(obj, path):
    """``torch.save(obj, path)`` that never leaves a partial file at ``path``."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def write_json(obj, fpath):
    """Write ``obj`` as indented JSON, creating the parent folder; atomic."""
    def dump(f):
        json.dump(obj, f, indent=4, separators=(",", ": "))

    return atomic_write(fpath, dump, mode="w")
