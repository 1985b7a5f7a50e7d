"""The ``csst-zoo`` command (also ``python -m csst_zoo``)."""
import argparse
import ctypes
import dataclasses
import json
import os
import shlex
import sys

from timm.utils import ParseKwargs

from ._io import write_atomic
from .export import EXPORT_FORMATS, export_model
from .hub import model_card, model_config
from .models._factory import create_named_model


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('model', help="a model name (csst_zoo.list_models()), 'hf-hub:ORG/REPO' or 'local-dir:PATH'")
    p.add_argument('--checkpoint', help='trained weights to load: a video checkpoint of this architecture')
    p.add_argument('--num-classes', type=int, help='classes of the head (must match --checkpoint)')
    p.add_argument('--model-kwargs', nargs='*', default={}, action=ParseKwargs,
                   help='more model arguments as key=value, e.g. alpha=0.25 groups=4')


def build_kwargs(args) -> dict:
    kwargs = dict(args.model_kwargs)
    if args.num_classes is not None:
        kwargs['num_classes'] = args.num_classes
    return kwargs


def build_model(args):
    return create_named_model(args.model, checkpoint_path=args.checkpoint, **build_kwargs(args))


def _say_if_untrained(model) -> None:
    from .engine import untrained_notice
    notice = untrained_notice(model)
    if notice:
        sys.stderr.write(notice + '\n')


def export_command(args) -> None:
    model = build_model(args)
    path = export_model(model, args.output, args.format, frames=args.frames, size=args.size, verify=not args.no_verify)
    print(f'wrote {path} ({args.format or path.suffix[1:]}; checked against eager PyTorch)'
          if not args.no_verify else f'wrote {path}')


def model_card_command(args) -> None:
    model = build_model(args)
    text = model_card(model_config(model), repo_id=args.repo_id, dataset=args.dataset, model=model)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)


def convert_command(args) -> None:
    from .convert import convert_checkpoint
    from .hub import save_pretrained
    labels = None
    if args.labels:
        try:
            labels = [line.strip() for line in open(args.labels, encoding='utf-8') if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f'cannot read --labels {args.labels!r}: {e}') from None
    extra = dict(args.model_kwargs)
    if args.family == 'mmaction2':
        from .mmaction2 import convert_recognizer
        if args.release is not None:
            raise ValueError('--release is for the authors\' files; an mmaction2 release is known by its file name')
        model, origin = convert_recognizer(args.checkpoint, num_frames=args.num_frames, **extra)
    else:
        model, origin = convert_checkpoint(args.family, args.checkpoint, num_frames=args.num_frames,
                                           release=args.release, **extra)
    if labels is not None and len(labels) != model.num_classes:
        raise ValueError(f'--labels {args.labels!r} names {len(labels)} classes (one per non-empty line), the '
                         f'checkpoint has {model.num_classes}; nothing was written')
    save_pretrained(model, args.output, labels=labels, converted_from=origin)
    arch = model.pretrained_cfg['architecture']
    print(f'wrote {args.output} ({arch}, {model.num_classes} classes, {model.num_frames} frames'
          f'{", " + ", ".join(f"{k}={v}" for k, v in model.family_args.items()) if model.family_args else ""}); '
          f"load it with csst_zoo.create_model('local-dir:{args.output}')")


PROTOCOL = 'protocol'  # eval --views: those of the checkpoint's published figure


def _views(text: str, protocol: bool = False):
    if protocol and text.lower() == PROTOCOL:
        return PROTOCOL
    try:
        clips, crops = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f"views are CLIPSxCROPS, e.g. 1x1 or 2x3"
                                         f"{' or protocol' if protocol else ''}, got {text!r}") from None
    if clips < 1 or crops not in (1, 3, 10):
        raise argparse.ArgumentTypeError(f'views: clips >= 1 and crops 1, 3 or 10, got {text!r}')
    return clips, crops


def _views_argument(p: argparse.ArgumentParser, protocol: bool = False) -> None:
    """--views of eval (with 'protocol') and predict (one answer per video)."""
    p.add_argument('--views', type=(lambda text: _views(text, protocol=True)) if protocol else _views, default=(1, 1),
                   help='CLIPSxCROPS: 1x1 (default), 2x3 (the paper), 1x10 (ten crops), averaged'
                        + ("; or 'protocol': the views, sizes and view averaging of the checkpoint's published figure "
                           '(the mmaction2 tags)' if protocol else ''))


