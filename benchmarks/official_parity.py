"""Logit parity with the authors' own code (TSM, GST, TAM) and with mmaction2's (TSN, TSM, TANet, C2D).

    python benchmarks/official_parity.py --tsm PATH/temporal-shift-module --gst PATH/GST-video \\
        --tam PATH/temporal-adaptive-module --mmaction2 MM_VENV/bin/python

Each PATH is a clone of the official repository (mit-han-lab/temporal-shift-module,
chenxuluo/GST-video, liu-zhy/temporal-adaptive-module); nothing of them is part of csst-zoo.
For each given family the script builds the official model from its repository (ImageNet
downloads replaced by random weights, so no network is needed), randomises every weight and
BatchNorm statistic, saves the state dict as the authors' training scripts do
(``{'state_dict': DataParallel keys}``), converts that file with ``csst_zoo.convert``, and runs
both models on the same clip in eval mode.

``--mmaction2`` names a Python with mmaction2 1.2.0 (a throwaway environment, never csst-zoo's:
docs/rivals.md has its three install lines). It runs ``mmaction2_reference.py``, which builds a
TSN, TSM, TANet and C2D recognizer from mmaction2's own config files, randomises and saves them as
mmengine does and records their logits on raw frames through mmaction2's own test pipeline; each
file is then converted (``csst_zoo.mmaction2``) and run on the same raw frames through csst-zoo's
evaluation transform (the model's own mean and std). It also compares the frame indices of
mmaction2's ``SampleFrames`` in test mode with ``csst_zoo.data.clip_indices``.

It prints the largest absolute logit difference (float32, CPU) and exits non-zero when one
exceeds ``--atol`` x max(1, largest absolute logit), or when an index differs.
"""
import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision

from csst_zoo._io import write_atomic
from csst_zoo.convert import convert_checkpoint
from csst_zoo.data import clip_indices, eval_transform
from csst_zoo.mmaction2 import convert_recognizer
from _measure import device_name, results_header
from _random_weights import randomise


@contextlib.contextmanager
def official_code(root: Path):
    """Import the repository at ``root`` (its top-level modules, e.g. ``ops``) for the duration."""
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:  # TSM and TAM both have a package named ops
            del sys.modules[name]


@contextlib.contextmanager
def no_imagenet_download():
    """torchvision's resnetXX(True) (positional ``pretrained`` of old torchvision) without a download."""
    saved = {n: getattr(torchvision.models, n) for n in ('resnet18', 'resnet34', 'resnet50', 'resnet101')}
    for name, build in saved.items():
        setattr(torchvision.models, name, lambda *args, _build=build, **kwargs: _build(weights=None))
    try:
        yield
    finally:
        for name, build in saved.items():
            setattr(torchvision.models, name, build)


class SegmentMean(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=1, keepdim=True)


def build_tsm(root, frames, classes):
    with official_code(root), no_imagenet_download():
        from ops.models import TSN
        net = TSN(classes, frames, 'RGB', base_model='resnet50', is_shift=True, shift_div=8, shift_place='blockres',
                  pretrain='scratch', print_spec=False)
    return net, f'TSM_something_RGB_resnet50_shift8_blockres_avg_segment{frames}_e45.pth'


def build_tam(root, frames, classes):
    with official_code(root), no_imagenet_download():
        from ops.models import TSN
        net = TSN(classes, frames, 'RGB', base_model='resnet50', tam=True, print_spec=False)
    # Its SegmentConsensus is a legacy autograd.Function that torch >= 1.5 refuses to run; 'avg'
    # consensus is the mean over the segments, which is what it computes.
    net.consensus = SegmentMean()
    return net, f'something_RGB_resnet50_tam_avg_segment{frames}_e50.pth.tar'


def build_gst(root, frames, classes):
    with official_code(root):
        import GST
        # GST.resnet50 loads torchvision's ImageNet file by URL: random 2D weights instead.
        GST.model_zoo.load_url = lambda url: torchvision.models.resnet50(weights=None).state_dict()
        from models import TemporalModel
        net = TemporalModel(classes, frames, 'GST', 'resnet50', alpha=4, beta=2)
    return net, f'gst_something_resnet50_segment{frames}.pth.tar'


BUILDERS = {'tsm': build_tsm, 'gst': build_gst, 'tam': build_tam}


def official_logits(net, clip: torch.Tensor) -> torch.Tensor:
    n, c, t, h, w = clip.shape
    frames = clip.transpose(1, 2).reshape(n, t * c, h, w)  # the TSN data layout all three take: (N, T*C, H, W)
    return net(frames)


def authors_rows(args) -> tuple:
    """(failed, table rows) of the authors' code: their model and the converted one on one clip."""
    failed, rows = False, []
    for name in [n for n in BUILDERS if getattr(args, n)]:
        net, filename = BUILDERS[name](getattr(args, name), args.frames, args.classes)
        randomise(net)
        net.eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            torch.save({'epoch': 45, 'state_dict': torch.nn.DataParallel(net).state_dict()}, path)
            model, _ = convert_checkpoint(name, path)
        clip = torch.randn(2, 3, args.frames, args.size, args.size)
        with torch.no_grad():
            theirs, ours = official_logits(net, clip), model(clip)
        diff, top = (theirs - ours).abs().max().item(), theirs.abs().max().item()
        failed |= diff > args.atol * max(1.0, top)
        print(f'{name}: {model.pretrained_cfg["architecture"]}, {args.frames}x{args.size}x{args.size}, '
              f'{args.classes} classes: max |logit difference| {diff:.2e} (logits up to {top:.2f})')
        rows.append(f'| {name} | {model.pretrained_cfg["architecture"]} | {getattr(args, name).name} | '
                    f'{diff:.1e} | {top:.2f} |')
    return failed, rows


