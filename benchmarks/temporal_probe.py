"""Temporal-reasoning probe: which conv families can tell a clip from its time reversal?

    python benchmarks/temporal_probe.py                        # C2D, C3D, P3D, C3D-g, CSST, TSM ResNet18, 3 seeds
    python benchmarks/temporal_probe.py --families c2d,csst --epochs 3 --seeds 5 --format json

A synthetic data set, generated from a seed: every clip shows one object (random colour, size
and start position, over a random textured background) doing one of three motions, moving
right, moving down or growing, played forwards (class "forward") or backwards (class
"reversed"). A reversed clip is the exact time reversal of a forward clip drawn from the same
distribution, so the multiset of frames says nothing about the class: a bag-of-frames model
(C2D: per-frame convs and a global average over time) is at chance, 50%, by construction.
Only the order of the frames carries the label.

Each family's ResNet18 is trained from the same seed with the same schedule through
csst_zoo.engine.fit (random init: ImageNet weights would need the network) and evaluated on
held-out clips, once per seed; the table gives every seed's held-out top-1, their mean and
spread, the models each one ranks above (its lowest seed beats their highest), params, FLOPs at
the probe's clip size, and training seconds per epoch.
"""
import argparse
import csv
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.io import write_png

from csst_zoo import FAMILIES as ALL_FAMILIES, create_model
from csst_zoo.engine import TrainConfig, fit
from csst_zoo.profiling import count_flops, count_params
from _measure import device_name, emit, results_header

FAMILIES = ('c2d', 'c3d', 'p3d', 'c3dg', 'csst', 'tsm')  # the default; any family may be chosen


def model_name(family: str) -> str:
    """The family's smallest ResNet: ResNet18, or ResNet50 for GST and TAM (bottleneck-only)."""
    return f'{family}_resnet{min(ALL_FAMILIES[family].depths)}'
MOTIONS = ('move right', 'move down', 'grow')
CLASSES = ('forward', 'reversed')


def _texture(size: int, cells: int, contrast: float, g: torch.Generator) -> torch.Tensor:
    """A random colour texture ``(3, size, size)``: a ``cells`` x ``cells`` random grid around a
    random colour, upsampled."""
    coarse = (torch.rand(3, 1, 1, generator=g) - 0.5) * (1 - contrast) + 0.5 \
        + (torch.rand(3, cells, cells, generator=g) - 0.5) * contrast
    return F.interpolate(coarse[None], size=(size, size), mode='bilinear', align_corners=False)[0]


def make_clip(motion: str, reverse: bool, frames: int, size: int, g: torch.Generator) -> torch.Tensor:
    """uint8 ``(frames, 3, size, size)``: a textured square (random texture, size and start
    position) over a random static background doing ``motion``, played backwards when
    ``reverse``. The same random draws give the same clip either way round."""
    if motion not in MOTIONS:
        raise ValueError(f'motion must be one of {MOTIONS}, got {motion!r}')
    background, texture = _texture(size, 3, 0.3, g), _texture(size, 4, 1.0, g)
    u = torch.rand(4, generator=g).tolist()
    half = 0.35 + 0.15 * u[0]  # half-side of the square, in units of half the frame
    start = [-0.4 + 0.8 * u[1], -0.4 + 0.8 * u[2]]  # centre (x, y) at the first frame
    travel = 1.0 + 0.4 * u[3]  # translation over the clip
    angle = 2 * math.pi * u[1]  # the square's orientation
    clip = []
    for t in range(frames):
        s = t / (frames - 1)  # 0 -> 1 over the clip
        (cx, cy), scale = start, 1.0
        if motion == 'move right':
            cx = -0.5 - 0.25 * u[2] + s * travel
        elif motion == 'move down':
            cy = -0.5 - 0.25 * u[1] + s * travel
        elif motion == 'grow':
            scale = 0.6 + 1.0 * s
        # frame coordinates -> coordinates of the square's texture ([-1, 1] inside the square)
        cos, sin = math.cos(angle), math.sin(angle)
        k = 1 / (half * scale)
        theta = torch.tensor([[k * cos, k * sin, -k * (cos * cx + sin * cy)],
                              [-k * sin, k * cos, -k * (-sin * cx + cos * cy)]], dtype=torch.float32)
        grid = F.affine_grid(theta[None], [1, 3, size, size], align_corners=False)
        inside = (grid.abs() <= 1).all(dim=-1)[0]
        obj = F.grid_sample(texture[None], grid, align_corners=False, padding_mode='border')[0]
        clip.append(torch.where(inside, obj, background))
    clip = (torch.stack(clip) * 255).round().to(torch.uint8)
    return clip.flip(0) if reverse else clip


