"""Measuring helpers shared by the benchmarks: fresh processes, resident memory, the device's name;
importing it turns cuDNN's autotuner on."""
import multiprocessing
import os
import platform
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path
from queue import Empty

import torch

from csst_zoo._io import write_atomic

__all__ = ['proc_status', 'reset_peak_rss', 'in_fresh_process', 'freed_memory_returned', 'device_name',
           'command_line', 'emit', 'sync']

# as timm's benchmark.py: cuDNN times each conv's algorithms on the first (warm-up) call of a shape
# and keeps the fastest, as `csst-zoo train` and `predict` have it
torch.backends.cudnn.benchmark = True


def proc_status(key: str, pid='self') -> int:
    """A byte figure of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``) of this process or ``pid`` (Linux)."""
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ':'))


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set (VmHWM); False where Linux's clear_refs is missing."""
    if not os.path.exists('/proc/self/clear_refs'):
        return False
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return True


def _child(target, args, queue, start_method):
    # a spawned interpreter makes spawn its default: the DataLoader workers it starts would each
    # import torch, a start-up that the caller's own loaders (fork on Linux) do not pay
    multiprocessing.set_start_method(start_method, force=True)
    queue.put(target(*args))


def in_fresh_process(target, *args):
    """``target(*args)`` run in a new (spawned) interpreter whose processes start as the caller's do;
    its return value, or an error if it died."""
    ctx = multiprocessing.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue, multiprocessing.get_start_method()))
    proc.start()
    while True:
        try:
            value = queue.get(timeout=1)
            break
        except Empty:
            if not proc.is_alive():
                raise RuntimeError(f'{target.__name__} died in its process (exit code {proc.exitcode})') from None
    proc.join()
    return value


@contextmanager
def freed_memory_returned():
    """Processes started inside pin glibc's mmap threshold, so that freed blocks (frames,
    activations) go back to the OS: their resident set follows the live memory, and its peak
    is the peak of what they held."""
    env = dict(os.environ)
    os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(env)


def sync(device: str) -> None:
    """Wait for the work queued on ``device`` ('cuda' or 'cpu'), so that a clock read after it times it."""
    if device == 'cuda':
        torch.cuda.synchronize()


def device_name(device: str) -> str:
    if device == 'cuda':
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{cpu} (CPU), {torch.get_num_threads()} threads'


def command_line() -> str:
    """How this benchmark was run, for the header of its table: ``python benchmarks/NAME.py ARGS``,
    quoted as a shell needs them (an empty argument, a glob)."""
    return shlex.join(['python', f'benchmarks/{Path(sys.argv[0]).name}', *sys.argv[1:]])


def results_header(device: str) -> str:
    """The start of a results table's first line: how it was made, where and when
    (```python benchmarks/NAME.py ARGS` on DEVICE, torch VERSION, DATE``)."""
    from datetime import datetime, timezone
    return f'`{command_line()}` on {device}, torch {torch.__version__}, {datetime.now(timezone.utc):%Y-%m-%d}'


def emit(text: str, output=None) -> None:
    """Print a benchmark's result and, given ``output``, also write it there atomically."""
    sys.stdout.write(text)
    if output:
        write_atomic(output, text)
