"""`csst-zoo predict` over a folder of generated videos, as a user with a collection runs it: its
clips/s beside the loader's own (benchmarks/dataload.py's measurement at the same workers and
batch), and whether every video lands in the output exactly once when files are corrupt, one
vanishes during the run, and a run stopped by SIGINT is finished with --resume.

    python benchmarks/predict_collection.py                              # 500 videos (about 10 minutes on 2 cores)
    python benchmarks/predict_collection.py --videos 60 --workers 1      # a quick look
    python benchmarks/predict_collection.py -o results/predict_collection.md

The videos are written once (--workdir keeps them), each with its own scene, cycling through the
lengths of a dataload.py collection (--profile). Each run gets a fresh folder of links to them in
which --corrupt of the videos are 4 KiB of zeros (a frame folder: each of its frames). Then, in
this order:

1. the reference: _loading.measure_loader (dataload.py's) in a fresh process over the first --reference-clips
   readable videos (the test loader's clips/s, the model alone on clips already in memory, and
   engine.predict_videos), with the same --workers and --batch;
2. `csst-zoo predict MODEL FOLDER -o predictions.csv` (the model saved with random weights),
   the last video deleted once the first row is written; its clips/s is the videos it answered
   over the time the command itself reports;
3. the same command to a new output, stopped with SIGINT once half the videos are written,
   then run again with --resume.

Every check is asserted: a run whose output lacks a video, holds one twice, answers a corrupt or
deleted one, or fails a readable one stops the benchmark with the reason. predict / expected
uses dataload.expected_predict_rate (on the CPU the workers and the model share the cores).
"""
import argparse
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path

import torch

from _loading import PROFILES, expected_predict_rate, measure_loader
from _measure import device_name, emit, in_fresh_process, results_header
from _scenes import write_scene

