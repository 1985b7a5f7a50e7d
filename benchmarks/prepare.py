"""What `csst-zoo prepare` buys and costs: how fast clips load from a long video before and after it,
how fast it runs beside the ffmpeg command line doing the same work, and JPEG frames against
short-GOP video on disk and in a worker.

    python benchmarks/prepare.py                               # the table of results/prepare.md
    python benchmarks/prepare.py --workdir /tmp/prep -o results/prepare.md

Sources: the camera-like scene (_scenes.scene) as 720p H.264 at 30 frames/s with the encoder's
default key-frame interval (x264: 250 frames), 3 s and 60 s long, and --extra 10 s files for the
throughput run. Prepared: short side --short-side, a key frame every --keyframe-interval s (the
defaults of prepare), as H.264 and as JPEG frames (--frames).

Loading: one worker (torch on one thread, a fresh process per cell, as dataload.py), 8 frames
per clip, train sampling (random frame per segment, multi-scale crop, flip) and test sampling
(centre frames, resize, centre crop): clips/s, and the 60 s video's rate as a share of the 3 s
clip's, before and after prepare.

Throughput: prepare_collection with --workers processes over the sources, beside the same number
of ffmpeg processes at a time (one thread each: `-threads 1 -filter_threads 1`), each running
`ffmpeg -i SRC -vf scale=-2:SHORT:flags=bilinear -c:v libx264 -g KEY -pix_fmt yuv420p -an DST.mp4`:
the same scaler, encoder, encoder settings (x264's defaults, preset medium, crf 23) and key
frames; wall time over the whole set, and video seconds prepared per second.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
from csst_zoo.data.prepare import PrepareOptions, prepare_collection

from _loading import measure_loading
from _measure import device_name, emit, freed_memory_returned, in_fresh_process, results_header
from _scenes import key_frame_interval, write_scene

FPS, HEIGHT = 30, 720


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--short-side', type=int, default=PrepareOptions().short_side)
    p.add_argument('--keyframe-interval', type=float, default=PrepareOptions().keyframe_interval)
    p.add_argument('--workers', type=int, default=2, help='processes of prepare, and ffmpeg processes at a time')
    p.add_argument('--extra', type=int, default=2, help='10 s sources added for the throughput run')
    p.add_argument('--clips', type=int, default=5, help='clips timed per loading cell (the median is reported)')
    p.add_argument('--frames', type=int, default=8, help='frames per clip')
    p.add_argument('--workdir', help='keep the generated sources here (reused when present)')
    p.add_argument('-o', '--output', help='also write the markdown table here (atomically)')
    args = p.parse_args(argv)
    if shutil.which('ffmpeg') is None:
        p.error('the ffmpeg command is needed for the throughput comparison (apt install ffmpeg)')
    for name in ('workers', 'clips', 'frames', 'short_side'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def sources(root: Path, extra: int):
    """(the 3 s and 60 s sources, every source of the throughput run)."""
    long = write_scene(root / 'src' / 'a_60s.mp4', HEIGHT, 60 * FPS, FPS, seed=1)
    short = write_scene(root / 'src' / 'b_3s.mp4', HEIGHT, 3 * FPS, FPS, seed=0)
    more = [write_scene(root / 'src' / f'c{k}_10s.mp4', HEIGHT, 10 * FPS, FPS, seed=2 + k) for k in range(extra)]
    return (short, long), [long, short, *more]  # in prepare's (sorted) order: the longest first


def run_prepare(src: Path, dst: Path, args, frames: bool) -> float:
    shutil.rmtree(dst, ignore_errors=True)
    options = PrepareOptions(args.short_side, args.keyframe_interval, frames=frames)
    start = time.perf_counter()
    counts = prepare_collection(src, dst, options, workers=args.workers, progress=False)
    seconds = time.perf_counter() - start
    assert counts['failed'] == 0, counts
    return seconds


def run_ffmpeg(paths, dst: Path, args) -> float:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)

    def one(path: Path):
        subprocess.run(['ffmpeg', '-v', 'error', '-nostdin', '-threads', '1', '-i', str(path), '-filter_threads', '1',
                        '-vf', f'scale=-2:{args.short_side}:flags=bilinear', '-c:v', 'libx264', '-threads', '1',
                        '-g', str(round(FPS * args.keyframe_interval)), '-pix_fmt', 'yuv420p', '-an',
                        str(dst / path.name)], check=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(one, paths))  # in the order prepare takes them, as many at a time
    return time.perf_counter() - start


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir()) if path.is_dir() else path.stat().st_size


def loading_rows(kinds: dict, args):
    """A row per (kind of file, sampling): clips/s of the 3 s and the 60 s file, the share, MB on disk."""
    rows = []
    for kind, (short, long) in kinds.items():
        for train in (True, False):
            rate = {}
            for length, path in (('3 s', short), ('60 s', long)):
                print(f'loading {kind} {length} ({"train" if train else "test"}) ...', file=sys.stderr, flush=True)
                seconds, _ = in_fresh_process(measure_loading, str(path), args.frames, train, args.clips, True)
                rate[length] = 1 / seconds
            keys = key_frame_interval(long, FPS)
            rows.append(f"| {kind} | {'frame' if keys is None else f'{keys:.1f} s'} | "
                        f"{size_of(long) / 1e6:.1f} | {'train' if train else 'test'} | {rate['3 s']:.2f} | "
                        f"{rate['60 s']:.2f} | {100 * rate['60 s'] / rate['3 s']:.0f}% |")
    return rows


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='csst-prepare-') as tmp, freed_memory_returned():
        root = Path(args.workdir or tmp)
        print('writing the sources ...', file=sys.stderr, flush=True)
        (short, long), everything = sources(root, args.extra)
        print('prepare and ffmpeg over the sources ...', file=sys.stderr, flush=True)
        ours = run_prepare(root / 'src', root / 'prepared', args, frames=False)
        theirs = run_ffmpeg(everything, root / 'ffmpeg', args)
        as_frames = run_prepare(root / 'src', root / 'frames', args, frames=True)
        video_seconds = sum(60 if p == long else 3 if p == short else 10 for p in everything)
        kinds = {f'{HEIGHT}p source': (short, long),
                 f'prepared, {args.short_side}p H.264': tuple(root / 'prepared' / p.name for p in (short, long)),
                 f'prepared, {args.short_side}p JPEG frames': tuple(root / 'frames' / p.stem for p in (short, long))}
        rows = loading_rows(kinds, args)
    text = (f"{results_header(device_name('cpu'))}. Sources: {HEIGHT}p H.264 at {FPS} frames/s with x264's default "
            f'key-frame interval. prepare: short side {args.short_side}, a key frame every {args.keyframe_interval:g} '
            f's, JPEG quality {PrepareOptions().jpeg_quality} for frames; PyAV {av.__version__} (FFmpeg '
            f"{'.'.join(map(str, av.library_versions['libavcodec']))} libavcodec) beside the ffmpeg command "
            f"{subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split()[2]}.\n\n"
            f'Loading one clip of {args.frames} frames in one worker (median of {args.clips}), the 60 s file '
            'against the 3 s one:\n\n'
            '| file | key frames every | MB per minute | sampling | 3 s clips/s | 60 s clips/s | 60 s / 3 s |\n'
            '|---|---:|---:|---|---:|---:|---:|\n' + '\n'.join(rows) + '\n\n'
            f'Preparing {len(everything)} sources ({video_seconds} s of video), {args.workers} at a time, one '
            'thread each:\n\n'
            '| tool | output | wall s | video s per s | time / ffmpeg |\n|---|---|---:|---:|---:|\n'
            f'| ffmpeg command line | H.264 | {theirs:.1f} | {video_seconds / theirs:.1f} | 1.00 |\n'
            f'| csst-zoo prepare | H.264 | {ours:.1f} | {video_seconds / ours:.1f} | {ours / theirs:.2f} |\n'
            f'| csst-zoo prepare --frames | JPEG | {as_frames:.1f} | {video_seconds / as_frames:.1f} | '
            f'{as_frames / theirs:.2f} |\n')
    emit(text, args.output)


if __name__ == '__main__':
    main()
