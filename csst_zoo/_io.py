"""Atomic file output: nothing is half-written, whatever fails."""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ['read_mapping', 'staged_files', 'write_atomic']


@contextmanager
def staged_files(*paths):
    """Write ``paths`` as one step: yields a staging directory beside them; write each file (or
    folder) there under its final name. When the block ends without error every one is renamed
    into place (``os.replace``: readers see the old file or the new one, never a part; a folder
    already there is removed just before its new one takes its place); on error nothing in the
    destination changes and the staging directory is removed.
    """
    paths = [Path(p) for p in paths]
    parent = paths[0].absolute().parent
    if any(p.absolute().parent != parent for p in paths):
        raise ValueError(f'staged files must share one directory, got {[str(p) for p in paths]}')
    if not parent.is_dir():
        raise FileNotFoundError(f'cannot write {paths[0]}: directory {parent} does not exist')
    try:
        stage = Path(tempfile.mkdtemp(dir=parent, prefix='.tmp-'))
    except OSError as e:
        raise OSError(e.errno, f'cannot write {paths[0]}: {e.strerror} ({parent})') from None
    try:
        yield stage
        missing = [p.name for p in paths if not (stage / p.name).exists()]
        if missing:
            raise RuntimeError(f'nothing was written for {missing}')
        for p in paths:
            if (stage / p.name).is_dir() and p.is_dir():
                shutil.rmtree(p)
            os.replace(stage / p.name, p)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_atomic(path, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` atomically."""
    path = Path(path)
    with staged_files(path) as stage, open(stage / path.name, 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)


def read_mapping(path, what: str, parse=None, errors=()) -> dict:
    """The mapping a JSON (or, with ``parse=yaml.safe_load`` and its ``errors``, YAML) file holds;
    ValueError naming ``what`` the file is when it cannot be read or holds something else."""
    import json
    try:
        data = (parse or json.loads)(Path(path).read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError, *errors) as e:
        raise ValueError(f'cannot read {what} {path}: {e}') from None
    if not isinstance(data, dict):
        raise ValueError(f'{what} {path} must hold a mapping (a JSON object), got a {type(data).__name__}')
    return data