SUMMARY = re.compile(r'(\d+) predicted, \d+ failed.*?; [\d.]+ videos/s over ([\d.]+) s')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--videos', type=int, default=500, help='videos in the folder')
    p.add_argument('--profile', default='sthv2-webm-240p', help=f'the videos\' shape: one of {", ".join(PROFILES)}')
    p.add_argument('--corrupt', type=float, default=0.01, help='share of the videos replaced by 4 KiB of zeros')
    p.add_argument('--workers', type=int, default=2, help="predict's --workers, and the loader's")
    p.add_argument('--batch', type=int, default=8, help="predict's --batch-size, and the loader's")
    p.add_argument('--model', default='c2d_resnet18', help='the model predict runs (random weights)')
    p.add_argument('--frames', type=int, default=8, help="the model's frames per clip")
    p.add_argument('--amp', action='store_true', help='predict with --amp')
    p.add_argument('--channels-last', action='store_true', help='predict with --channels-last')
    p.add_argument('--reference-clips', type=int, default=96,
                   help="videos the loader's and the model's own clips/s are measured on")
    p.add_argument('--workdir', help='keep the generated videos here (reused when present)')
    p.add_argument('-o', '--output', help='also write the markdown table here (atomically)')
    args = p.parse_args(argv)
    if args.profile not in PROFILES:
        p.error(f'--profile takes one of {", ".join(PROFILES)}, got {args.profile!r}')
    for name in ('workers', 'batch', 'frames', 'reference_clips'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if not 0 <= args.corrupt < 1:
        p.error(f'--corrupt is a share of the videos in [0, 1), got {args.corrupt}')
    args.num_corrupt = round(args.corrupt * args.videos)
    if args.videos - args.num_corrupt < 4:
        p.error(f'--videos {args.videos} with --corrupt {args.corrupt} leaves {args.videos - args.num_corrupt} '
                'readable videos; at least 4 are needed (one to delete, and a run to stop halfway)')
    return args


def write_videos(cache: Path, profile, count: int):
    """``count`` videos of ``profile`` in ``cache``, each its own scene, lengths cycling."""
    cache.mkdir(parents=True, exist_ok=True)
    suffix = '' if profile.format == 'frames' else f'.{profile.format}'
    paths = [cache / f'{k:04d}{suffix}' for k in range(count)]
    lengths = [round(profile.lengths[k % len(profile.lengths)] * profile.fps) for k in range(count)]
    print(f'writing {count} videos like {profile.name} ...', file=sys.stderr, flush=True)
    # a process per core, each on one thread (torch's and the encoder's)
    with ProcessPoolExecutor(os.cpu_count(), mp_context=get_context('spawn'), initializer=torch.set_num_threads,
                             initargs=(1,)) as pool:
        return list(pool.map(partial(write_scene, encoder_threads=1), paths, repeat(profile.height), lengths,
                             repeat(profile.fps), range(count), chunksize=8))


def _link(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, copy_function=os.link)
    else:
        os.link(source, target)


def corrupt_indices(count: int, corrupt: int):
    """Which of ``count`` videos are corrupt: ``corrupt`` of them, spread evenly, never the last
    (that one is deleted during the run)."""
    return {int((i + 0.5) * (count - 1) / corrupt) for i in range(corrupt)}


def make_folder(folder: Path, videos, corrupt) -> None:
    """``folder`` afresh: links to ``videos``, those at ``corrupt`` replaced by 4 KiB of zeros (for a
    frame folder, each of its frames)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k, video in enumerate(videos):
        target = folder / video.name
        _link(video, target)
        if k in corrupt:
            for bad in sorted(target.iterdir()) if target.is_dir() else [target]:
                bad.unlink()  # a link: the generated video stays whole
                bad.write_bytes(b'\0' * 4096)


def read_rows(path: Path):
    with path.open(newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def _rows_written(path: Path) -> int:
    try:
        return max(path.read_text(encoding='utf-8').count('\n') - 1, 0)  # less the header
    except FileNotFoundError:
        return 0


def run_predict(argv, output: Path, log: Path, when=None):
    """Run ``argv`` (a `csst-zoo predict` to ``output``); ``when = (rows, action)`` calls ``action(proc)``
    once ``output`` holds that many rows. (exit code, its stderr)."""
    with log.open('w') as err:
        # as a user's Ctrl-C finds it: a shell starts a background job (this benchmark under nohup
        # or `&`) with SIGINT ignored, and its children would inherit that
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        while when and proc.poll() is None:
            if _rows_written(output) >= when[0]:
                when[1](proc)
                when = None
            time.sleep(0.005)
        code = proc.wait()
    return code, log.read_text()


def check_once(rows, videos, failing, what: str):
    """Every video of ``videos`` in ``rows`` exactly once, those of ``failing`` (and only they) as errors."""
    paths = Counter(r['path'] for r in rows)
    missing, twice = set(map(str, videos)) - set(paths), {p for p, n in paths.items() if n > 1}
    failed = {r['path'] for r in rows if r['error']}
    if missing or twice or len(rows) != len(videos) or failed != set(map(str, failing)):
        raise RuntimeError(f'{what}: {len(missing)} videos missing, {len(twice)} written twice, errors '
                           f'{sorted(failed)} where {sorted(map(str, failing))} were expected')


def main(argv=None):
    args = parse_args(argv)
    profile = PROFILES[args.profile]
    with tempfile.TemporaryDirectory(prefix='csst-predict-collection-') as tmp:
        root = Path(args.workdir or tmp)
        videos = write_videos(root / f'{profile.name}-videos', profile, args.videos)
        corrupt = corrupt_indices(len(videos), args.num_corrupt)
        sample = [str(v) for k, v in enumerate(videos) if k not in corrupt][:args.reference_clips]

        print('measuring the loader and the model alone ...', file=sys.stderr, flush=True)
        reference = in_fresh_process(measure_loader, sample, args.frames, len(sample), args.workers, args.batch,
                                     args.model, args.amp, args.channels_last)

        import csst_zoo
        model_dir = root / 'model'
        shutil.rmtree(model_dir, ignore_errors=True)
        csst_zoo.save_pretrained(csst_zoo.create_model(args.model, num_frames=args.frames), model_dir)
        folder, out = root / 'collection', root / 'out'
        out.mkdir(exist_ok=True)
        listed = [folder / v.name for v in videos]
        bad = [listed[k] for k in sorted(corrupt)]
        command = [sys.executable, '-m', 'csst_zoo', 'predict', f'local-dir:{model_dir}', str(folder), '--workers',
                   str(args.workers), '--batch-size', str(args.batch), '--no-progress'] + (
            ['--amp'] if args.amp else []) + (['--channels-last'] if args.channels_last else [])

        print(f'csst-zoo predict over {len(listed)} videos, deleting the last during the run ...', file=sys.stderr,
              flush=True)
        make_folder(folder, videos, corrupt)
        first = out / 'predictions.csv'
        first.unlink(missing_ok=True)
        deleted = listed[-1]
        code, log = run_predict(command + ['-o', str(first)], first, out / 'first.log',
                                (1, lambda _: shutil.rmtree(deleted) if deleted.is_dir() else deleted.unlink()))
        summary = SUMMARY.search(log)
        if code or not summary:
            raise RuntimeError(f'csst-zoo predict exited with {code}:\n{log}')
        rows = read_rows(first)
        if any(r['path'] == str(deleted) and not r['error'] for r in rows):
            raise RuntimeError(f'{deleted} was answered: the loader had read it before it was deleted (give more '
                               '--videos than 4 x --workers x --batch, the batches it reads ahead)')
        check_once(rows, listed, bad + [deleted], 'the run with a video deleted')
        answered, seconds = int(summary[1]), float(summary[2])

        print('csst-zoo predict stopped halfway with SIGINT, then --resume ...', file=sys.stderr, flush=True)
        make_folder(folder, videos, corrupt)
        second = out / 'resumed.csv'
        second.unlink(missing_ok=True)
        code, log = run_predict(command + ['-o', str(second)], second, out / 'stopped.log',
                                (len(listed) // 2, lambda proc: proc.send_signal(signal.SIGINT)))
        stopped_at = len(read_rows(second))
        if code != 130 or not 0 < stopped_at < len(listed):
            raise RuntimeError(f'the run to stop halfway exited with {code} after {stopped_at} of {len(listed)} '
                               f'videos (give more --videos to stop it before its end):\n{log}')
        code, log = run_predict(command + ['-o', str(second), '--resume'], second, out / 'resumed.log')
        if code:
            raise RuntimeError(f'csst-zoo predict --resume exited with {code}:\n{log}')
        check_once(read_rows(second), listed, bad, 'the run stopped by SIGINT and resumed')

    result = dict(reference, sample=len(sample), command=answered / seconds, answered=answered, stopped_at=stopped_at)
    emit(render(result, args, device_name(reference['device'])), args.output)


def render(r, args, device) -> str:
    p = PROFILES[args.profile]
    flags = ''.join(f' --{f}' for f in ('amp', 'channels-last') if getattr(args, f.replace('-', '_')))
    predict = f'`csst-zoo predict {args.model} FOLDER -o predictions.csv --workers {args.workers} ' \
              f'--batch-size {args.batch}{flags}`'
    expected = expected_predict_rate(r)
    lengths = '-'.join(f'{v:g}' for v in sorted(set(p.lengths)))
    return '\n'.join([
        f'{results_header(device)}. {args.videos} videos like {p.name} ({p.format} {p.height}p, {lengths} s at '
        f'{p.fps} frames/s), '
        f'{args.num_corrupt} of them 4 KiB of zeros; {args.model} with {args.frames} frames, random weights.', '',
        f'| {args.workers} worker{"s" * (args.workers != 1)}, batch {args.batch} | videos | clips/s | / expected |',
        '|---|---:|---:|---:|',
        f"| the test loader (dataload.py's measurement) | {r['sample']} | {r['test']:.2f} | |",
        f"| the model alone, on clips in memory | {r['sample']} | {r['model']:.2f} | |",
        f'| expected of predict (dataload.expected_predict_rate) | | {expected:.2f} | 1.00 |',
        f"| engine.predict_videos | {r['sample']} | {r['predict']:.2f} | {r['predict'] / expected:.2f} |",
        f"| {predict}, the last video deleted during the run | {args.videos} | {r['command']:.2f} | "
        f"{r['command'] / expected:.2f} |", '',
        f"In that run every video is in the output once: {r['answered']} answered, {args.num_corrupt} corrupt "
        'and the deleted one as rows naming their errors. The same command to a new output, stopped by SIGINT '
        f"after {r['stopped_at']} rows (exit 130) and run again with `--resume`, leaves every one of the "
        f'{args.videos} videos in it once.', ''])


if __name__ == '__main__':
    sys.exit(main())
