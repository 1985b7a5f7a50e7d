"""How fast the data path is: clips per second and peak memory of one loader worker, beside the
model's own training step, so the table says how many workers keep one training process fed.

    python benchmarks/dataload.py                              # the docs' table (a few minutes)
    python benchmarks/dataload.py --heights 240 --lengths 3    # a quick look
    python benchmarks/dataload.py --output results/dataload.md

For every format (JPEG frame folders as Something-Something V1 / Jester store them, WebM/VP8 as
V2 does, MP4/H.264 as cameras and phones do), height (240p, 480p, 720p, 16:9), length (3 s
and 60 s at --fps) and key-frame interval of the video files (--key-intervals: the encoders'
defaults, and one a second as cameras and streaming encoders write) a video is written (a
scene as hard to compress as camera footage: see _scenes.scene()) and loaded through
csst_zoo.data.VideoDataset with train sampling (random frame per segment, multi-scale crop,
flip) and test sampling (centre frames, resize + centre crop), each in a fresh process that
works like a DataLoader worker: torch (and so the decoder) on one thread. Peak memory is the
worker's resident set above what it held before loading (glibc returns freed blocks, so the
peak is what loading held at once). "workers" = time to load one clip / training time per clip
of --model (forward + backward + SGD step at --batch, all threads), rounded up.

A second table measures a real DataLoader with N workers (--loader-workers) on collections shaped
like the data sets people train on (Something-Something V1 JPEG folders at 100p, V2 WebM at
240p and 2-6 s, Kinetics-like 10 s H.264 MP4 with B-frames at 340p and 720p, and 60 s 720p MP4):
aggregate clips/s with train sampling and with test sampling (and for JPEG folders, decoded on
the GPU as `csst-zoo train --decode-on-device` does, on the CPU without one), the peak memory of
a worker, the workers needed to keep up with the training step (--step-rate, e.g. from
benchmarks/speed.py on a GPU, or the CPU step measured here), and `csst-zoo predict`'s own rate
on the same collection with the same workers (engine.predict_videos with --predict-model, and
--predict-amp / --predict-channels-last as predict's --amp / --channels-last), beside the model's
alone, and predict over the rate those two lead one to expect (expected_predict_rate).
"""
import argparse
import itertools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from _loading import PROFILES, expected_predict_rate, measure_loader, measure_loading
from _measure import device_name, emit, freed_memory_returned, in_fresh_process, results_header
from _scenes import key_frame_interval, write_scene