def _protocol_views(model, views):
    """(clips, crops, protocol) of --views: CLIPSxCROPS as given, or 'protocol': the views and sizes of
    the test behind the checkpoint's published figure."""
    if views != PROTOCOL:
        return (*views, False)
    test = model.pretrained_cfg.get('test_views')
    if not test:
        raise ValueError(f"--views protocol: {model.pretrained_cfg.get('architecture')} comes with no published "
                         'test protocol (only the mmaction2 tags do: csst-zoo models); give CLIPSxCROPS, e.g. 1x1 '
                         'or 2x3')
    return test['clips'], test['crops'], True


def train_options(p: argparse.ArgumentParser) -> None:
    """``train``'s options, one per ``TrainConfig`` field, with the field's help: a default lives in
    the dataclass alone. Options left out stay out of the namespace (``SUPPRESS``), so that a recipe
    (``--config``) fills them and the command line overrides it."""
    import typing
    from .engine import TrainConfig
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        meta, flag = dict(field.metadata), '--' + field.name.replace('_', '-')
        kind = next((a for a in typing.get_args(hints[field.name]) if a is not type(None)), hints[field.name])
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        shown = ('' if default in (None, dataclasses.MISSING, {}) or (kind is bool and default is not True)
                 else ' (default: on)' if default is True else f' (default: {default})')
        kwargs = dict(help=(meta.pop('help') + shown).strip() or None, default=argparse.SUPPRESS)
        negate = meta.pop('negate', False)
        if negate:
            kwargs['help'] = kwargs['help'].replace(' (default: on)', '')
        if field.name == 'model':
            p.add_argument('model', nargs='?', **kwargs)
        elif kind is bool and negate:
            p.add_argument(f'--no-{flag[2:]}', dest=field.name, action='store_false', **kwargs)
        elif kind is bool:
            p.add_argument(flag, action='store_true' if default is False else argparse.BooleanOptionalAction,
                           **kwargs)
        elif field.name == 'model_kwargs':
            p.add_argument(flag, nargs='*', action=ParseKwargs, **kwargs)
        else:
            p.add_argument(flag, type=kind, **meta, **kwargs)
    p.add_argument('--config', help='a recipe: a YAML or JSON file of these options (field names, e.g. '
                                    'warmup_epochs: 5), as a run writes to OUTPUT/config.yaml; the command line '
                                    'overrides it. Recipes ship in recipes/')


def train_config(args):
    """The ``TrainConfig`` of a ``train`` command line: the recipe of ``--config``, overridden by the
    options given; a missing required one is a ValueError naming it."""
    from .data import SYNTHETIC
    from .engine import TrainConfig, read_recipe
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    values = {**(read_recipe(args.config) if args.config else {}),
              **{k: v for k, v in vars(args).items() if k in fields}}
    missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        flags = ' and '.join(m if m == 'model' else f'--{m}' for m in missing)
        raise ValueError(f'train needs {", ".join(missing)}: give {flags} on the command line or in the --config '
                         'recipe')
    cfg = TrainConfig(**values)
    if cfg.data_root is None and cfg.dataset != SYNTHETIC:
        raise ValueError(f'--data-root is required for --dataset {cfg.dataset} (its folder, or the CSV file for '
                         f'csv); only --dataset {SYNTHETIC} needs none')
    if cfg.synthetic_clips < 1:
        raise ValueError(f'--synthetic-clips must be a positive number of clips per epoch, got {cfg.synthetic_clips}')
    return cfg


def train_command(args) -> None:
    from .engine import fit
    row = fit(train_config(args))
    # every rank reports its weights: equal digests show a DDP run kept its replicas in sync.
    # One write per line: print() writes the text and the newline separately, and with
    # unbuffered output the ranks' lines interleave.
    sys.stdout.write(f"rank {os.environ.get('RANK', 0)}: weights sha256 {row['weights_sha256']}\n")
    sys.stdout.flush()


def _inference_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('--amp', action='store_true',
                   help='run the model under autocast: bf16 (fp16 on GPUs without it); faster on GPUs and on CPUs '
                        'that compute in bf16, with probabilities that differ slightly from fp32')
    p.add_argument('--channels-last', action='store_true',
                   help='clips and weights in channels_last_3d (faster on GPUs and most CPUs)')


