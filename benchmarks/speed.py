"""Inference and training speed, throughput and memory of csst-zoo models under several runtimes.

    python benchmarks/speed.py                                   # CSST-R50 vs C2D-R50, eager, 1x3x8x224x224
    python benchmarks/speed.py --runtime all                     # every runtime below
    python benchmarks/speed.py --runtime all --processes 3       # ... in 3 fresh processes (README)
    python benchmarks/speed.py --models csst_resnet18,c3d_resnet18 --frames 16 --size 112
    python benchmarks/speed.py --task train --runtime eager,bf16 --batch 16    # training steps

Tasks: infer (a forward pass in inference mode) or train (a full training step: forward under the
runtime's precision, cross-entropy, backward and an SGD step with the recipe's momentum and weight
decay, the model in training mode).

Anchor: every depth gets a row for timm's own ``resnet{depth}`` on the N*T frames of the clips
(``timm:resnet50``), its logits averaged over each clip's T frames: the same math as C2D, in
the same precision, memory format and runtime (the PyTorch ones: the exported runtimes run
csst_zoo's exports). Every row is also given as a ratio to it.

Runtimes: eager (fp32, contiguous), channels_last (channels_last_3d), compile (torch.compile,
inductor with freezing, channels_last_3d), onnxruntime and openvino (the verified export of
csst_zoo.export, fp32), bf16 (CPU/CUDA autocast, channels_last_3d), compile_bf16, openvino_bf16.

Latency: every (model, runtime) is timed in one process, in interleaved rounds (each round runs
each of them once), after warm-up; the median over rounds is reported, so slow drifts of the
machine hit all alike. Some machines also differ from process to process (memory placement,
neighbours of a cloud VM): --processes N repeats the whole timing in N fresh processes, one
after the other, and reports the median over them and the range of each ratio to C2D.
Throughput: clips/s, and fvcore multiply-adds of the model / latency (a training step counted as
three forward passes: the backward pass computes two products per forward one) and their share
of the device's peak, measured here with a large channels-last 3x3 conv (or given with --peak,
e.g. a GPU's datasheet dense bf16 figure).
Each model's latency is also given as a ratio to the C2D model of its depth under the same
runtime. Memory, in a fresh process per (model, runtime): on CPU (Linux) the resident set
that building and warming up the runtime added ("held") and its growth during one forward
("forward", glibc's mmap threshold pinned so that freed tensors leave the RSS); on CUDA the
allocator's figures.
"""
import argparse
import contextlib
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
from csst_zoo.engine.train import TrainConfig, sgd, train_step
from csst_zoo.export import export_model, load_exported
from csst_zoo.profiling import count_flops, count_params
from _measure import (
    command_line, device_name, emit, freed_memory_returned, in_fresh_process, proc_status, reset_peak_rss, sync)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', default='c2d_resnet50,csst_resnet50,tsm_resnet50,gst_resnet50,tam_resnet50',
                   help='comma-separated model names; the C2D model of each depth is added as baseline')
    p.add_argument('--task', choices=('infer', 'train'), default='infer',
                   help='time forward passes (infer) or full training steps (train)')
    p.add_argument('--no-anchor', dest='anchor', action='store_false',
                   help="leave out the rows of timm's own ResNet of each depth on the clips' frames")
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
    exported = [r for r in args.runtime if RUNTIMES[r].inference_only]
    if args.task == 'train' and exported:
        p.error(f"runtimes {exported} run exported inference graphs; --task train takes "
                f"{', '.join(r for r in RUNTIMES if not RUNTIMES[r].inference_only)}")
    if args.peak:
        try:
            peak = [float(v) * 1e9 for v in args.peak.split(',')]
        except ValueError:
            peak = []
        if len(peak) not in (1, 2) or min(peak) <= 0:
            p.error(f'--peak takes one or two positive numbers (G multiply-adds/s: FP32[,BF16]), got {args.peak!r}')
        args.peak = dict(zip(('fp32', 'bf16'), peak))
    return args


ANCHOR = 'timm:'  # rows of timm's own 2D ResNet on the frames: 'timm:resnet50'


def depth_of(name):
    """'resnet50' of csst_resnet50 and of timm:resnet50."""
    return name.rsplit('_', 1)[-1].removeprefix(ANCHOR)


def c2d_baseline(name):
    """The C2D model of the same depth: csst_resnet50 -> c2d_resnet50."""
    return 'c2d_' + depth_of(name)


def anchor(name):
    """timm's ResNet of the same depth: csst_resnet50 -> timm:resnet50."""
    return ANCHOR + depth_of(name)


