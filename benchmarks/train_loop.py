"""How close `csst-zoo train` comes to the training step it runs: the command's clips/s on synthetic
clips beside benchmarks/speed.py's training step for the same model, batch, precision and layout.

    python benchmarks/train_loop.py                                     # C2D-R50 and CSST-R50, CPU
    python benchmarks/train_loop.py --batch 16 --workers 8 -o results/train_loop_cuda.md   # on a GPU
    python benchmarks/train_loop.py --compile

The step: `speed.py --task train` under the runtime the command trains with by default, on the
device it picks (CUDA when present): bf16 autocast and channels-last on a GPU, channels-last fp32
on the CPU, or their compiled forms with --compile; the median over --rounds interleaved steps.
The loop: `csst-zoo train MODEL --dataset synthetic` (engine.fit: loader and workers, the step,
its bookkeeping and the epoch's checkpoint) for --epochs epochs of --steps batches; the clips/s
and data_wait of its last epoch, from its log. Loop / step is the share of the step's rate the
command reaches (1.0: the loop costs nothing), and data_wait the share of the epoch spent waiting
for batches, which synthetic clips make the loader's own overhead.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from csst_zoo.engine import TrainConfig, fit
from _measure import command_line, device_name, emit


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', default='c2d_resnet50,csst_resnet50', help='comma-separated model names')
    p.add_argument('--batch', type=int, default=2, help='clips per step')
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--steps', type=int, default=20, help='batches per epoch of the loop')
    p.add_argument('--epochs', type=int, default=2, help='epochs of the loop; the last one is reported')
    p.add_argument('--workers', type=int, default=2, help="the loop's loader workers")
    p.add_argument('--rounds', type=int, default=10, help='timed steps of the step benchmark')
    p.add_argument('--threads', type=int, default=2, help='CPU threads')
    p.add_argument('--compile', action='store_true', help='both sides compiled (csst-zoo train --compile)')
    p.add_argument('-o', '--output', help='also write the table here (atomically)')
    p.add_argument('--format', choices=('markdown', 'json'), default='markdown')
    args = p.parse_args(argv)
    for name in ('batch', 'frames', 'size', 'steps', 'epochs', 'rounds', 'threads'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1')
    if args.workers < 0:
        p.error('--workers must be >= 0')
    args.models = [n.strip() for n in args.models.split(',') if n.strip()]
    return args


def step_rate(model: str, device: str, runtime: str, args) -> float:
    """Clips/s of speed.py's training step (the product's train_step) of ``model`` under ``runtime``,
    run as the script it is, in a process of its own."""
    run = subprocess.run([
        sys.executable, str(Path(__file__).with_name('speed.py')), '--task', 'train', '--models', model,
        '--no-anchor', '--runtime', runtime, '--device', device, '--batch', str(args.batch), '--frames',
        str(args.frames), '--size', str(args.size), '--rounds', str(args.rounds), '--threads', str(args.threads),
        '--no-memory', '--format', 'json'], capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f'speed.py failed:\n{run.stderr[-3000:]}')
    (row,) = json.loads(run.stdout)['rows']
    return row['clips_per_s']


def loop_rate(model: str, args, output: Path) -> dict:
    """The last epoch's log row of ``csst-zoo train model --dataset synthetic``."""
    return fit(TrainConfig(
        model=model, dataset='synthetic', data_root=None, output=str(output), pretrained=False,
        num_frames=args.frames, size=args.size, epochs=args.epochs, warmup_epochs=0, batch_size=args.batch,
        workers=args.workers, compile=args.compile, validate=False, progress=False,
        synthetic_clips=args.steps * args.batch))


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'  # the device fit takes
    runtime = 'bf16' if device == 'cuda' else 'channels_last'  # fit's default: amp on CUDA only
    if args.compile:
        runtime = 'compile_bf16' if device == 'cuda' else 'compile'
    rows = []
    with tempfile.TemporaryDirectory(prefix='csst-train-loop-') as workdir:
        for model in args.models:
            print(f'{model}: the step, then the loop', file=sys.stderr, flush=True)
            step = step_rate(model, device, runtime, args)
            log = loop_rate(model, args, Path(workdir) / model)
            rows.append(dict(model=model, runtime=runtime, step_clips_per_s=step, loop_clips_per_s=log['clips_per_s'],
                             loop_over_step=log['clips_per_s'] / step, data_wait=log['data_wait']))
    meta = dict(device=device_name(device), torch=torch.__version__,
                cuda=torch.version.cuda if device == 'cuda' else None, batch=args.batch, frames=args.frames,
                size=args.size, steps=args.steps, epochs=args.epochs, workers=args.workers)
    if args.format == 'json':
        text = json.dumps(dict(meta=meta, rows=rows), indent=2) + '\n'
    else:
        text = render(meta, rows)
    emit(text, args.output)


def render(meta, rows) -> str:
    cuda = f", CUDA {meta['cuda']}" if meta['cuda'] else ''
    lines = [
        f"`{command_line()}`, {datetime.now(timezone.utc):%Y-%m-%d}. Device: {meta['device']}; torch "
        f"{meta['torch']}{cuda}; clips {meta['batch']}x3x{meta['frames']}x{meta['size']}x{meta['size']} per step; "
        f"loop: the last of {meta['epochs']} epochs of {meta['steps']} steps, {meta['workers']} loader workers",
        '',
        '| model | runtime | step clips/s (speed.py) | loop clips/s (csst-zoo train) | loop / step | data_wait |',
        '|---|---|---|---|---|---|',
    ]
    lines += [f"| {r['model']} | {r['runtime']} | {r['step_clips_per_s']:.2f} | {r['loop_clips_per_s']:.2f} | "
              f"{r['loop_over_step']:.3f} | {r['data_wait']:.1%} |" for r in rows]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
