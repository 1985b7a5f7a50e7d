"""The demo page under load: concurrent users uploading good, long, corrupt and hostile files.

    python benchmarks/demo_load.py                          # the table of results/demo_load.md
    python benchmarks/demo_load.py --sessions 32 --model c2d_resnet50

Starts `csst-zoo demo MODEL` on 127.0.0.1 (its defaults: Gradio's queue, one video at a time on
the CPU, the page's limits of 4K frames and 10 minutes, a time limit per video) and drives it
with --sessions gradio_client sessions at once, each uploading one file of the mix in turn:

- good: the page's two example clips (8 and 12 s, 96x96 WebM);
- long: a 5-minute video (96x96 H.264 at 8 frames/s: 300 timeline windows);
- corrupt: 64 KiB of random bytes named .mp4;
- hostile: a 0.6 MB Matroska file declaring 8200x4400 MJPEG frames, and an MP4 of 2 frames whose
  timestamps declare 30 hours.

Each request is answered (top-5 and timeline), refused with a message (the page's gr.Error:
over a limit, unreadable, too slow), or failed (anything else: an error without a message, a
dropped connection). Reported: the counts, the latency (from submitting to the answer, queue
wait included) at the median and 95th percentile, the longest queue a session saw, the server's
peak resident memory (VmHWM, the model and every request included), and whether it answers a
fresh request afterwards. Goal: nothing failed, peak memory under 2 GB for a ResNet18.
"""
import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from csst_zoo.data.writers import write_video
from csst_zoo.demo import write_examples

from _demo_server import serve
from _measure import device_name, emit, proc_status, results_header


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', default='c2d_resnet18')
    p.add_argument('--sessions', type=int, default=16, help='concurrent users')
    p.add_argument('--time-limit', type=float, default=120, help="the page's --time-limit")
    p.add_argument('-o', '--output', help='also write the markdown table here (atomically)')
    args = p.parse_args(argv)
    if args.sessions < 1:
        p.error('--sessions must be >= 1')
    return args


def write_mix(folder: Path) -> list:
    """``(kind, path)`` of the files the sessions upload, in the order they take them."""
    good = write_examples(folder)
    rng = np.random.default_rng(0)
    long = write_video(folder / 'long_5min.mp4', (rng.integers(0, 255, (96, 96, 3), np.uint8) for _ in range(8 * 300)),
                       rate=8, codec_options={'preset': 'ultrafast'})
    corrupt = folder / 'corrupt.mp4'
    corrupt.write_bytes(rng.bytes(64 * 1024))
    huge = write_video(folder / 'huge_frames.mkv', np.zeros((1, 4400, 8200, 3), np.uint8), rate=1, codec='mjpeg',
                       pix_fmt='yuvj420p')
    endless = write_video(folder / 'thirty_hours.mp4', np.zeros((2, 64, 64, 3), np.uint8),
                          pts_ms=[0, 30 * 3600 * 1000])
    return [('good', good[0]), ('hostile', huge), ('corrupt', corrupt), ('good', good[1]), ('long', long),
            ('hostile', endless), ('good', good[0]), ('corrupt', corrupt)]


def one_request(url: str, path: Path) -> dict:
    """Upload ``path`` as a fresh session: its outcome, latency and the longest queue ahead of it."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    client = Client(url, verbose=False)
    start, ahead = time.perf_counter(), 0
    job = client.submit(handle_file(str(path)), api_name='/classify')
    deadline = time.monotonic() + 30 * 60
    while not job.done():
        if time.monotonic() > deadline:  # a server that died answers nothing: the run must still end
            return dict(outcome='failed', message='no answer within 30 minutes',
                        seconds=time.perf_counter() - start, ahead=ahead)
        status = job.status()
        ahead = max(ahead, status.rank or 0)
        time.sleep(0.1)
    try:
        job.result()
        outcome, message = 'answered', ''
    except AppError as e:
        outcome, message = ('refused' if str(e).strip() else 'failed'), str(e)
    except Exception as e:  # a dropped connection, a server error without a message
        outcome, message = 'failed', f'{type(e).__name__}: {e}'
    return dict(outcome=outcome, message=message, seconds=time.perf_counter() - start, ahead=ahead)


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='csst-demo-load-') as tmp:
        mix = write_mix(Path(tmp))
        with serve(args.model, '--time-limit', str(args.time_limit), timeout=300) as demo:
            rest = proc_status('VmHWM', demo.pid) / 2 ** 20  # MB
            results = [None] * args.sessions

            def session(k):
                kind, path = mix[k % len(mix)]
                results[k] = dict(kind=kind, **one_request(demo.url, path))
            threads = [threading.Thread(target=session, args=(k,)) for k in range(args.sessions)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            after = one_request(demo.url, mix[0][1])
            peak = proc_status('VmHWM', demo.pid) / 2 ** 20
    text = table(args, results, wall, after, rest, peak)
    emit(text, args.output)


def table(args, results, wall, after, rest, peak) -> str:
    counts = {o: sum(r['outcome'] == o for r in results) for o in ('answered', 'refused', 'failed')}
    rows = []
    for kind in ('good', 'long', 'corrupt', 'hostile'):
        of_kind = [r for r in results if r['kind'] == kind]
        if of_kind:
            outcomes = ', '.join(f"{sum(r['outcome'] == o for r in of_kind)} {o}" for o in counts
                                 if any(r['outcome'] == o for r in of_kind))
            seconds = sorted(r['seconds'] for r in of_kind)
            rows.append(f"| {kind} | {len(of_kind)} | {outcomes} | {statistics.median(seconds):.1f} | "
                        f"{seconds[-1]:.1f} |")
    seconds = sorted(r['seconds'] for r in results)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    messages = sorted({r['message'].splitlines()[0][:160] for r in results if r['outcome'] == 'refused'})
    return (f"{results_header(device_name('cpu'))}. `csst-zoo demo {args.model} --time-limit {args.time_limit:g}` "
            f'(one video at a time on the CPU, Gradio queue), {args.sessions} gradio_client sessions at once, '
            f'{os.cpu_count()} cores.\n\n'
            '| files | requests | outcome | median s | slowest s |\n|---|---:|---|---:|---:|\n' + '\n'.join(rows) + '\n\n'
            f"| all {len(results)} requests | |\n|---|---|\n"
            f"| answered / refused with a message / failed | {counts['answered']} / {counts['refused']} / "
            f"{counts['failed']} |\n"
            f'| latency p50 / p95 (queue wait included) | {statistics.median(seconds):.1f} s / {p95:.1f} s |\n'
            f"| longest queue a session saw ahead of it | {max(r['ahead'] for r in results)} |\n"
            f'| all answered within | {wall:.1f} s |\n'
            f'| server peak resident memory (idle after start: {rest:.0f} MB) | {peak:.0f} MB |\n'
            f"| a fresh request afterwards | {after['outcome']} in {after['seconds']:.1f} s |\n\n"
            'The messages of the refusals:\n\n' + ''.join(f'- {m}\n' for m in messages))


if __name__ == '__main__':
    main()