def with_baselines(names, anchors=True):
    """The chosen models, each preceded by timm's ResNet (with ``anchors``) and the C2D model of its depth."""
    out = []
    for name in names:
        if not csst_zoo.is_model(name):
            raise SystemExit(f'unknown model {name!r}; choose from: {", ".join(csst_zoo.list_models())}')
        for n in ([anchor(name)] if anchors else []) + [c2d_baseline(name), name]:
            if n not in out:
                out.append(n)
    return out


class FramesToClips(torch.nn.Module):
    """A 2D classifier on the frames ``(N T, C, H, W)`` of N clips of T frames, its logits averaged over
    each clip's frames: C2D's math (the mean commutes with the linear head) on timm's own model."""

    def __init__(self, model, num_frames):
        super().__init__()
        self.model, self.num_frames = model, num_frames

    def forward(self, frames):
        return self.model(frames).unflatten(0, (-1, self.num_frames)).mean(dim=1)


class Runtime(NamedTuple):
    precision: str
    cpu_only: bool
    prepare: Callable  # (model, input, args) -> (function input -> logits, input)
    inference_only: bool = False


def _eager(model, x, args):
    return model, x


def _channels_last(model, x, args):
    """Channels-last weights and input: ``channels_last_3d`` for a video model's clips, ``channels_last``
    for the anchor's frames (the same memory layout)."""
    layout = torch.channels_last if x.ndim == 4 else torch.channels_last_3d
    return model.to(memory_format=layout), x.contiguous(memory_format=layout)


def _bf16(model, x, args):
    model, x = _channels_last(model, x, args)

    def run(clip):
        with torch.autocast(args.device, dtype=torch.bfloat16):
            return model(clip)
    return run, x


def _compiled(prepare):
    def compile_runtime(model, x, args):
        # Freezing folds the weights into the graph as constants (BN folded, weights prepacked
        # for oneDNN), the inference mode of inductor on CPU; training updates the weights.
        torch._inductor.config.freezing = args.task == 'infer'
        run, x = prepare(model, x, args)
        # static shapes: the models of a run share code objects (nn.Module.__call__, the runtime's
        # own wrapper), and dynamo would compile every model after the first, whose input shape
        # differs (an anchor's frames, a clip), for dynamic shapes: slower code than one model
        # compiled alone gets
        return torch.compile(run, fullgraph=True, dynamic=False), x
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
    'onnxruntime': Runtime('fp32', True, _exported('.onnx'), inference_only=True),
    'openvino': Runtime('fp32', True, _exported('.xml'), inference_only=True),
    'bf16': Runtime('bf16', False, _bf16),
    'compile_bf16': Runtime('bf16', False, _compiled(_bf16)),
    'openvino_bf16': Runtime('bf16', True, _exported('.xml', 'bf16'), inference_only=True),
}
NUM_CLASSES = 174


def build(name, runtime, args):
    """The function timed for model ``name`` under ``runtime`` (a forward pass, or with --task train a
    training step), and its input: clips ``(N, C, T, H, W)``, or their frames for an anchor row."""
    if name.startswith(ANCHOR):
        import timm
        model = FramesToClips(timm.create_model(name[len(ANCHOR):], num_classes=NUM_CLASSES), args.frames)
        x = torch.randn(args.batch * args.frames, 3, args.size, args.size, device=args.device)
    else:
        model = csst_zoo.create_model(name, num_classes=NUM_CLASSES, num_frames=args.frames)
        x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=args.device)
    model.to(args.device).train(args.task == 'train')
    forward, x = RUNTIMES[runtime].prepare(model, x, args)
    if args.task == 'infer':
        return forward, x
    # the product's training step and the recipe's optimizer (engine.train), on synthetic clips
    optimizer = sgd(model, TrainConfig(model=name, dataset='synthetic', output='-'), lr=0.01)
    target = torch.randint(NUM_CLASSES, (args.batch,), device=args.device)
    return (lambda inputs: train_step(forward, inputs, target, optimizer)[0]), x


def grad_mode(args):
    """Inference mode for --task infer; gradients for training steps."""
    return torch.inference_mode() if args.task == 'infer' else contextlib.nullcontext()


def time_runs(runs, args):
    """Median latency of each (model, runtime) over interleaved rounds."""
    built = {}
    for key in runs:
        print(f'preparing {key[0]} / {key[1]}', file=sys.stderr, flush=True)
        built[key] = build(*key, args)
    times = {key: [] for key in runs}
    with grad_mode(args):
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
    with grad_mode(args):
        for _ in range(2):
            run(x)  # warm-up: kernels, primitives, arenas and caches are created once
        reset_peak_rss()
        before = proc_status('VmRSS')
        run(x)
        return before - start, proc_status('VmHWM') - before


