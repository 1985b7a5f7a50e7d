"""Peak memory of ``csst-zoo predict`` on long videos: it must not grow with the video's length.

    python benchmarks/predict_memory.py                       # 60 s and 10 min, 1280x720 H.264
    python benchmarks/predict_memory.py --lengths 60 --output results/predict_memory.md

Writes 1280x720 H.264 videos (30 frames/s, the scene of dataload.py) of each length and
runs the command in a fresh process on each: once as one answer per video (TSN sampling, the
default) and once as a timeline (--window/--stride). The figure is the peak resident set of
that process (VmHWM: the whole command, Python, torch, the model, decoding and the forward
passes; Linux only).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import device_name, emit, results_header
from _scenes import write_scene


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default='csst_resnet50')
    p.add_argument('--lengths', default='60,600', help='video lengths in seconds, comma-separated')
    p.add_argument('--height', type=int, default=720, help='frame height (16:9 frames)')
    p.add_argument('--window', default='2s', help='timeline window')
    p.add_argument('--stride', default='2s', help='timeline stride')
    p.add_argument('--workdir', help='keep the generated videos here (reused when present)')
    p.add_argument('-o', '--output', help='also write the markdown table here (atomically)')
    args = p.parse_args(argv)
    try:
        args.lengths = [float(v) for v in args.lengths.split(',')]
    except ValueError:
        p.error(f'--lengths takes comma-separated seconds, e.g. 60,600; got {args.lengths!r}')
    if any(v <= 0 for v in args.lengths) or args.height < 32 or args.height % 2:
        p.error('--lengths must be positive and --height even and >= 32')
    return args


# Runs `python -m csst_zoo ARGS` and, as it exits, prints its own peak resident set (VmHWM). The
# process's own figure: a child's ru_maxrss also holds the peak of the parent it was forked from.
_MEASURED = '''
import atexit, runpy, sys
atexit.register(lambda: print('VmHWM', open('/proc/self/status').read().split('VmHWM:')[1].split()[0],
                              file=sys.stderr))
sys.argv = ['csst-zoo'] + sys.argv[1:]
runpy.run_module('csst_zoo', run_name='__main__')
'''


def peak_rss_of(args) -> int:
    """Peak resident bytes of ``csst-zoo ARGS`` run in its own process."""
    run = subprocess.run([sys.executable, '-c', _MEASURED, *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        raise RuntimeError(f'csst-zoo {" ".join(args)} failed: {run.stderr[-2000:]}')
    return int(run.stderr.rsplit('VmHWM', 1)[1].split()[0]) * 1024


def main(argv=None):
    args = parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix='csst-predict-memory-') as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for length in args.lengths:
            print(f'writing {length:g} s of {args.height}p H.264 ...', file=sys.stderr, flush=True)
            video = write_scene(root / f'mp4_{args.height}p_{length:g}s_30fps.mp4', args.height, round(length * 30), 30)
            base = ['predict', args.model, str(video), '--num-classes', '174']
            for mode, extra in (('one answer', []),
                                (f'timeline {args.window}/{args.stride}',
                                 ['--window', args.window, '--stride', args.stride, '--no-progress'])):
                print(f'predict ({mode}) on {length:g} s ...', file=sys.stderr, flush=True)
                rows.append(dict(length=length, mode=mode, peak_mb=peak_rss_of(base + extra) / 2 ** 20))
    text = render(rows, args)
    emit(text, args.output)


def render(rows, args) -> str:
    first = {r['mode']: r['peak_mb'] for r in rows if r['length'] == rows[0]['length']}
    lines = [f'{results_header(device_name("cpu"))}: `csst-zoo predict {args.model}` on '
             f'{args.height * 16 // 9 // 2 * 2}x{args.height} H.264 at 30 frames/s.', '',
             f'| video length | mode | peak resident MB | vs. the {rows[0]["length"]:g} s video |',
             '|---:|---|---:|---:|']
    for r in rows:
        lines.append(f"| {r['length']:g} s | {r['mode']} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] / first[r['mode']]:.3f} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