def _model_for_inference(model, args):
    """``model`` on the inference device in the layout of --channels-last, and that layout; cuDNN's
    autotuner on, as in timm's inference and validation scripts (every batch has the same shape)."""
    import torch
    from .engine import clip_memory_format, inference_device
    torch.backends.cudnn.benchmark = True
    memory_format = clip_memory_format(args.channels_last)
    return model.to(inference_device(), memory_format=memory_format), memory_format


def eval_command(args) -> None:
    from .data import VideoDataset, eval_transform, read_dataset, sampling_args
    from .engine import evaluate
    model = build_model(args)
    _say_if_untrained(model)
    samples, names = read_dataset(args.dataset, args.data_root, args.split)
    if len(names) != model.num_classes:
        raise ValueError(f'the data set has {len(names)} classes, the model {model.num_classes}: '
                         f'pass the trained checkpoint (or --num-classes {len(names)})')
    clips, crops, protocol = _protocol_views(model, args.views)
    cfg = model.pretrained_cfg
    dataset = VideoDataset(samples, cfg['input_size'][1], eval_transform(cfg, crops, protocol), train=False,
                           clips=clips, **sampling_args(cfg))
    model, memory_format = _model_for_inference(model, args)
    metrics = evaluate(model, dataset, len(names), args.batch_size, args.workers, amp=args.amp,
                       progress=not args.no_progress, memory_format=memory_format)
    metrics['per_class_top1'] = dict(zip(names, metrics['per_class_top1']))
    metrics['views'] = f'{clips}x{crops}'
    text = json.dumps(metrics, indent=2) + '\n'
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)


def _return_freed_memory() -> None:
    """On glibc, serve every allocation of 128 KiB or more (decoded and cropped frames, activations)
    with mmap, so that it goes back to the OS when freed. glibc's default threshold adapts upwards
    after such frees and moves them onto the heap, whose fragments then grow with every frame, so
    that a long video would peak higher than a short one (benchmarks/predict_memory.py)."""
    if sys.platform.startswith('linux'):
        try:
            ctypes.CDLL('libc.so.6').mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            pass  # another C library: no adaptive threshold to pin


def predict_command(args) -> None:
    from .engine import predict_timeline, predict_video
    from .engine.collection import is_collection
    from .engine.timeline import check_outputs
    collection = is_collection(args.video)
    if args.window is None:
        for flag in ('stride', 'plot', 'fps'):
            if getattr(args, flag) is not None:
                raise ValueError(f'--{flag} belongs to a timeline: give --window too (e.g. --window 2s --stride 1s)')
    else:
        if collection:
            raise ValueError(f'--window makes a timeline of one video, and {args.video} names a collection: give one '
                             'video file or frame folder')
        if args.views != (1, 1):
            raise ValueError('--views is for one answer per video; a timeline samples 1 clip x 1 crop per window')
        if args.resume:
            raise ValueError('--resume continues a predictions file of a collection; a timeline is written whole')
        check_outputs(args.output, args.plot)
    if args.resume and not args.output:
        raise ValueError('--resume adds to a predictions file: give it with -o/--output (.csv or .jsonl)')
    _return_freed_memory()
    if args.window is None and (collection or args.output):
        return _predict_collection(args)
    model = build_model(args)
    _say_if_untrained(model)
    model, memory_format = _model_for_inference(model, args)
    if args.window is None:
        clips, crops = args.views
        for name, p in predict_video(model, args.video, clips, crops, args.topk, args.amp, memory_format):
            print(f'{100 * p:6.2f}%  {name}')
        return
    timeline = predict_timeline(model, args.video, args.window, args.stride or args.window, fps=args.fps,
                                batch_size=args.batch_size or 1, progress=not args.no_progress, amp=args.amp,
                                memory_format=memory_format)
    if args.output:
        timeline.save(args.output, args.topk)
    if args.plot:
        timeline.plot(args.plot)
    if not args.output:
        for row in timeline.rows(args.topk):
            where = (f"{row['start']:8.2f}s-{row['end']:8.2f}s" if row['start'] is not None
                     else f"frames {row['start_frame']}-{row['end_frame']}")
            print(where + '  ' + '  '.join(f"{100 * t['probability']:5.1f}% {t['label']}" for t in row['top']))


