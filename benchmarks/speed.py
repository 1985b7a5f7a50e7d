"""Forward latency and peak memory of csst-zoo models, with each model's ratio to C2D of its depth.

    python benchmarks/speed.py                                   # CSST-R50 vs C2D-R50, 1x3x8x224x224
    python benchmarks/speed.py --models csst_resnet18,c3d_resnet18 --frames 16 --size 112

Latency: all models are timed in one process, in interleaved rounds (each round runs every
model once), after warm-up; the median over rounds is reported, so slow drifts of the machine
hit every model alike. Peak memory: on CUDA the allocator's peak during one forward; on CPU
(Linux) the growth of the resident set over one forward after two warm-up forwards, in a fresh
process per model with glibc's mmap threshold pinned so that freed tensors leave the RSS.
"""
import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time

import torch

import csst_zoo


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', default='c2d_resnet50,csst_resnet50',
                   help='comma-separated model names; the C2D model of each depth is added as baseline')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--threads', type=int, default=2, help='CPU threads (torch.set_num_threads)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--rounds', type=int, default=10)
    p.add_argument('--device', default='auto', help="'cpu', 'cuda' or 'auto' (cuda when available)")
    p.add_argument('--channels-last', action='store_true', help='run in torch.channels_last_3d')
    p.add_argument('--no-memory', action='store_true', help='skip the peak-memory measurement')
    p.add_argument('--format', choices=('markdown', 'json'), default='markdown')
    args = p.parse_args(argv)
    for name in ('batch', 'frames', 'size', 'threads', 'rounds'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1')
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    elif args.device not in ('cpu', 'cuda') or (args.device == 'cuda' and not torch.cuda.is_available()):
        p.error(f"--device must be 'cpu', 'auto' or, on a machine with CUDA, 'cuda'; got {args.device!r}")
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


def build(name, args):
    model = csst_zoo.create_model(name, num_classes=174, num_frames=args.frames).eval().to(args.device)
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=args.device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return model, x


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def time_models(names, args):
    built = {n: build(n, args) for n in names}
    times = {n: [] for n in names}
    with torch.inference_mode():
        for _ in range(args.warmup):
            for model, x in built.values():
                model(x)
        for _ in range(args.rounds):
            for n, (model, x) in built.items():
                sync(args.device)
                start = time.perf_counter()
                model(x)
                sync(args.device)
                times[n].append(time.perf_counter() - start)
    params = {n: sum(p.numel() for p in m.parameters()) for n, (m, _) in built.items()}
    return {n: statistics.median(v) for n, v in times.items()}, params


def _proc_status(key):
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ':'))


def _peak_memory_child(name, args, queue):
    torch.set_num_threads(args.threads)
    model, x = build(name, args)
    with torch.inference_mode():
        for _ in range(2):
            model(x)  # warm-up: oneDNN primitives and caches are created once
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets the peak RSS (VmHWM) of this process
        before = _proc_status('VmRSS')
        model(x)
        queue.put(_proc_status('VmHWM') - before)


def peak_memory(name, args):
    if args.device == 'cuda':
        model, x = build(name, args)
        with torch.inference_mode():
            model(x)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            model(x)
            return torch.cuda.max_memory_allocated() - base
    if not os.path.exists('/proc/self/clear_refs'):
        return None  # the CPU measurement needs Linux's resettable peak RSS
    # With glibc's mmap threshold pinned, freed activation blocks go back to the OS, so the
    # resident set follows the live tensors and its peak is the forward's peak memory.
    env = dict(os.environ)
    os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
    try:
        ctx = multiprocessing.get_context('spawn')
        queue = ctx.Queue()
        proc = ctx.Process(target=_peak_memory_child, args=(name, args, queue))
        proc.start()
    finally:
        os.environ.clear()
        os.environ.update(env)
    value = queue.get()
    proc.join()
    return value


def device_name(device):
    if device == 'cuda':
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{cpu} (CPU), {torch.get_num_threads()} threads'


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = with_baselines([n.strip() for n in args.models.split(',') if n.strip()])
    latency, params = time_models(names, args)
    memory = {} if args.no_memory else {n: peak_memory(n, args) for n in names}
    rows = []
    for n in names:
        base = c2d_baseline(n)
        rows.append(dict(
            model=n, params_m=params[n] / 1e6, latency_ms=latency[n] * 1e3,
            ratio_to_c2d=latency[n] / latency[base],
            peak_memory_mb=memory[n] / 2 ** 20 if memory.get(n) is not None else None))
    meta = dict(device=device_name(args.device), torch=torch.__version__, batch=args.batch, frames=args.frames,
                size=args.size, rounds=args.rounds, channels_last=args.channels_last)
    if args.format == 'json':
        json.dump(dict(meta=meta, rows=rows), sys.stdout, indent=2)
        print()
        return
    print(f"Device: {meta['device']}; torch {meta['torch']}; input {args.batch}x3x{args.frames}x{args.size}x"
          f"{args.size}; median of {args.rounds} interleaved rounds"
          f"{'; channels_last_3d' if args.channels_last else ''}\n")
    print('| model | params (M) | latency (ms) | ratio to C2D | peak memory (MB) |')
    print('|---|---|---|---|---|')
    for r in rows:
        mem = f"{r['peak_memory_mb']:.0f}" if r['peak_memory_mb'] is not None else '-'
        print(f"| {r['model']} | {r['params_m']:.2f} | {r['latency_ms']:.1f} | {r['ratio_to_c2d']:.3f} | {mem} |")


if __name__ == '__main__':
    main()