def write_dataset(root: Path, count: int, frames: int, size: int, seed: int) -> None:
    """``count`` clips as PNG frame folders in csst-zoo's folder layout, ``root/<class>/<id>``.
    Labels alternate, so the classes are balanced; motions and appearance come from the seed."""
    g = torch.Generator().manual_seed(seed)
    for i in range(count):
        label = i % 2
        motion = MOTIONS[int(torch.randint(len(MOTIONS), (), generator=g))]
        clip = make_clip(motion, bool(label), frames, size, g)
        folder = root / CLASSES[label] / f'{i:05d}'
        folder.mkdir(parents=True)
        for t, frame in enumerate(clip, 1):
            write_png(frame, str(folder / f'{t:05d}.png'))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--families', default=','.join(FAMILIES),
                   help=f'comma-separated, from {", ".join(ALL_FAMILIES)} (default: {", ".join(FAMILIES)}; '
                        'gst and tam train a ResNet50, the others a ResNet18)')
    p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--seeds', type=int, default=3, help='repeat with seeds seed..seed+N-1 (default 3); the table '
                   'shows every seed, their mean and spread')
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--size', type=int, default=16, help='frame height and width')
    p.add_argument('--train-clips', type=int, default=960)
    p.add_argument('--val-clips', type=int, default=400)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--workers', type=int, default=0)
    p.add_argument('--output', help='keep the data set and training logs here (default: a temporary folder)')
    p.add_argument('--format', choices=('markdown', 'json'), default='markdown')
    p.add_argument('--out', help='also write the table here (atomically)')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    args.families = [f.strip() for f in args.families.split(',') if f.strip()]
    if not args.families or set(args.families) - set(ALL_FAMILIES):
        p.error(f'--families takes names from {", ".join(ALL_FAMILIES)}, got {args.families}')
    for name in ('epochs', 'seeds', 'frames', 'size', 'train_clips', 'val_clips', 'batch_size'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.train_clips < args.batch_size:
        p.error('--train-clips must be at least --batch-size')
    return args


def run(args, work: Path):
    rows = {f: dict(family=f, top1=[], epoch_seconds=[]) for f in args.families}
    for seed in range(args.seed, args.seed + args.seeds):
        data = work / f'data-seed{seed}'
        if not data.exists():
            write_dataset(data / 'train', args.train_clips, args.frames, args.size, seed)
            write_dataset(data / 'validation', args.val_clips, args.frames, args.size, seed + 10_000)
        for family in args.families:
            out = work / f'{family}-seed{seed}'
            print(f'training {model_name(family)}, seed {seed}', file=sys.stderr, flush=True)
            cfg = TrainConfig(
                model=model_name(family), dataset='folder', data_root=str(data), output=str(out), pretrained=False,
                num_frames=args.frames, size=args.size, epochs=args.epochs, warmup_epochs=0, eval_every=args.epochs,
                batch_size=args.batch_size, lr=args.lr, drop_rate=0.0, flip=False, workers=args.workers, seed=seed,
                progress=not args.no_progress,
                # Residual branches start live: with timm's zero-init of the last BN the temporal
                # convs get no gradient at first, and from scratch the probe learns far slower.
                model_kwargs=dict(zero_init_last=False))
            last = fit(cfg)
            with (out / 'log.csv').open() as f:
                seconds = [float(r['epoch_seconds']) for r in csv.DictReader(f)]
            rows[family]['top1'].append(last['val_top1'])
            rows[family]['epoch_seconds'].append(statistics.mean(seconds))
    for family, row in rows.items():
        model = create_model(model_name(family), num_classes=len(CLASSES), num_frames=args.frames)
        row.update(params_m=count_params(model) / 1e6,
                   gflops=count_flops(model, frames=args.frames, size=args.size) / 1e9,
                   top1_mean=statistics.mean(row['top1']),
                   top1_std=statistics.stdev(row['top1']) if len(row['top1']) > 1 else 0.0,
                   epoch_seconds=statistics.mean(row['epoch_seconds']))
    for row in rows.values():
        row['above'] = ranked_below(row, rows.values())
    return list(rows.values())


def ranked_below(row: dict, rows) -> list:
    """The families that ``row``'s family ranks above: those whose best seed is below its worst
    seed. Where the seeds' ranges overlap, the probe does not order the two."""
    return [r['family'] for r in rows if max(r['top1']) < min(row['top1'])]


def main(argv=None):
    args = parse_args(argv)
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        rows = run(args, Path(args.output))
    else:
        with tempfile.TemporaryDirectory(prefix='csst-probe-') as tmp:
            rows = run(args, Path(tmp))
    meta = dict(classes=list(CLASSES), motions=list(MOTIONS), chance_top1=100.0 / len(CLASSES),
                frames=args.frames, size=args.size, train_clips=args.train_clips, val_clips=args.val_clips,
                epochs=args.epochs, seeds=list(range(args.seed, args.seed + args.seeds)), lr=args.lr,
                batch_size=args.batch_size, threads=torch.get_num_threads())
    if args.format == 'json':
        text = json.dumps(dict(meta=meta, rows=rows), indent=2) + '\n'
    else:
        text = render(args, meta, rows)
    emit(text, args.out)


def render(args, meta, rows) -> str:
    seeds = meta['seeds']
    lines = [f"{results_header(device_name('cpu'))}: {args.train_clips} training / {args.val_clips} held-out clips "
             f"of {args.frames}x{args.size}x{args.size}, {args.epochs} epochs, seeds {seeds}; chance = "
             f"{meta['chance_top1']:.0f}%; a model ranks above another only where its lowest seed beats the "
             "other's highest", '',
             f"| model | held-out top-1 (%), mean ± std | {' | '.join(f'seed {s}' for s in seeds)} | ranks above | "
             f"params (M) | GFLOPs ({args.frames}x{args.size}x{args.size}) | s / epoch |",
             '|---' * (6 + len(seeds)) + '|']
    for r in rows:
        above = ', '.join(model_name(f) for f in r['above']) or '-'
        lines.append(f"| {model_name(r['family'])} | {r['top1_mean']:.1f} ± {r['top1_std']:.1f} | "
                     f"{' | '.join(f'{v:.1f}' for v in r['top1'])} | {above} | {r['params_m']:.2f} | "
                     f"{r['gflops']:.3f} | {r['epoch_seconds']:.1f} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