def _predict_collection(args) -> None:
    """One row per video of a collection (or of one video with -o), written as each finishes."""
    import time
    from tqdm import tqdm
    from ._checks import check_positive_int
    from ._shards import job_place, use_local_device
    from .engine.collection import PredictionWriter, check_output, list_videos, model_id, predict_videos
    rank, world = job_place()
    if world > 1 and not args.output:
        raise ValueError(f'under torchrun ({world} processes) each predicts a share of the videos into one output: '
                         'give it with -o/--output (.csv or .jsonl)')
    check_positive_int('topk', args.topk)
    if args.batch_size is not None:
        check_positive_int('batch_size', args.batch_size)
    if args.workers < 0:
        raise ValueError(f'--workers must be >= 0 (0 loads the videos in this process), got {args.workers}')
    if args.output:
        check_output(args.output)
    videos = list_videos(args.video)
    use_local_device()
    model = build_model(args)
    _say_if_untrained(model)
    model, memory_format = _model_for_inference(model, args)
    writer = PredictionWriter(args.output, model_id(model), min(args.topk, model.num_classes),
                              resume=args.resume) if args.output else None
    todo = writer.wanted(videos) if writer else videos
    clips, crops = args.views
    counts, start = {'predicted': 0, 'failed': 0}, time.perf_counter()
    bar = tqdm(total=len(todo), unit='video', desc='predict' if world == 1 else f'predict (rank {rank})',
               disable=args.no_progress or writer is None)
    try:
        for p in predict_videos(model, todo, clips, crops, args.topk, args.batch_size or 8, args.workers, args.amp,
                                memory_format):
            counts['failed' if p.error else 'predicted'] += 1
            if writer:
                writer.write(p)
            elif p.error:
                print(f'{p.path}  error: {p.error}', flush=True)
            else:
                print(f'{p.path}  ' + '  '.join(f'{100 * prob:5.1f}% {label}' for label, prob in p.top), flush=True)
            bar.update()
        bar.close()
        if writer:
            writer.finish()
    except KeyboardInterrupt:
        counts['interrupted'] = True
        raise
    finally:
        bar.close()
        if writer:
            writer.close()
        elapsed = time.perf_counter() - start
        done = counts['predicted'] + counts['failed']
        skipped = f', {len(videos) - len(todo)} already in {args.output}' if len(todo) < len(videos) else ''
        if world > 1:  # the videos this rank did not take are done or the other ranks'
            skipped = f' (rank {rank} of {world}: {len(todo)} of {len(videos)} videos)'
        print(f"{counts['predicted']} predicted, {counts['failed']} failed{skipped}; {done / elapsed:.2f} videos/s "
              f'over {elapsed:.1f} s' + ('; interrupted: run it again with --resume to finish'
                                        if counts.get('interrupted') and writer else ''), file=sys.stderr)


def demo_command(args) -> None:
    from .demo import build_app, launch
    if not 0 < args.port < 65536:
        raise ValueError(f'--port must be in 1..65535, got {args.port}')
    app = build_app(args.model, checkpoint=args.checkpoint, window=args.window, stride=args.stride,
                    max_upload_mb=args.max_upload_mb, concurrency=args.concurrency, queue_size=args.queue_size,
                    time_limit=args.time_limit, **build_kwargs(args))
    launch(app, args.host, args.port)


def models_command(args) -> None:
    from .models._table import weights_table
    table = weights_table(args.pattern, markdown=args.markdown or bool(args.output))
    if table.count('\n') < 2:
        raise ValueError(f'no model matches {args.pattern!r}; a pattern is fnmatch-style, e.g. "tsm_*" or "*k400*"')
    if args.output:
        command = 'csst-zoo models' + (f' {shlex.quote(args.pattern)}' if args.pattern else '') + f' -o {args.output}'
        write_atomic(args.output, f'`{command}`: every model of csst-zoo and the weights it can load by name.\n\n'
                                  + table)
    else:
        sys.stdout.write(table)