def peak_memory(key, args):
    """(memory held between forwards, peak growth during one forward) of (model, runtime).

    Held: what building and warming up the runtime added (weights, packed weights, arenas,
    compiled code; for training also gradients and momentum); growth: activations and workspace
    beyond that, at the peak of a forward pass or training step.
    """
    if args.device == 'cuda':
        start = torch.cuda.memory_allocated()
        run, x = build(*key, args)
        with grad_mode(args):
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
    names = with_baselines([n.strip() for n in args.models.split(',') if n.strip()], args.anchor)
    # timm's ResNet runs in PyTorch only: the exported runtimes run csst_zoo's verified exports
    runs = [(n, r) for n in names for r in args.runtime if not (n.startswith(ANCHOR) and RUNTIMES[r].inference_only)]
    # every compiled model compiles the code objects the models share once more: dynamo's default
    # limit per code object (8) stops a run of more models
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, len(names))
    peak = args.peak or measure_peak(args.device)  # first, on an idle machine
    with tempfile.TemporaryDirectory(prefix='csst-speed-') as args.workdir:  # exported files
        latency, per_process = timed(runs, args)
        memory = {key: (None, None) if args.no_memory else peak_memory(key, args) for key in runs}
    flops, params = {}, {}
    for n in names:
        if not n.startswith(ANCHOR):  # an anchor does C2D's math (its head runs on every frame: 0.01% more)
            model = csst_zoo.create_model(n, num_classes=NUM_CLASSES, num_frames=args.frames)
            flops[n] = count_flops(model, frames=args.frames, size=args.size, batch=args.batch)
            params[n] = count_params(model)
    for n in names:
        if n.startswith(ANCHOR):
            flops[n], params[n] = flops[c2d_baseline(n)], params[c2d_baseline(n)]
    step_flops = 3 if args.task == 'train' else 1  # backward: two products per forward one

    def mb(value):  # a CPU pass that held nothing can measure a few pages below its start
        return None if value is None else max(value, 0) / 2 ** 20

    def ratio_to(base, n, r):
        return latency[n, r] / latency[base, r] if (base, r) in latency else None
    rows = []
    for n, r in runs:
        precision = RUNTIMES[r].precision
        gmacs = step_flops * flops[n] / latency[n, r] / 1e9
        eager = latency.get((n, 'eager'))
        rows.append(dict(
            model=n, runtime=r, precision=precision, params_m=params[n] / 1e6, gflops=flops[n] / 1e9,
            latency_ms=latency[n, r] * 1e3, clips_per_s=args.batch / latency[n, r],
            speedup_vs_eager=eager / latency[n, r] if eager else None,
            gmacs_per_s=gmacs, peak_share=gmacs * 1e9 / peak[precision] if precision in peak else None,
            ratio_to_timm=ratio_to(anchor(n), n, r), ratio_to_c2d=ratio_to(c2d_baseline(n), n, r),
            ratio_to_c2d_per_process=[p[n, r] / p[c2d_baseline(n), r] for p in per_process],
            held_memory_mb=mb(memory[n, r][0]), forward_memory_mb=mb(memory[n, r][1])))
    meta = dict(task=args.task, device=device_name(args.device), torch=torch.__version__, cuda=torch.version.cuda,
                batch=args.batch, frames=args.frames,
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
    task = 'training step (forward, loss, backward, SGD step)' if args.task == 'train' else 'forward pass'
    cuda = f", CUDA {meta['cuda']}" if args.device == 'cuda' else ''
    step = 'step' if args.task == 'train' else 'forward'
    lines = [f"`{command}`, {datetime.now(timezone.utc):%Y-%m-%d}. Device: {meta['device']}; torch {meta['torch']}"
             f"{cuda}; timed: one {task}; input {args.batch}x3x{args.frames}x{args.size}x{args.size}; {timing}; "
             f"peak G multiply-adds/s: {peaks} ({meta['peak_source']})", '',
             f'| model | runtime | precision | GFLOPs | {step} (ms) | clips/s | speed-up vs eager | G multiply-adds/s '
             f'| share of peak | ratio to timm | ratio to C2D | held memory (MB) | {step} memory (MB) |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']

    def fmt(value, spec):
        return '-' if value is None else format(value, spec)

    def ratio(row):
        spread = row['ratio_to_c2d_per_process']
        return f"{row['ratio_to_c2d']:.3f}" + (f' ({min(spread):.3f}-{max(spread):.3f})' if spread else '')
    for r in rows:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['gflops']:.2f} | {r['latency_ms']:.1f} "
                     f"| {r['clips_per_s']:.2f} | {fmt(r['speedup_vs_eager'], '.2f')} | {r['gmacs_per_s']:.0f} "
                     f"| {fmt(r['peak_share'], '.0%')} | {fmt(r['ratio_to_timm'], '.3f')} | {ratio(r)} "
                     f"| {fmt(r['held_memory_mb'], '.0f')} | {fmt(r['forward_memory_mb'], '.0f')} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
