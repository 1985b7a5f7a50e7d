"""The ``csst-zoo`` command (also ``python -m csst_zoo``)."""
import argparse
import sys

from timm.utils import ParseKwargs

from .export import EXPORT_FORMATS, export_model
from .models import create_model


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('model', help="a model name (csst_zoo.list_models()), 'hf-hub:ORG/REPO' or 'local-dir:PATH'")
    p.add_argument('--checkpoint', help='trained weights to load: a video checkpoint of this architecture')
    p.add_argument('--num-classes', type=int, help='classes of the head (must match --checkpoint)')
    p.add_argument('--model-kwargs', nargs='*', default={}, action=ParseKwargs,
                   help='more model arguments as key=value, e.g. alpha=0.25 groups=4')


def build_model(args):
    kwargs = dict(args.model_kwargs)
    if args.num_classes is not None:
        kwargs['num_classes'] = args.num_classes
    return create_model(args.model, checkpoint_path=args.checkpoint, **kwargs)


def export_command(args) -> None:
    model = build_model(args)
    path = export_model(model, args.output, args.format, frames=args.frames, size=args.size, verify=not args.no_verify)
    print(f'wrote {path} ({args.format or path.suffix[1:]}; checked against eager PyTorch)'
          if not args.no_verify else f'wrote {path}')


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='csst-zoo', description='CSST-Net and its baselines as video classifiers.')
    sub = p.add_subparsers(dest='command', required=True)
    e = sub.add_parser('export', help='export a model to ONNX (opset 17) or OpenVINO IR, verified against eager',
                       description='Export a model to ONNX or OpenVINO IR with dynamic batch and T axes; the '
                                   'file is checked in its runtime against eager PyTorch before it appears.')
    _model_arguments(e)
    e.add_argument('--format', choices=sorted(EXPORT_FORMATS), help='default: from the suffix of --output')
    e.add_argument('-o', '--output', required=True, help='file to write: .onnx, or .xml (+ .bin) for OpenVINO')
    e.add_argument('--frames', type=int, help="clip length T traced (default: the model's num_frames)")
    e.add_argument('--size', type=int, help='height and width traced (default: 224)')
    e.add_argument('--no-verify', action='store_true', help='skip the check against eager PyTorch')
    e.set_defaults(run=export_command)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, RuntimeError, ImportError, OSError) as e:
        print(f'csst-zoo {args.command}: error: {e}', file=sys.stderr)
        return 2
    return 0
