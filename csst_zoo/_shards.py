"""One output of rows written by every process of a torchrun job (``predict`` and ``prepare`` over a
collection): each process takes a disjoint share of the work and writes its own part, and when all
are done the first process merges the parts into the output a single process would have written.

A part is a :class:`RowFile` (every row flushed as it is written) in ``OUTPUT.parts/``, one per
rank; a job that stops (SIGINT, a killed rank, a lost node) leaves its parts, and the same command
with ``--resume`` reads them, whatever the number of processes now, and does only what no part
has. A single process with no parts left writes the output itself, row by row.
"""
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

from ._io import write_atomic
from ._rows import RowFile, header_text, read_rows, row_text

__all__ = ['ShardedRows', 'every_rank', 'job_place', 'use_local_device']

# The ranks wait for each other once, at the end: the slowest may finish hours after the fastest.
_JOB_TIMEOUT = timedelta(days=1)


def job_place():
    """``(rank, world size)`` of this process in a torchrun job, ``(0, 1)`` outside one."""
    return int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))


def every_rank(obj) -> list:
    """``obj`` of every rank of the job, in rank order (``[obj]`` outside a job)."""
    rank, world = job_place()
    if world == 1:
        return [obj]
    import torch.distributed as dist
    _join_job()
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def use_local_device() -> None:
    """Make ``'cuda'`` mean this process's own GPU (torchrun's LOCAL_RANK), as DDP training does."""
    import torch
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))


class ShardedRows:
    """The rows of ``path`` (``columns``; ``key(row)`` names the item a row is about), written by
    this process, alone or as one rank of a torchrun job.

    ``done`` is the set of keys that the output (resumed) and every part already have; ``share``
    gives this process its part of the rest: all of it alone, every ``world``-th item in a job, so
    the shares are disjoint and fixed by the list's order. ``check(row, file)`` may refuse a row
    read back (another model's predictions) with a ValueError, which every rank raises.
    ``finish(order)`` ends the job: the parts, merged in the order of the keys ``order`` (rows of
    other items after them, as they were found), replace ``path`` atomically and are removed."""

    def __init__(self, path, columns: Sequence[str], key: Callable[[dict], str], resume: bool = False,
                 what: str = 'a rows file', options: str = 'other options',
                 check: Optional[Callable[[dict, Path], None]] = None):
        self.path, self.columns, self.key, self.what, self.options = Path(path), list(columns), key, what, options
        self.rank, self.world = job_place()
        self.parts = self.path.with_name(self.path.name + '.parts')
        self.sharded = self.world > 1 or self.parts.is_dir()
        if not self.sharded:
            self.file = RowFile(self.path, columns, resume, what, options)
            for row in self.file.rows:
                if check:
                    check(row, self.path)
            self.done = {key(row) for row in self.file.rows}
            return
        if self.world > 1:
            _join_job()
        if not resume:
            existing = self.parts if self.parts.is_dir() else self.path if _has_rows(self.path) else None
            if existing:
                raise FileExistsError(f'{existing} exists (the rows of an earlier run): pass --resume (resume=True) '
                                      'to add what it lacks, or choose a new output')
        _barrier(self.world)  # every rank has looked before any creates its part
        self.parts.mkdir(parents=True, exist_ok=True)
        self.file = RowFile(self.parts / f'rank-{self.rank:05d}{self.path.suffix}', columns, True, what, options)
        _barrier(self.world)  # every part is complete (a row cut short dropped) before rank 0 reads them
        self.done = self._everyone(self._read_done, check)

    def _files(self) -> List[Path]:
        return ([self.path] if _has_rows(self.path) else []) + sorted(self.parts.glob(f'rank-*{self.path.suffix}'))

    def _read_done(self, check) -> set:
        done = set()
        for file in self._files():
            for row in read_rows(file, self.columns, self.what, self.options):
                if check:
                    check(row, file)
                done.add(self.key(row))
        return done

    def _everyone(self, compute, *args):
        """``compute(*args)`` on rank 0, its result (or its ValueError) on every rank."""
        result = None
        if self.rank == 0:
            try:
                result = ('ok', compute(*args))
            except ValueError as e:
                result = ('error', str(e))
        result = _broadcast(result, self.world)
        if result[0] == 'error':
            raise ValueError(result[1])
        return result[1]

    def share(self, items: Iterable, key: Callable = os.path.abspath) -> list:
        """This process's share of the ``items`` whose ``key`` is not ``done``, in their order."""
        todo = [item for item in items if key(item) not in self.done]
        return todo[self.rank::self.world] if self.sharded else todo

    def append(self, row: dict) -> None:
        self.file.append(row)
        self.done.add(self.key(row))

    def close(self) -> None:
        self.file.close()

    def finish(self, order: Sequence[str]) -> None:
        """Close; in a job, wait for every rank, and on rank 0 merge the parts into ``path``."""
        self.close()
        if not self.sharded:
            return
        _barrier(self.world)
        if self.rank == 0:
            self._merge(order)
        _barrier(self.world)  # no rank reports the job done before the output is there

    def _merge(self, order: Sequence[str]) -> None:
        rows = {}
        for file in self._files():
            for row in read_rows(file, self.columns, self.what, self.options):
                rows.setdefault(self.key(row), row)  # a row both in a part and in the output: once
        place = {key: i for i, key in enumerate(order)}
        ranked = sorted(rows.items(), key=lambda item: place.get(item[0], len(place)))
        write_atomic(self.path, header_text(self.path, self.columns) +
                     ''.join(row_text(self.path, self.columns, row) for _, row in ranked))
        shutil.rmtree(self.parts)


def _has_rows(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _join_job() -> None:
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group('gloo', timeout=_JOB_TIMEOUT)


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist
        dist.barrier()


def _broadcast(obj, world: int):
    if world == 1:
        return obj
    import torch.distributed as dist
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