def mmaction2_rows(args) -> tuple:
    """(failed, recognizer rows, sampling rows) against mmaction2's own code, run by ``args.mmaction2``."""
    failed, rows, sampling_rows = False, [], []
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([str(args.mmaction2), str(Path(__file__).with_name('mmaction2_reference.py')), tmp,
                              '--frames', str(args.frames)], capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f'mmaction2_reference.py failed under {args.mmaction2}:\n{run.stderr[-3000:]}')
        reference = json.loads((Path(tmp) / 'reference.json').read_text())
        frames = torch.from_numpy(np.load(Path(tmp) / 'frames.npy'))  # (T, H, W, 3) uint8
        for filename, reference_run in reference['recognizers'].items():
            model, _ = convert_recognizer(Path(tmp) / filename)
            clip = eval_transform(model.pretrained_cfg)(frames.permute(0, 3, 1, 2)[None], 0)  # (1, C, T, h, w)
            with torch.no_grad():
                ours = model(clip)[0]
            theirs = torch.tensor(reference_run['logits'])
            diff, top = (theirs - ours).abs().max().item(), theirs.abs().max().item()
            failed |= diff > args.atol * max(1.0, top)
            arch = model.pretrained_cfg['architecture']
            print(f'mmaction2 {filename}: {arch}: max |logit difference| {diff:.2e} (logits up to {top:.2f})')
            method = {'tsn': 'TSN', 'tsm': 'TSM', 'tanet': 'TANet', 'c2d': 'C2D (-nopool)'}[filename.split('_', 1)[0]]
            rows.append(f'| {method} | {arch} | {reference_run["model"]} | {diff:.1e} | {top:.2f} |')
    for key, by_length in reference['sampling'].items():
        clip_len, interval, clips = map(int, key.split(','))
        sampling = 'segments' if clip_len == 1 else 'dense'
        length = clips if clip_len == 1 else clip_len  # TSN: one frame from each of num_clips segments
        views = 1 if clip_len == 1 else clips
        # csst-zoo refuses a video shorter than its segments (mmaction2 repeats frames there)
        by_length = {n: want for n, want in by_length.items() if sampling == 'dense' or int(n) >= length}
        equal = all(clip_indices(int(n), length, False, views, sampling, interval).flatten().tolist() == want
                    for n, want in by_length.items())
        failed |= not equal
        print(f'SampleFrames({clip_len}, {interval}, {clips}) vs {sampling}: {"equal" if equal else "DIFFERENT"}')
        sampling_rows.append(f'| SampleFrames(clip_len={clip_len}, frame_interval={interval}, num_clips={clips}) | '
                             f'{sampling}, {length} frames{f" x {views} clips" if views > 1 else ""} | '
                             f'{", ".join(by_length)} | {"equal" if equal else "**different**"} |')
    return failed, rows, sampling_rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    for name in BUILDERS:
        p.add_argument(f'--{name}', type=Path, help=f'clone of the official {name.upper()} repository')
    p.add_argument('--mmaction2', type=Path, help='a Python with mmaction2 1.2.0 (a throwaway environment)')
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--classes', type=int, default=174, help="classes of the authors' models")
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--atol', type=float, default=1e-4, help='allowed difference, relative to max(1, max abs logit)')
    p.add_argument('-o', '--output', help='also write the results as a markdown table here (atomically)')
    args = p.parse_args(argv)
    if not any(getattr(args, n) for n in (*BUILDERS, 'mmaction2')):
        p.error('give at least one of --tsm, --gst, --tam (a clone of the official repository) or --mmaction2')
    torch.manual_seed(0)
    failed, rows = authors_rows(args)
    mm_failed, mm_rows, sampling_rows = mmaction2_rows(args) if args.mmaction2 else (False, [], [])
    if args.output:
        tables = [f'{results_header(device_name("cpu"))}: float32, {args.frames}-frame clips at '
                  f'{args.size}x{args.size}, random weights and BatchNorm statistics; allowed difference '
                  f'{args.atol:g} x max(1, max abs logit).']
        if rows:
            tables += ['', f"The authors' code ({args.classes} classes, the same normalised clip on both sides):", '',
                       "| method | csst-zoo model | authors' code (clone) | max abs logit difference | max abs logit |",
                       '|---|---|---|---:|---:|', *rows]
        if mm_rows:
            tables += ['', "mmaction2 1.2.0's own code (its config files; the same raw frames, each side through "
                           'its own crop and normalisation):', '',
                       '| method | csst-zoo model | mmaction2 recognizer / backbone / head | max abs logit difference '
                       '| max abs logit |', '|---|---|---|---:|---:|', *mm_rows,
                       '', "Frame indices of mmaction2's SampleFrames in test mode and csst-zoo's sampling:", '',
                       '| mmaction2 | csst-zoo | video lengths (frames) | indices |', '|---|---|---|---|',
                       *sampling_rows]
        write_atomic(args.output, '\n'.join(tables) + '\n')
    return 1 if failed or mm_failed else 0


if __name__ == '__main__':
    sys.exit(main())