FORMATS = ('frames', 'webm', 'mp4')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--formats', default=','.join(FORMATS), help=f'comma-separated from {", ".join(FORMATS)}')
    p.add_argument('--heights', default='240,480,720', help='frame heights (16:9 frames)')
    p.add_argument('--lengths', default='3,60', help='video lengths in seconds')
    p.add_argument('--fps', type=int, default=30)
    p.add_argument('--key-intervals', default='encoder,1',
                   help="seconds between key frames of the video files, comma-separated; 'encoder' for the "
                        "encoder's default (x264: 250 frames, libvpx: 128)")
    p.add_argument('--clips', type=int, default=3, help='clips timed per cell (long videos: at least 1, at most 2)')
    p.add_argument('--frames', type=int, default=8, help='segments sampled per clip (the model input T)')
    p.add_argument('--model', default='csst_resnet50', help='the model whose training step sets the pace')
    p.add_argument('--batch', type=int, default=4, help='training batch for the step time')
    p.add_argument('--threads', type=int, default=torch.get_num_threads(), help='threads of the training step')
    p.add_argument('--profiles', default=','.join(PROFILES),
                   help=f"loader table: comma-separated collections from {', '.join(PROFILES)}; '' for none")
    p.add_argument('--loader-workers', default='1,2', help='loader table: comma-separated DataLoader worker counts')
    p.add_argument('--loader-clips', type=int, default=48, help='loader table: clips loaded per measurement')
    p.add_argument('--step-rate', type=float,
                   help='training clips/s the loader must feed (e.g. from benchmarks/speed.py --device cuda); '
                        "default: --model's CPU step measured here")
    p.add_argument('--predict-model', default='c2d_resnet18',
                   help="loader table: the model of the predict columns ('' for none), batch --batch")
    p.add_argument('--predict-amp', action='store_true', help='predict columns: as `csst-zoo predict --amp`')
    p.add_argument('--predict-channels-last', action='store_true',
                   help='predict columns: as `csst-zoo predict --channels-last`')
    p.add_argument('--workdir', help='keep the generated videos here (reused when present)')
    p.add_argument('-o', '--output', help='also write the markdown table here (atomically)')
    args = p.parse_args(argv)
    args.formats = [f.strip() for f in args.formats.split(',') if f.strip()]
    args.profiles = [f.strip() for f in args.profiles.split(',') if f.strip()]
    unknown = [f for f in args.profiles if f not in PROFILES]
    if unknown:
        p.error(f'--profiles takes names from {", ".join(PROFILES)}, got {unknown}')
    try:
        args.loader_workers = [int(w) for w in args.loader_workers.split(',')]
    except ValueError:
        p.error(f'--loader-workers is comma-separated worker counts, e.g. 1,2,8, got {args.loader_workers!r}')
    if any(w < 1 for w in args.loader_workers) or args.loader_clips < 1:
        p.error('--loader-workers counts and --loader-clips must be >= 1')
    if args.step_rate is not None and args.step_rate <= 0:
        p.error(f'--step-rate must be a positive clips/s, got {args.step_rate}')
    if not args.predict_model and (args.predict_amp or args.predict_channels_last):
        p.error("--predict-amp and --predict-channels-last set how the predict columns run; with --predict-model '' "
                'there are none (name a model, e.g. --predict-model c2d_resnet18)')
    bad = [f for f in args.formats if f not in FORMATS]
    if bad:
        p.error(f'--formats takes names from {", ".join(FORMATS)}, got {bad}')
    try:
        args.heights = [int(h) for h in args.heights.split(',')]
        args.lengths = [float(v) for v in args.lengths.split(',')]
    except ValueError:
        p.error('--heights and --lengths are comma-separated numbers, e.g. --heights 240,480 --lengths 3,60')
    try:
        keys = [None if v.strip() == 'encoder' else float(v) for v in args.key_intervals.split(',')]
    except ValueError:
        keys = [0.0]
    if any(v is not None and not 0 < v < math.inf for v in keys):
        p.error("--key-intervals takes 'encoder' or positive seconds, comma-separated (e.g. encoder,1), got "
                f'{args.key_intervals!r}')
    args.key_intervals = keys
    for name in ('fps', 'clips', 'frames', 'batch', 'threads'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if any(h < 32 or h % 2 for h in args.heights) or any(v * args.fps < args.frames for v in args.lengths):
        p.error(f'--heights must be even and >= 32, and every --lengths x --fps at least --frames ({args.frames})')
    return args


_worker_rest = 0  # a loader worker's resident set when it started, for the peak above it


def loader_rows(args, root: Path, step_rate: float):
    rows = []
    for name in args.profiles:
        profile = PROFILES[name]
        paths = []
        for seed, length in enumerate(profile.lengths):
            suffix = '' if profile.format == 'frames' else f'.{profile.format}'
            print(f'writing {name} ({length:g} s) ...', file=sys.stderr, flush=True)
            copy = f'_{seed}' if seed else ''  # seed 0 shares the one-worker table's file of that kind
            path = root / f'{profile.format}_{profile.height}p_{length:g}s_{profile.fps}fps{copy}{suffix}'
            paths.append(str(write_scene(path, profile.height, round(length * profile.fps), profile.fps, seed)))
        for workers in args.loader_workers:
            print(f'loading {name} with {workers} workers ...', file=sys.stderr, flush=True)
            r = in_fresh_process(measure_loader, paths, args.frames, args.loader_clips, workers, args.batch,
                                 args.predict_model, args.predict_amp, args.predict_channels_last)
            rows.append(dict(profile=profile, workers=workers, **r,
                             needed=math.ceil(step_rate / (r['train'] / workers))))
    return rows


def training_seconds_per_clip(model_name: str, frames: int, batch: int, threads: int) -> float:
    """Median time of a training step (forward, backward, SGD) per clip of the batch."""
    import csst_zoo
    torch.set_num_threads(threads)
    model = csst_zoo.create_model(model_name, num_classes=174, num_frames=frames).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, frames, 224, 224), torch.randint(174, (batch,))
    times = []
    for step in range(3):
        start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if step:  # the first step allocates and picks kernels
            times.append(time.perf_counter() - start)
    return statistics.median(times) / batch


