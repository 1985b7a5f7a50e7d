"""Forward latency, throughput and memory of csst-zoo models under several runtimes.

    python benchmarks/speed.py                                   # CSST-R50 vs C2D-R50, eager, 1x3x8x224x224
    python benchmarks/speed.py --runtime all                     # every runtime below
    python benchmarks/speed.py --runtime all --processes 3       # ... in 3 fresh processes (README)
    python benchmarks/speed.py --models csst_resnet18,c3d_resnet18 --frames 16 --size 112

Runtimes: eager (fp32, contiguous), channels_last (channels_last_3d), compile (torch.compile,
inductor with freezing, channels_last_3d), onnxruntime and openvino (the verified export of
csst_zoo.export, fp32), bf16 (CPU/CUDA autocast, channels_last_3d), compile_bf16, openvino_bf16.

Latency: every (model, runtime) is timed in one process, in interleaved rounds (each round runs
each of them once), after warm-up; the median over rounds is reported, so slow drifts of the
machine hit all alike. Some machines also differ from process to process (memory placement,
neighbours of a cloud VM): --processes N repeats the whole timing in N fresh processes, one
after the other, and reports the median over them and the range of each ratio to C2D.
Throughput: fvcore multiply-adds of the model / latency, and its share of the device's peak,
measured here with a large channels-last 3x3 conv (or given with --peak).
Each model's latency is also given as a ratio to the C2D model of its depth under the same
runtime. Memory, in a fresh process per (model, runtime): on CPU (Linux) the resident set
that building and warming up the runtime added ("held") and its growth during one forward
("forward", glibc's mmap threshold pinned so that freed tensors leave the RSS); on CUDA the
allocator's figures.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Callable, NamedTuple

import torch

import csst_zoo
from csst_zoo.export import export_model, load_exported
from csst_zoo.profiling import count_flops, count_params
from _measure import (
    command_line, device_name, emit, freed_memory_returned, in_fresh_process, proc_status, reset_peak_rss)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', default='c2d_resnet50,csst_resnet50,tsm_resnet50,gst_resnet50,tam_resnet50',
                   help='comma-separated model names; the C2D model of each depth is added as baseline')
    p.add_argument('--runtime', default='eager',
                   help=f"comma-separated runtimes from: {', '.join(RUNTIMES)}; 'all' for every one")
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--threads', type=int, default=2, help='CPU threads (torch, onnxruntime and OpenVINO)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--rounds', type=int, default=10)
    p.add_argument('--processes', type=int, default=1,
                   help='time everything in this many fresh processes, one after the other, and report the '
                        'median over them with the range of the ratios to C2D (default: 1, this process)')
    p.add_argument('--device', default='auto', help="'cpu', 'cuda' or 'auto' (cuda when available)")
    p.add_argument('--peak', help='the device\'s peak multiply-adds/s in G, as FP32 or FP32,BF16; measured '
                                  'with a large channels-last 3x3 conv when not given')
    p.add_argument('--no-memory', action='store_true', help='skip the peak-memory measurement')
    p.add_argument('-o', '--output', help='also write the table here (atomically)')
    p.add_argument('--format', choices=('markdown', 'json'), default='markdown')
    args = p.parse_args(argv)
    for name in ('batch', 'frames', 'size', 'threads', 'rounds', 'processes'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1')
    if args.warmup < 0:
        p.error('--warmup must be >= 0')
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    elif args.device not in ('cpu', 'cuda') or (args.device == 'cuda' and not torch.cuda.is_available()):
        p.error(f"--device must be 'cpu', 'auto' or, on a machine with CUDA, 'cuda'; got {args.device!r}")
    args.runtime = [r.strip() for r in args.runtime.split(',') if r.strip()]
    if args.runtime == ['all']:
        args.runtime = list(RUNTIMES)
    unknown = [r for r in args.runtime if r not in RUNTIMES]
    if unknown or not args.runtime:
        p.error(f"--runtime takes names from {', '.join(RUNTIMES)} (or 'all'), got {unknown or args.runtime}")
    cpu_only = [r for r in args.runtime if RUNTIMES[r].cpu_only]
    if args.device == 'cuda' and cpu_only:
        p.error(f'runtimes {cpu_only} run on the CPU only; use --device cpu')
    if args.peak:
        try:
            peak = [float(v) * 1e9 for v in args.peak.split(',')]
        except ValueError:
            peak = []
        if len(peak) not in (1, 2) or min(peak) <= 0:
            p.error(f'--peak takes one or two positive numbers (G multiply-adds/s: FP32[,BF16]), got {args.peak!r}')
        args.peak = dict(zip(('fp32', 'bf16'), peak))
    return args


def c2d_baseline(name):
    """The C2D model of the same depth: csst_resnet50 -> c2d_resnet50."""
    return 'c2d_' + name.split('_', 1)[1]


def with_baselines(names):
    """The chosen models, each preceded by the C2D model of its depth when it is not chosen."""
    out = []
    for name in names:
        if not csst_zoo.is_model(name):
            raise SystemExit(f'unknown model {name!r}; choose from: {", ".join(csst_zoo.list_models())}')
        for n in (c2d_baseline(name), name):
            if n not in out:
                out.append(n)
    return out


class Runtime(NamedTuple):
    precision: str
    cpu_only: bool
    prepare: Callable  # (model, clip, args) -> (function clip -> logits, clip)


def _eager(model, x, args):
    return model, x


def _channels_last(model, x, args):
    return model.to(memory_format=torch.channels_last_3d), x.contiguous(memory_format=torch.channels_last_3d)


def _bf16(model, x, args):
    model, x = _channels_last(model, x, args)

    def run(clip):
        with torch.autocast(args.device, dtype=torch.bfloat16):
            return model(clip)
    return run, x


def _compiled(prepare):
    def compile_runtime(model, x, args):
        # Freezing folds the weights into the graph as constants (BN folded, weights prepacked
        # for oneDNN), the inference mode of inductor on CPU.
        torch._inductor.config.freezing = True
        run, x = prepare(model, x, args)
        return torch.compile(run, fullgraph=True), x
    return compile_runtime


def _exported(suffix, precision='f32'):
    def export_runtime(model, x, args):
        directory = tempfile.mkdtemp(dir=args.workdir)
        path = export_model(model.cpu(), os.path.join(directory, 'model' + suffix), frames=args.frames, size=args.size)
        run = load_exported(path, threads=args.threads, precision=precision)
        return (lambda clip: run(clip.numpy())), x
    return export_runtime


RUNTIMES = {
    'eager': Runtime('fp32', False, _eager),
    'channels_last': Runtime('fp32', False, _channels_last),
    'compile': Runtime('fp32', False, _compiled(_channels_last)),
    'onnxruntime': Runtime('fp32', True, _exported('.onnx')),
    'openvino': Runtime('fp32', True, _exported('.xml')),
    'bf16': Runtime('bf16', False, _bf16),
    'compile_bf16': Runtime('bf16', False, _compiled(_bf16)),
    'openvino_bf16': Runtime('bf16', True, _exported('.xml', 'bf16')),
}


def build(name, runtime, args):
    """The forward function of model ``name`` under ``runtime``, and its input clip."""
    model = csst_zoo.create_model(name, num_classes=174, num_frames=args.frames).eval().to(args.device)
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=args.device)
    return RUNTIMES[runtime].prepare(model, x, args)


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def time_runs(runs, args):
    """Median latency of each (model, runtime) over interleaved rounds."""
    built = {}
    for key in runs:
        print(f'preparing {key[0]} / {key[1]}', file=sys.stderr, flush=True)
        built[key] = build(*key, args)
    times = {key: [] for key in runs}
    with torch.inference_mode():
        for _ in range(args.warmup + 1):  # the first call compiles / creates the kernels
            for run, x in built.values():
                run(x)
        for _ in range(args.rounds):
            for key, (run, x) in built.items():
                sync(args.device)
                start = time.perf_counter()
                run(x)
                sync(args.device)
                times[key].append(time.perf_counter() - start)
    return {key: statistics.median(v) for key, v in times.items()}


def measure_peak(device, seconds=1.0):
    """Multiply-adds/s of a large 3x3 conv (channels-last, fp32 and bf16), the best case of the
    conv library (oneDNN on CPU, cuDNN on CUDA) the models run on: the device's practical peak."""
    peak = {}
    for precision, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
        x = torch.randn(8, 256, 56, 56, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(256, 256, 3, 3, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        macs = x.numel() * w[0].numel()
        with torch.inference_mode():
            torch.nn.functional.conv2d(x, w, padding=1)
            best, deadline = float('inf'), time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                sync(device)
                start = time.perf_counter()
                torch.nn.functional.conv2d(x, w, padding=1)
                sync(device)
                best = min(best, time.perf_counter() - start)
        peak[precision] = macs / best
    return peak


def _time_runs_alone(runs, args):
    torch.set_num_threads(args.threads)
    return time_runs(runs, args)


def timed(runs, args):
    """Latency of each (model, runtime), and with --processes N the N processes' own figures."""
    if args.processes == 1:
        return time_runs(runs, args), []
    per_process = [in_fresh_process(_time_runs_alone, runs, args) for _ in range(args.processes)]
    return {key: statistics.median(p[key] for p in per_process) for key in runs}, per_process


def _peak_memory_child(key, args):
    torch.set_num_threads(args.threads)
    start = proc_status('VmRSS')
    run, x = build(*key, args)
    with torch.inference_mode():
        for _ in range(2):
            run(x)  # warm-up: kernels, primitives, arenas and caches are created once
        reset_peak_rss()
        before = proc_status('VmRSS')
        run(x)
        return before - start, proc_status('VmHWM') - before


def peak_memory(key, args):
    """(memory held between forwards, peak growth during one forward) of (model, runtime).

    Held: what building and warming up the runtime added (weights, packed weights, arenas,
    compiled code); growth: activations and workspace beyond that, at the forward's peak.
    """
    if args.device == 'cuda':
        start = torch.cuda.memory_allocated()
        run, x = build(*key, args)
        with torch.inference_mode():
            run(x)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            run(x)
            return base - start, torch.cuda.max_memory_allocated() - base
    if not os.path.exists('/proc/self/clear_refs'):
        return None, None  # the CPU measurement needs Linux's resettable peak RSS
    # freed activation blocks go back to the OS: the resident set follows the live tensors
    with freed_memory_returned():
        return in_fresh_process(_peak_memory_child, key, args)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = with_baselines([n.strip() for n in args.models.split(',') if n.strip()])
    runs = [(n, r) for n in names for r in args.runtime]
    peak = args.peak or measure_peak(args.device)  # first, on an idle machine
    with tempfile.TemporaryDirectory(prefix='csst-speed-') as args.workdir:  # exported files
        latency, per_process = timed(runs, args)
        memory = {key: (None, None) if args.no_memory else peak_memory(key, args) for key in runs}
    flops, params = {}, {}
    for n in names:
        model = csst_zoo.create_model(n, num_classes=174, num_frames=args.frames)
        flops[n] = count_flops(model, frames=args.frames, size=args.size, batch=args.batch)
        params[n] = count_params(model)
    def mb(value):
        return None if value is None else value / 2 ** 20
    rows = []
    for n, r in runs:
        precision = RUNTIMES[r].precision
        gmacs = flops[n] / latency[n, r] / 1e9
        eager = latency.get((n, 'eager'))
        rows.append(dict(
            model=n, runtime=r, precision=precision, params_m=params[n] / 1e6, gflops=flops[n] / 1e9,
            latency_ms=latency[n, r] * 1e3, speedup_vs_eager=eager / latency[n, r] if eager else None,
            gmacs_per_s=gmacs, peak_share=gmacs * 1e9 / peak[precision] if precision in peak else None,
            ratio_to_c2d=latency[n, r] / latency[c2d_baseline(n), r],
            ratio_to_c2d_per_process=[p[n, r] / p[c2d_baseline(n), r] for p in per_process],
            held_memory_mb=mb(memory[n, r][0]), forward_memory_mb=mb(memory[n, r][1])))
    meta = dict(device=device_name(args.device), torch=torch.__version__, batch=args.batch, frames=args.frames,
                size=args.size, rounds=args.rounds, processes=args.processes, threads=args.threads,
                peak_gmacs_per_s={k: v / 1e9 for k, v in peak.items()},
                peak_source='--peak' if args.peak else '3x3 conv, 256 channels, 8x56x56, channels-last')
    if args.format == 'json':
        text = json.dumps(dict(meta=meta, rows=rows), indent=2) + '\n'
    else:
        text = render(args, meta, rows)
    emit(text, args.output)


def render(args, meta, rows) -> str:
    peaks = ', '.join(f'{k} {v:.0f}' for k, v in meta['peak_gmacs_per_s'].items())
    timing = f'median of {args.rounds} interleaved rounds'
    if args.processes > 1:
        timing = f'median over {args.processes} processes of the {timing} in each; ratio ranges over the processes'
    command = command_line()
    lines = [f"`{command}`, {datetime.now(timezone.utc):%Y-%m-%d}. Device: {meta['device']}; torch {meta['torch']}; "
             f"input {args.batch}x3x{args.frames}x{args.size}x{args.size}; {timing}; peak G multiply-adds/s: {peaks} "
             f"({meta['peak_source']})", '',
             '| model | runtime | precision | GFLOPs | latency (ms) | speed-up vs eager | G multiply-adds/s '
             '| share of peak | ratio to C2D | held memory (MB) | forward memory (MB) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']

    def fmt(value, spec):
        return '-' if value is None else format(value, spec)

    def ratio(row):
        spread = row['ratio_to_c2d_per_process']
        return f"{row['ratio_to_c2d']:.3f}" + (f' ({min(spread):.3f}-{max(spread):.3f})' if spread else '')
    for r in rows:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['gflops']:.2f} | {r['latency_ms']:.1f} "
                     f"| {fmt(r['speedup_vs_eager'], '.2f')} | {r['gmacs_per_s']:.0f} | {fmt(r['peak_share'], '.0%')} "
                     f"| {ratio(r)} | {fmt(r['held_memory_mb'], '.0f')} | {fmt(r['forward_memory_mb'], '.0f')} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