def prepare_command(args) -> None:
    import time
    from ._shards import job_place
    from .data.prepare import LIST_NAME, REPORT_NAME, PrepareOptions, prepare_collection
    options = PrepareOptions(args.short_side, args.keyframe_interval, args.fps, args.frames, args.jpeg_quality)
    start = time.perf_counter()
    try:
        counts = prepare_collection(args.src, args.dst, options, args.workers, args.resume, not args.no_progress)
    except KeyboardInterrupt:
        print(f'interrupted: run it again with --resume to finish ({args.dst}/{REPORT_NAME} has what is done)',
              file=sys.stderr)
        raise
    done = counts['prepared'] + counts['failed']
    rank, world = job_place()
    where = f' (rank {rank} of {world})' if world > 1 else ''
    skipped = f", {counts['skipped']} already done" if counts['skipped'] else ''
    errors = f' (their errors are in {args.dst}/{REPORT_NAME})' if counts['failed'] else ''
    print(f"{counts['prepared']} prepared, {counts['failed']} failed{errors}{skipped}{where}; "
          f"{done / (time.perf_counter() - start):.2f} videos/s; list: {args.dst}/{LIST_NAME}", file=sys.stderr)


def space_command(args) -> None:
    from .demo import write_space
    folder = write_space(args.output, args.model, requirement=args.requirement, title=args.title)
    print(f'wrote {folder}/app.py, requirements.txt and README.md; upload with: '
          f'hf upload ORG/SPACE {folder} --repo-type space')


def _export_parser(sub) -> None:
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


def _model_card_parser(sub) -> None:
    c = sub.add_parser('model-card', help="render a model's card (README.md with Hub metadata)",
                       description='Render the model card that save_pretrained / push_to_hub write for a model; '
                                   'params and FLOPs are measured. MODEL_CARD.md of the repository is '
                                   '`csst-zoo model-card csst_resnet50 --num-classes 174 --repo-id org/csst_resnet50`.')
    _model_arguments(c)
    c.add_argument('--repo-id', help='the Hub repo the card is for (shown in the loading examples)')
    c.add_argument('--dataset', help='the data set the weights were trained on (card metadata)')
    c.add_argument('-o', '--output', help='file to write (atomically); default: standard output')
    c.set_defaults(run=model_card_command)


def _convert_parser(sub) -> None:
    from .families import FAMILIES
    convertible = sorted(n for n, f in FAMILIES.items() if f.card.official)
    k = sub.add_parser('convert', help="convert an authors' (TSM, GST, TAM) or mmaction2's released checkpoint to a "
                                       'csst-zoo one',
                       description="Read the authors' .pth / .pth.tar (any DataParallel or state_dict wrapping), or "
                                   "an mmaction2 recognizer's .pth (TSN, TSM, TANet, C2D -nopool), map every tensor "
                                   'onto the csst-zoo model and write model.safetensors, config.json and a model card '
                                   'to OUTPUT, loadable as local-dir:OUTPUT.')
    k.add_argument('family', choices=convertible + ['mmaction2'],
                   help="the authors' family, or mmaction2 for its recognizers (the family is read from the file)")
    k.add_argument('checkpoint', help='the official checkpoint file')
    k.add_argument('-o', '--output', required=True, help='folder to write (created; all three files or none)')
    k.add_argument('--labels', help='class names, one per line, as many as the checkpoint has classes')
    k.add_argument('--num-frames', type=int, help="clip length (default: from the file's name, e.g. segment8, or 8; "
                                                   "TAM: from its weights)")
    k.add_argument('--release', help="which of the authors' published checkpoints the file is, for the reported "
                                     'accuracy in the card (default: recognised from its name when possible): ' +
                                     '; '.join(f'{n}: ' + ', '.join(r.id for r in FAMILIES[n].card.official.releases)
                                               for n in convertible))
    k.add_argument('--model-kwargs', nargs='*', default={}, action=ParseKwargs,
                   help="family arguments the file does not hold, as key=value (e.g. TSM's fold_div=8)")
    k.set_defaults(run=convert_command)


def _train_parser(sub) -> None:
    t = sub.add_parser('train', help="fine-tune a model on a video data set (the paper's recipe by default)",
                       description="Fine-tune on a video data set; defaults are the paper's recipe. Distributed: "
                                   "torchrun --nproc_per_node N -m csst_zoo train ...")
    train_options(t)
    t.set_defaults(run=train_command)


