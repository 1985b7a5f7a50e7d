"""The ``csst-zoo`` command (also ``python -m csst_zoo``)."""
import argparse
import sys

from timm.utils import ParseKwargs

from ._io import write_atomic
from .export import EXPORT_FORMATS, export_model
from .hub import model_card, model_config
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


def model_card_command(args) -> None:
    text = model_card(model_config(build_model(args)), repo_id=args.repo_id, dataset=args.dataset)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)


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
    c = sub.add_parser('model-card', help="render a model's card (README.md with Hub metadata)",
                       description='Render the model card that save_pretrained / push_to_hub write for a model; '
                                   'params and FLOPs are measured. MODEL_CARD.md of the repository is '
                                   '`csst-zoo model-card csst_resnet50 --num-classes 174 --repo-id org/csst_resnet50`.')
    _model_arguments(c)
    c.add_argument('--repo-id', help='the Hub repo the card is for (shown in the loading examples)')
    c.add_argument('--dataset', help='the data set the weights were trained on (card metadata)')
    c.add_argument('-o', '--output', help='file to write (atomically); default: standard output')
    c.set_defaults(run=model_card_command)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, RuntimeError, ImportError, OSError) as e:
        print(f'csst-zoo {args.command}: error: {e}', file=sys.stderr)
        return 2
    return 0
