"""Logit parity with the authors' own code: TSM, GST and TAM.

    python benchmarks/official_parity.py --tsm PATH/temporal-shift-module --gst PATH/GST-video \\
        --tam PATH/temporal-adaptive-module

Each PATH is a clone of the official repository (mit-han-lab/temporal-shift-module,
chenxuluo/GST-video, liu-zhy/temporal-adaptive-module); nothing of them is part of csst-zoo.
For each given family the script builds the official model from its repository (ImageNet
downloads replaced by random weights, so no network is needed), randomises every weight and
BatchNorm statistic, saves the state dict as the authors' training scripts do
(``{'state_dict': DataParallel keys}``), converts that file with ``csst_zoo.convert``, and runs
both models on the same clip in eval mode. It prints the largest absolute logit difference
(float32, CPU) and exits non-zero when one exceeds ``--atol``.
"""
import argparse
import contextlib
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
import torchvision

from csst_zoo._io import write_atomic
from csst_zoo.convert import convert_checkpoint
from _measure import command_line, device_name


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


def randomise(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affines, and a classifier of std 0.05 (the official init
    leaves BN at identity and new_fc at std 0.001); the convs keep their random (Kaiming) init, so
    the activations, and the logits, stay of order 1."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if 'new_fc' in name:
                t.normal_(0, 0.05)
            elif name.endswith('running_var'):
                t.uniform_(0.5, 1.5)
            elif name.endswith('running_mean') or (name.endswith('bias') and t.ndim == 1):
                t.uniform_(-0.1, 0.1)
            elif name.endswith('weight') and t.ndim == 1:
                t.uniform_(0.5, 1.0)


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    for name in BUILDERS:
        p.add_argument(f'--{name}', type=Path, help=f'clone of the official {name.upper()} repository')
    p.add_argument('--frames', type=int, default=8)
    p.add_argument('--classes', type=int, default=174)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--atol', type=float, default=1e-4)
    p.add_argument('-o', '--output', help='also write the results as a markdown table here (atomically)')
    args = p.parse_args(argv)
    chosen = [n for n in BUILDERS if getattr(args, n)]
    if not chosen:
        p.error('give at least one of --tsm, --gst, --tam (a clone of the official repository)')
    torch.manual_seed(0)
    failed, rows = False, []
    for name in chosen:
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
        diff = (theirs - ours).abs().max().item()
        failed |= diff > args.atol
        print(f'{name}: {model.pretrained_cfg["architecture"]}, {args.frames} frames, {args.size}x{args.size}, '
              f'{args.classes} classes: max |logit difference| {diff:.2e} (logits up to {theirs.abs().max():.2f}; '
              f'allowed {args.atol:g})')
        rows.append(f'| {name} | {model.pretrained_cfg["architecture"]} | {getattr(args, name).name} | '
                    f'{diff:.1e} | {theirs.abs().max():.2f} |')
    if args.output:
        command = command_line()
        write_atomic(args.output, '\n'.join([
            f'`{command}` on {device_name("cpu")}, torch {torch.__version__}, '
            f'{datetime.now(timezone.utc):%Y-%m-%d}: float32, {args.frames}x{args.size}x{args.size} clips, '
            f'{args.classes} classes, random weights and BatchNorm statistics; allowed difference {args.atol:g}.',
            '', "| method | csst-zoo model | authors' code (clone) | max abs logit difference | max abs logit |",
            '|---|---|---|---:|---:|', *rows]) + '\n')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