def _eval_parser(sub) -> None:
    from .data import DATASETS, SPLITS
    v = sub.add_parser('eval', help='top-1/top-5 and per-class accuracy on a data set split')
    _model_arguments(v)
    v.add_argument('--dataset', required=True, choices=sorted(DATASETS))
    v.add_argument('--data-root', required=True)
    v.add_argument('--split', default='validation', choices=SPLITS)
    _views_argument(v, protocol=True)
    v.add_argument('--batch-size', type=int, default=8)
    v.add_argument('--workers', type=int, default=4)
    _inference_arguments(v)
    v.add_argument('--no-progress', action='store_true')
    v.add_argument('-o', '--output', help='write the metrics JSON here (atomically); default: standard output')
    v.set_defaults(run=eval_command)


def _predict_parser(sub) -> None:
    r = sub.add_parser('predict', help='the top-5 classes of a video or of a collection of videos, or a timeline',
                       description='Without --window: one answer per video (TSN sampling, as in eval). VIDEO may '
                                   'name a collection (a folder of videos, a glob pattern, a .csv list with a path '
                                   'column): its videos go through a loader with workers in batches, and with -o each '
                                   'gets a row, written as it finishes; --resume skips those already there. With '
                                   '--window: the top classes of every window of one video, in one streaming pass.')
    _model_arguments(r)
    r.add_argument('video', help="a video file or frame folder; or a folder of videos, a glob ('clips/**/*.mp4') or a "
                                 '.csv list with a path column')
    _views_argument(r)
    r.add_argument('--topk', type=int, default=5)
    r.add_argument('--window', help="classify windows this long: seconds ('2', '1.5s') or frames ('16f')")
    r.add_argument('--stride', help='start a window every STRIDE (same unit as --window; default: --window)')
    r.add_argument('--fps', type=float, help='frame rate of a frame folder, for windows in seconds')
    r.add_argument('--batch-size', type=int, help='videos (default 8), or windows of a timeline (default 1), per '
                                                  'forward pass; more use more memory')
    r.add_argument('--workers', type=int, default=2, help='loader processes for a collection (0: load in this one)')
    r.add_argument('-o', '--output', help='predictions: a .csv or .jsonl file gaining a row per video; a timeline '
                                          '(--window): a .csv or .json file, written atomically')
    r.add_argument('--resume', action='store_true', help='add to an existing -o predictions file the videos it lacks')
    _inference_arguments(r)
    r.add_argument('--plot', help='draw class probability over time to a .png (needs matplotlib)')
    r.add_argument('--no-progress', action='store_true')
    r.set_defaults(run=predict_command)


def _demo_parser(sub) -> None:
    from .demo import DEFAULT_MAX_UPLOAD_MB, DEFAULT_QUEUE_SIZE, DEFAULT_TIME_LIMIT
    d = sub.add_parser('demo', help='a web page to try the model on your videos (needs the demo extra: gradio)',
                       description='Serve a page where a video can be uploaded (or an example picked) to see its '
                                   'top-5 classes and a timeline of the top classes per window. Only this machine '
                                   'can reach it unless --host says otherwise.')
    _model_arguments(d)
    d.add_argument('--host', default='127.0.0.1', help="address to serve on (default: 127.0.0.1; '0.0.0.0': every "
                                                        'network this machine is on)')
    d.add_argument('--port', type=int, default=7860)
    d.add_argument('--window', default='2s', help="timeline windows: seconds ('2', '1.5s') or frames ('16f')")
    d.add_argument('--stride', default='1s', help='start a timeline window every STRIDE (same unit as --window)')
    d.add_argument('--max-upload-mb', type=float, default=DEFAULT_MAX_UPLOAD_MB,
                   help=f'largest video the page accepts, in MB (default {DEFAULT_MAX_UPLOAD_MB})')
    d.add_argument('--concurrency', type=int, help='videos classified at once (default: 1 on the CPU, 2 on a GPU); '
                                                   'the others wait in a queue, their place shown on the page')
    d.add_argument('--queue-size', type=int, default=DEFAULT_QUEUE_SIZE,
                   help=f'videos that may wait (default {DEFAULT_QUEUE_SIZE}); one more is refused with a message')
    d.add_argument('--time-limit', type=float, default=DEFAULT_TIME_LIMIT,
                   help=f"seconds a video's timeline may take (default {DEFAULT_TIME_LIMIT}); a longer one is stopped "
                        'with a message')
    d.set_defaults(run=demo_command)


