"""How fast the data path is: clips per second and peak memory of one loader worker, beside the
model's own training step, so the table says how many workers keep one training process fed.

    python benchmarks/dataload.py                              # the docs' table (a few minutes)
    python benchmarks/dataload.py --heights 240 --lengths 3    # a quick look
    python benchmarks/dataload.py --output results/dataload.md

For every format (JPEG frame folders as Something-Something V1 / Jester store them, WebM/VP8 as
V2 does, MP4/H.264 as cameras and phones do), height (240p, 480p, 720p, 16:9) and length (3 s
and 60 s at --fps) a video is written (a panning, textured scene) and loaded through
csst_zoo.data.VideoDataset with train sampling (random frame per segment, multi-scale crop,
flip) and test sampling (centre frames, resize + centre crop), each in a fresh process that
works like a DataLoader worker: torch (and so the decoder) on one thread. Peak memory is the
worker's resident set above what it held before loading (glibc returns freed blocks, so the
peak is what loading held at once). "workers" = time to load one clip / training time per clip
of --model (forward + backward + SGD step at --batch, all threads), rounded up.
"""
import argparse
import math
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from _measure import (
    command_line, device_name, emit, freed_memory_returned, in_fresh_process, proc_status, reset_peak_rss)

FORMATS = ('frames', 'webm', 'mp4')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--formats', default=','.join(FORMATS), help=f'comma-separated from {", ".join(FORMATS)}')
    p.add_argument('--heights', default='240,480,720', help='frame heights (16:9 frames)')
    p.add_argument('--lengths', default='3,60', help='video lengths in seconds')
    p.add_argument('--fps', type=int, default=30)
    p.add_argument('--clips', type=int, default=3, help='clips timed per cell (long videos: at least 1, at most 2)')
    p.add_argument('--frames', type=int, default=8, help='segments sampled per clip (the model input T)')
    p.add_argument('--model', default='csst_resnet50', help='the model whose training step sets the pace')
    p.add_argument('--batch', type=int, default=4, help='training batch for the step time')
    p.add_argument('--threads', type=int, default=torch.get_num_threads(), help='threads of the training step')
    p.add_argument('--workdir', help='keep the generated videos here (reused when present)')
    p.add_argument('-o', '--output', help='also write the markdown table here (atomically)')
    args = p.parse_args(argv)
    args.formats = [f.strip() for f in args.formats.split(',') if f.strip()]
    bad = [f for f in args.formats if f not in FORMATS]
    if bad:
        p.error(f'--formats takes names from {", ".join(FORMATS)}, got {bad}')
    try:
        args.heights = [int(h) for h in args.heights.split(',')]
        args.lengths = [float(v) for v in args.lengths.split(',')]
    except ValueError:
        p.error('--heights and --lengths are comma-separated numbers, e.g. --heights 240,480 --lengths 3,60')
    for name in ('fps', 'clips', 'frames', 'batch', 'threads'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if any(h < 32 or h % 2 for h in args.heights) or any(v * args.fps < args.frames for v in args.lengths):
        p.error(f'--heights must be even and >= 32, and every --lengths x --fps at least --frames ({args.frames})')
    return args


def scene(height: int, num_frames: int, seed: int = 0):
    """Frames (n, H, W, 3) uint8 of a camera panning 2 px per frame over a smooth, textured scene."""
    width = height * 16 // 9 // 2 * 2
    g = torch.Generator().manual_seed(seed)
    canvas_width = width + 2 * num_frames
    coarse = torch.rand(1, 3, height // 16 + 1, canvas_width // 16 + 1, generator=g) * 255
    canvas = torch.nn.functional.interpolate(coarse, size=(height, canvas_width), mode='bicubic')[0]
    canvas = canvas + torch.randn(3, height, canvas_width, generator=g) * 12  # fine detail, as a camera sees
    canvas = canvas.clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    for i in range(num_frames):
        yield np.ascontiguousarray(canvas[:, 2 * i:2 * i + width])


def write_video(path: Path, height: int, num_frames: int, fps: int) -> Path:
    """The scene as a frame folder (``00001.jpg``, quality 90), WebM (VP8) or MP4 (H.264)."""
    if path.exists():
        return path
    stage = path.with_name('.tmp-' + path.name)
    if path.suffix == '':
        from torchvision.io import encode_jpeg
        stage.mkdir(parents=True)
        for i, frame in enumerate(scene(height, num_frames), 1):
            (stage / f'{i:05d}.jpg').write_bytes(encode_jpeg(torch.from_numpy(frame).permute(2, 0, 1),
                                                             quality=90).numpy().tobytes())
    else:
        import av
        width = height * 16 // 9 // 2 * 2
        codec, options = (('libvpx', {'deadline': 'realtime', 'cpu-used': '8'}) if path.suffix == '.webm'
                          else ('libx264', {'preset': 'veryfast'}))
        with av.open(str(stage), 'w', format=path.suffix[1:]) as container:
            stream = container.add_stream(codec, rate=fps, options=options)
            stream.height, stream.width, stream.pix_fmt = height, width, 'yuv420p'
            if codec == 'libvpx':  # its default, 256 kbit/s, is far below what real WebM files use
                stream.bit_rate = int(0.1 * width * height * fps)
            for frame in scene(height, num_frames):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
            container.mux(stream.encode())
    stage.rename(path)
    return path


def measure_loading(path: str, frames: int, train: bool, clips: int, warmup: bool):
    """(seconds per clip, peak bytes above the resting set) of loading ``clips`` clips, as a worker."""
    torch.set_num_threads(1)
    import csst_zoo
    from csst_zoo.data import VideoDataset, eval_transform, train_transform
    cfg = csst_zoo.create_model('c2d_resnet18', num_frames=frames).pretrained_cfg
    transform = train_transform(cfg) if train else eval_transform(cfg)
    dataset = VideoDataset([(path, 0)], frames, transform, train=train)
    if warmup:
        dataset[0]
    can_peak = reset_peak_rss()
    rest = proc_status('VmRSS')
    times = []
    for _ in range(clips):
        start = time.perf_counter()
        dataset[0]
        times.append(time.perf_counter() - start)
    return statistics.median(times), (proc_status('VmHWM') - rest) if can_peak else None


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
    train_per_clip = training_seconds_per_clip(args.model, args.frames, args.batch, args.threads)
    device = device_name('cpu')
    rows = []
    with tempfile.TemporaryDirectory(prefix='csst-dataload-') as tmp, freed_memory_returned():
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for fmt in args.formats:
            for height in args.heights:
                for length in args.lengths:
                    n = round(length * args.fps)
                    suffix = '' if fmt == 'frames' else f'.{fmt}'
                    print(f'writing {fmt} {height}p {length:g} s ...', file=sys.stderr, flush=True)
                    path = write_video(root / f'{fmt}_{height}p_{length:g}s_{args.fps}fps{suffix}', height, n, args.fps)
                    long = n > 10 * args.fps
                    for train in (True, False):
                        seconds, peak = in_fresh_process(measure_loading, str(path), args.frames, train,
                                                         min(args.clips, 2) if long else args.clips, not long)
                        rows.append(dict(format=fmt, height=height, length=length,
                                         sampling='train' if train else 'test',
                                         clips_per_s=1 / seconds, ms_per_clip=1000 * seconds,
                                         peak_mb=None if peak is None else peak / 2 ** 20,
                                         workers=math.ceil(seconds / train_per_clip)))
    text = render(rows, args, train_per_clip, device)
    emit(text, args.output)


def render(rows, args, train_per_clip, device) -> str:
    command = command_line()
    lines = [f'`{command}` on {device}, torch {torch.__version__}, '
             f'{datetime.now(timezone.utc):%Y-%m-%d}. Videos at {args.fps} frames/s, 16:9, '
             f'{args.frames} frames per clip. One training step of {args.model} '
             f'({args.frames}x224x224, batch {args.batch}, {args.threads} threads) takes '
             f'{1000 * train_per_clip:.0f} ms per clip.', '',
             '| format | height | length | sampling | clips/s per worker | ms per clip | peak MB per worker | '
             'workers to feed one training process |',
             '|---|---:|---:|---|---:|---:|---:|---:|']
    for r in rows:
        peak = 'n/a' if r['peak_mb'] is None else f"{r['peak_mb']:.0f}"
        lines.append(f"| {r['format']} | {r['height']}p | {r['length']:g} s | {r['sampling']} | "
                     f"{r['clips_per_s']:.2f} | {r['ms_per_clip']:.0f} | {peak} | {r['workers']} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