def main(argv=None):
    args = parse_args(argv)
    step_rate = args.step_rate or 1 / training_seconds_per_clip(args.model, args.frames, args.batch, args.threads)
    device = device_name('cpu')
    rows = []
    with tempfile.TemporaryDirectory(prefix='csst-dataload-') as tmp, freed_memory_returned():
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for fmt, key, height, length in itertools.product(args.formats, args.key_intervals, args.heights,
                                                          args.lengths):
            if fmt == 'frames' and key is not None:
                continue  # every JPEG frame stands alone
            n = round(length * args.fps)
            suffix = '' if fmt == 'frames' else f'.{fmt}'
            keyed = f'_key{key:g}s' if key else ''
            print(f'writing {fmt} {height}p {length:g} s{keyed.replace("_", " ")} ...', file=sys.stderr, flush=True)
            path = write_scene(root / f'{fmt}_{height}p_{length:g}s_{args.fps}fps{keyed}{suffix}', height, n,
                               args.fps, key_interval=key)
            long, keys = n > 10 * args.fps, key_frame_interval(path, args.fps)
            size = sum(f.stat().st_size for f in path.iterdir()) if path.is_dir() else path.stat().st_size
            for train in (True, False):
                seconds, peak = in_fresh_process(measure_loading, str(path), args.frames, train,
                                                 min(args.clips, 2) if long else args.clips, not long)
                rows.append(dict(format=fmt, height=height, length=length, keys=keys, mbit_per_s=8e-6 * size / length,
                                 sampling='train' if train else 'test',
                                 clips_per_s=1 / seconds, ms_per_clip=1000 * seconds,
                                 peak_mb=None if peak is None else peak / 2 ** 20,
                                 workers=math.ceil(seconds * step_rate)))
        loaders = loader_rows(args, root, step_rate)
    emit(render(rows, loaders, args, step_rate, device), args.output)


def render(rows, loaders, args, step_rate, device) -> str:
    pace = (f'The training step to feed: {step_rate:.2f} clips/s (--step-rate).' if args.step_rate else
            f'One training step of {args.model} ({args.frames}x224x224, batch {args.batch}, {args.threads} threads) '
            f'takes {1000 / step_rate:.0f} ms per clip.')
    lines = [f'{results_header(device)}. {args.frames} frames per clip. {pace}']
    if rows:
        lines += ['', f'One worker, one video per row, 16:9 at {args.fps} frames/s:', '',
                  '| format | height | length | key frames every | Mbit/s | sampling | clips/s per worker | '
                  'ms per clip | peak MB per worker | workers to feed one training process |',
                  '|---|---:|---:|---:|---:|---|---:|---:|---:|---:|']
        for r in rows:
            peak = 'n/a' if r['peak_mb'] is None else f"{r['peak_mb']:.0f}"
            keys = 'frame' if r['keys'] is None else f"{r['keys']:.1f} s"
            lines.append(f"| {r['format']} | {r['height']}p | {r['length']:g} s | {keys} | {r['mbit_per_s']:.2f} | "
                         f"{r['sampling']} | {r['clips_per_s']:.2f} | {r['ms_per_clip']:.0f} | {peak} | "
                         f"{r['workers']} |")
    if loaders:
        runtime = (', --amp' if args.predict_amp else '') + (', --channels-last' if args.predict_channels_last else '')
        predict = f'({args.predict_model}, batch {args.batch}{runtime})' if args.predict_model else None
        on_device = any('on_device' in r for r in loaders)
        notes = ['workers to feed = the step rate / (train clips/s per worker), rounded up']
        if on_device:
            notes.append("decoded on the device: `--decode-on-device`, the workers read the JPEG files and the main "
                         "process decodes each batch's frames in one call")
        if predict:
            notes.append("predict's expected rate: the slower of the test loader and the model alone when the model "
                         'runs on a GPU; on the CPU, where the workers and the model share the cores, 1 / (1 / test '
                         'clips/s + 1 / model clips/s)')
        lines += ['', f'A DataLoader with N workers over {args.loader_clips} clips of each collection (batch '
                      f'{args.batch}, worker start-up included); ' + '; '.join(notes) + ':', '',
                  '| collection | videos | workers | train clips/s | test clips/s | peak MB per worker | '
                  + ('train clips/s, decoded on the device | ' if on_device else '')
                  + (f'predict clips/s {predict} | the model alone, clips/s | predict / expected | '
                     if predict else '') + 'workers to feed |',
                  '|---|---|---:|---:|---:|---:|' + ('---:|' if on_device else '') + ('---:|' * 3 if predict else '')
                  + '---:|']
        for r in loaders:
            p = r['profile']
            videos = (f"{p.format} {p.height}p, {'-'.join(f'{v:g}' for v in sorted(set(p.lengths)))} s at {p.fps} "
                      'frames/s')
            cells = [p.name, videos, r['workers'], f"{r['train']:.2f}", f"{r['test']:.2f}",
                     f"{r['peak'] / 2 ** 20:.0f}"]
            if on_device:
                cells += [f"{r['on_device']:.2f} ({r['device']})" if 'on_device' in r else 'n/a']
            if predict:
                cells += [f"{r['predict']:.2f}", f"{r['model']:.2f}", f"{r['predict'] / expected_predict_rate(r):.2f}"]
            lines.append('| ' + ' | '.join(str(c) for c in cells + [r['needed']]) + ' |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