def _models_parser(sub) -> None:
    m = sub.add_parser('models', help='list every model and its weights: data set, frames, published top-1, source, '
                                      'license',
                       description='One row per name.tag: what the weights were trained on, how the model samples '
                                   'frames (T segments, or T frames every N), the accuracy its publisher reports with '
                                   'the test protocol, where the weights come from and their license.')
    m.add_argument('pattern', nargs='?', default='', help='fnmatch pattern, e.g. "tsm_*" or "*k400*"')
    m.add_argument('--markdown', action='store_true', help='a markdown table instead of aligned text')
    m.add_argument('-o', '--output', help='write the markdown table here (atomically), as results/weights.md is')
    m.set_defaults(run=models_command)


def _prepare_parser(sub) -> None:
    from .data.prepare import LIST_NAME, REPORT_NAME, PrepareOptions
    defaults = PrepareOptions()
    r = sub.add_parser('prepare', help='prepare a collection once for training and prediction: a smaller short side '
                                       'and frequent key frames, or JPEG frames; with its annotation list',
                       description=f'Every video of SRC becomes, under DST at the same relative path, an H.264 .mp4 '
                                   f'(or with --frames a folder of JPEG frames 00001.jpg ...); DST/{LIST_NAME} lists '
                                   f'them with their labels (from the folder a video is in, or a label column of a CSV '
                                   f'list) and splits (train/val/validation/test top folders, or a split column) for '
                                   f'train/eval --dataset csv --data-root DST/{LIST_NAME}; DST/{REPORT_NAME} has a row '
                                   'per source, with its error if it could not be read. Runs under torchrun too: each '
                                   'process takes a share.')
    r.add_argument('src', help="a folder of videos, a glob ('clips/**/*.mp4') or a .csv list with a path column")
    r.add_argument('dst', help='the folder to write (created; not inside SRC)')
    r.add_argument('--short-side', type=int, default=defaults.short_side,
                   help=f'the frames\' shorter side in pixels, even (default {defaults.short_side})')
    r.add_argument('--keyframe-interval', type=float, default=defaults.keyframe_interval,
                   help=f'seconds between key frames (default {defaults.keyframe_interval:g}): a clip is reached by a '
                        'seek to the key frame before it')
    r.add_argument('--fps', type=float, help='resample to this frame rate (default: keep every frame)')
    r.add_argument('--frames', action='store_true', help='write folders of JPEG frames instead of videos')
    r.add_argument('--jpeg-quality', type=int, default=defaults.jpeg_quality,
                   help=f'quality of --frames (1-100, default {defaults.jpeg_quality})')
    r.add_argument('--workers', type=int, help='processes, one video each at a time (default: one per core, shared '
                                               "among a machine's torchrun processes; 0: this process)")
    r.add_argument('--resume', action='store_true', help=f'finish a run that stopped: skip the sources DST/{REPORT_NAME} '
                                                         'already has')
    r.add_argument('--no-progress', action='store_true')
    r.set_defaults(run=prepare_command)


def _space_parser(sub) -> None:
    s = sub.add_parser('space', help='write the files of a Hugging Face Space that runs the demo for a checkpoint',
                       description='Writes app.py, requirements.txt and README.md (sdk: gradio, models: REPO); '
                                   'upload the folder with: hf upload ORG/SPACE DIR --repo-type space')
    s.add_argument('model', help="'hf-hub:ORG/REPO' (the checkpoint the Space loads) or a registered name")
    s.add_argument('-o', '--output', required=True, help='folder to write (created; all three files or none)')
    s.add_argument('--requirement', help='the pip line that installs csst-zoo in the Space (default: this version '
                                         'with the demo extra)')
    s.add_argument('--title')
    s.set_defaults(run=space_command)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='csst-zoo', description='CSST-Net and its baselines as video classifiers.')
    sub = p.add_subparsers(dest='command', required=True)
    for add in (_export_parser, _model_card_parser, _convert_parser, _train_parser, _eval_parser, _predict_parser,
                _demo_parser, _models_parser, _prepare_parser, _space_parser):
        add(sub)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, RuntimeError, ImportError, OSError) as e:
        print(f'csst-zoo {args.command}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130  # the shell's code for a run stopped by SIGINT; what was written stays
    return 0
