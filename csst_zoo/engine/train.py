"""Fine-tuning and evaluation loops, single process or distributed (torchrun).

Defaults are the paper's recipe (Section 4.2): SGD, momentum 0.9, weight decay 5e-4, lr 0.01
at a total batch of 8 scaled linearly with the batch, cosine schedule with 10 linear warm-up
epochs, dropout 0.3 before the classifier, multi-scale crop + flip, 1 clip x centre crop test.

Resuming is bit-exact: a checkpoint holds the model, optimizer, schedule, AMP scaler and RNG
states, the data order of an epoch is a function of (seed, epoch), and every random draw of a
training clip (frames, crop, flip) a function of (seed, epoch, video) (``EpochSeeded``), so
epochs 1..n then n+1.. equal one run of 1..n+1, with any number of (persistent) loader workers.
"""
import csv
import dataclasses
import hashlib
import json
import sys
import time
import typing
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from timm.scheduler import CosineLRScheduler
from timm.utils import distribute_bn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from .._io import read_mapping, staged_files, write_atomic
from .._shards import every_rank, job_place, use_local_device
from ..data import (
    DATASETS, SAMPLINGS, SYNTHETIC, SyntheticClips, VideoDataset, collate_clips, decode_clips, eval_transform,
    mirrored_classes, read_dataset, sampling_args, train_transform)
from ..hub import save_pretrained
from ..models import create_model
from .inference import amp_dtype, clip_memory_format, view_logits
from .metrics import classification_metrics

__all__ = ['TrainConfig', 'Run', 'build_run', 'train_step', 'train_one_epoch', 'validate', 'sgd', 'fit', 'evaluate',
           'read_recipe', 'write_recipe', 'weights_digest', 'EpochSeeded',
           'CHECKPOINT_NAME', 'CONFIG_NAME']

CHECKPOINT_NAME = 'last.pth'
LOG_NAME = 'log.csv'
SYNTHETIC_CLASSES = 174  # as Something-Something's
TRAIN_COLUMNS = ('epoch', 'lr', 'train_loss', 'train_top1', 'epoch_seconds', 'clips_per_s', 'data_wait')
VAL_COLUMNS = ('val_loss', 'val_top1', 'val_top5')


def option(default=dataclasses.MISSING, help: str = '', **cli):
    """A ``TrainConfig`` field: its default, once, and the help of its ``train`` option (with
    ``cli``'s argparse details: ``choices``; ``negate=True`` makes a True bool a ``--no-NAME`` flag,
    whose help then says what the flag does)."""
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=dict(help=help, **cli))
    return dataclasses.field(default=default, metadata=dict(help=help, **cli))


@dataclasses.dataclass
class TrainConfig:
    """A training run: the ``train`` command's options are these fields (``cli.py`` makes them from
    the fields and their help), a recipe file (``--config``) holds some of them, and every run
    writes all of them to ``config.yaml`` beside ``last.pth``."""
    model: str = option(help='a model name (csst_zoo.list_models()), hf-hub:ORG/REPO or local-dir:PATH')
    dataset: str = option(help=f"the data set layout; '{SYNTHETIC}': random clips in memory, for the training "
                               "loop's own speed (no files, no validation)", choices=(*sorted(DATASETS), SYNTHETIC))
    output: str = option(help='folder for last.pth, config.yaml, log.csv and best/')
    data_root: Optional[str] = option(None, 'its folder (the CSV file for --dataset csv)')
    pretrained: bool = option(True, 'random init instead of the weights the model name names (ImageNet, inflated, '
                                    'for a bare name)', negate=True)
    num_frames: int = option(8, 'frames per clip')
    sampling: Optional[str] = option(None, "frames per clip: 'segments' (TSN: one from each of --num-frames "
                                           "segments) or 'dense' (--num-frames frames --frame-interval apart); "
                                           "default: the model's (segments, or a pretrained tag's own)",
                                     choices=SAMPLINGS)
    frame_interval: Optional[int] = option(None, "the step of dense sampling; default: the model's")
    size: Optional[int] = option(None, "crop size; default: the model's (224)")
    epochs: int = option(70)
    stop_after: Optional[int] = option(None, 'train at most this many epochs in this run; --resume continues')
    warmup_epochs: int = option(10)
    batch_size: int = option(8, 'per process')
    lr: Optional[float] = option(None, 'default: 0.01 x total batch / 8')
    momentum: float = option(0.9)
    weight_decay: float = option(5e-4)
    drop_rate: float = option(0.3, 'dropout before the classifier')
    flip: Optional[bool] = option(None, 'random horizontal flip (default: on, off for jester); classes named with '
                                        'left/right/clockwise are never flipped')
    workers: int = option(4, 'loader processes per training process')
    seed: int = option(0)
    amp: Optional[bool] = option(None, 'mixed precision (default: on CUDA): bf16 where the device has it, else fp16 '
                                       'with a grad scaler')
    channels_last: bool = option(True, 'clips and weights in channels_last_3d: the frames in channels_last')
    compile: bool = option(False, 'torch.compile the model for the training steps')
    # cuDNN times every conv algorithm on the first batch of a shape and keeps the fastest, as timm's
    # train.py has it; the heuristics' pick can be far slower for 3-D and grouped convs
    cudnn_benchmark: bool = option(True, "cuDNN times each conv's algorithms on the first batch and keeps the fastest")
    decode_on_device: bool = option(False, 'JPEG frame folders: the workers only read the files; a batch\'s frames '
                                           'are decoded in one call on the training device (nvjpeg on a GPU), then '
                                           'cropped, flipped and normalised there')
    resume: bool = option(False, 'continue from OUTPUT/last.pth')
    validate: bool = option(True, "skip validation on the data set's validation split", negate=True)
    eval_every: int = option(1, 'validate every N epochs (and after the last)')
    tensorboard: bool = option(False, 'also log to OUTPUT/tensorboard')
    progress: bool = option(True, 'no progress bars', negate=True)
    model_kwargs: Dict = option({}, 'more model arguments as key=value, e.g. alpha=0.25 groups=4')
    synthetic_clips: int = option(512, f'clips per epoch of --dataset {SYNTHETIC}')


CONFIG_NAME = 'config.yaml'


def read_recipe(path) -> Dict:
    """The ``TrainConfig`` fields a recipe file (YAML or JSON, as timm's ``--config``) sets; ValueError
    for a file that is not a mapping of field names (naming the accepted ones), or for a value of
    another type than its field's or outside its choices."""
    import yaml
    recipe = read_mapping(path, 'recipe', yaml.safe_load, (yaml.YAMLError,))
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    recipe = {str(k).replace('-', '_'): v for k, v in recipe.items()}
    unknown = sorted(set(recipe) - set(fields))
    if unknown:
        raise ValueError(f'recipe {str(path)!r} sets {", ".join(unknown)}, which train does not take; '
                         f'accepted: {", ".join(fields)}')
    hints = typing.get_type_hints(TrainConfig)
    for name, value in recipe.items():
        kinds = typing.get_args(hints[name]) or (hints[name],)  # Optional[X] -> (X, NoneType)
        kinds = tuple(typing.get_origin(k) or k for k in kinds)
        if float in kinds and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:  # 1 is a float too, and YAML reads 1e-3 (no dot) as a string
                value = recipe[name] = float(value)
            except ValueError:
                pass
        fits = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        choices = fields[name].metadata.get('choices')
        if not fits or (choices and value is not None and value not in choices):
            accepted = ', '.join(map(str, choices)) if choices else ' or '.join(k.__name__ for k in kinds)
            raise ValueError(f'recipe {str(path)!r}: {name} is {value!r}; accepted: {accepted}')
    return recipe


def write_recipe(cfg: TrainConfig, path) -> None:
    """Every field of ``cfg`` as YAML, atomically: the run's own recipe (``--config`` reads it back)."""
    import yaml
    plain = json.loads(json.dumps(dataclasses.asdict(cfg)))  # tuples of model_kwargs as lists
    write_atomic(path, yaml.safe_dump(plain, sort_keys=False))


class Distributed:
    """The process's place in a torchrun job (or a single process), and its device."""

    def __init__(self):
        self.rank, self.world_size = job_place()
        use_local_device()
        self.device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() \
            else torch.device('cpu')
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group('nccl' if self.device.type == 'cuda' else 'gloo')

    @property
    def main(self) -> bool:
        return self.rank == 0


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer: equal on all ranks of a correct DDP run."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class EpochSeeded(Dataset):
    """A data set read by ``(epoch, index)`` keys (``EpochKeys``), each item drawn with the global RNG
    seeded from ``(seed, epoch, index)`` and restored after: a training clip's frames, crop and flip
    are the same whichever worker loads it, however many there are, whether they persist across
    epochs and whether the run was resumed."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash((self.seed, epoch, index)) & (2 ** 63 - 1))  # ints hash the same in every process
            return self.dataset[index]


class EpochKeys(Sampler):
    """The indices of ``sampler`` as ``(epoch, index)`` keys for ``EpochSeeded``; ``set_epoch`` sets both."""

    def __init__(self, sampler: DistributedSampler):
        self.sampler, self.epoch = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def _loader(dataset, ddp: Distributed, batch_size, workers, shuffle, seed):
    # One code path with or without DDP: the sampler's order is a function of (seed, epoch). Training
    # reads EpochSeeded items, so its workers can persist; the loader's own generator keeps it from
    # drawing from the global RNG (dropout's) when it starts workers.
    sampler = DistributedSampler(dataset, ddp.world_size, ddp.rank, shuffle=shuffle, seed=seed, drop_last=shuffle)
    if shuffle:
        dataset, sampler = EpochSeeded(dataset, seed), EpochKeys(sampler)
    loader = DataLoader(dataset, batch_size, sampler=sampler, num_workers=workers, drop_last=shuffle,
                        pin_memory=ddp.device.type == 'cuda', generator=torch.Generator().manual_seed(seed),
                        persistent_workers=shuffle and workers > 0, collate_fn=collate_clips)
    return loader, sampler


def _on_device(clips, labels, dataset, device: torch.device) -> torch.Tensor:
    """A batch's clips on ``device``; ``EncodedClip`` batches are decoded and transformed there."""
    if isinstance(clips, list):
        return decode_clips(clips, labels, dataset.transform, device)
    return clips.to(device, non_blocking=True)


@torch.no_grad()
def evaluate(model, dataset: VideoDataset, num_classes: int, batch_size: int = 8, workers: int = 4,
             ddp: Optional[Distributed] = None, amp: bool = False, progress: bool = True,
             memory_format: torch.memory_format = torch.contiguous_format) -> Dict:
    """Top-1/top-5, loss and per-class accuracy of ``model`` on ``dataset``, scoring each video by
    the average of its views' logits (``view_logits``). Under DDP every rank scores a shard and the
    results are gathered exactly once."""
    ddp = ddp or Distributed()
    loader, sampler = _loader(dataset, ddp, batch_size, workers, shuffle=False, seed=0)
    model.eval()
    indices, scores, labels = list(sampler), [], []
    for clips, target in tqdm(loader, desc='eval', disable=not (progress and ddp.main), leave=False):
        clips = _on_device(clips, target, dataset, ddp.device)
        scores.append(view_logits(model, clips, memory_format, amp).float().cpu())
        labels.append(target)
    shard = (indices, torch.cat(scores), torch.cat(labels))
    seen, all_scores, all_labels = set(), [], []
    for idx, s, lab in every_rank(shard):
        for i, row, y in zip(idx, s, lab):
            if i not in seen:  # DistributedSampler pads the last shard with repeats
                seen.add(i)
                all_scores.append(row)
                all_labels.append(y)
    scores, labels = torch.stack(all_scores), torch.stack(all_labels)
    out = classification_metrics(scores, labels, num_classes)
    out['loss'] = F.cross_entropy(scores, labels).item()
    return out


def _rng_state(device) -> Dict:
    state = {'torch': torch.get_rng_state()}
    if device.type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state, device) -> None:
    torch.set_rng_state(state['torch'])
    if device.type == 'cuda' and 'cuda' in state:
        torch.cuda.set_rng_state(state['cuda'], device)


def _save_checkpoint(path: Path, **state) -> None:
    with staged_files(path) as stage:
        torch.save(state, stage / path.name)


def training_set(cfg: TrainConfig, samples, class_names, model_cfg: Dict) -> Dataset:
    """The training clips of ``cfg``, sized and sampled by the model's ``pretrained_cfg``: multi-scale
    crop and a horizontal flip that is off for Jester by default (its classes come in mirror pairs) and
    never applied to a class whose name has a direction (``mirrored_classes``); for ``SYNTHETIC``,
    ``SyntheticClips`` of the model's input size."""
    if cfg.dataset == SYNTHETIC:
        return SyntheticClips(cfg.synthetic_clips, len(class_names), model_cfg['input_size'], seed=cfg.seed)
    flip = cfg.flip if cfg.flip is not None else cfg.dataset != 'jester'
    transform = train_transform(model_cfg, flip=flip, keep_unflipped=mirrored_classes(class_names))
    return VideoDataset(samples, cfg.num_frames, transform, train=True, defer_decoding=cfg.decode_on_device,
                        **sampling_args(model_cfg))


def fit(cfg: TrainConfig) -> Dict:
    """Train ``cfg.model`` on ``cfg.dataset``; returns the last epoch's log row (with the weight
    digest). Writes ``last.pth`` (resume state) each epoch, ``log.csv``, and the best model by
    validation top-1 (the last one without validation) as a hub checkpoint in ``best/``. cuDNN's
    autotuner is on while it runs if ``cfg.cudnn_benchmark``, and as it was afterwards."""
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    try:
        return _fit(cfg)
    finally:
        torch.backends.cudnn.benchmark = benchmark


@dataclasses.dataclass
class Run:
    """What a training run holds from one step to the next (``build_run`` makes it)."""
    cfg: TrainConfig
    ddp: Distributed
    out: Path
    class_names: List[str]
    model: torch.nn.Module
    net: torch.nn.Module  # the model as trained: under DDP and/or torch.compile
    train_set: Dataset
    val_set: Optional[VideoDataset]
    loader: DataLoader
    sampler: 'EpochKeys'
    optimizer: torch.optim.Optimizer
    scheduler: CosineLRScheduler
    scaler: torch.amp.GradScaler
    memory_format: torch.memory_format
    amp: bool
    start: int = 0  # the first epoch to run (after a resume, the one after the checkpoint's)
    best: Optional[float] = None  # the best validation top-1 so far

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return view_logits(self.net, clips, self.memory_format, self.amp)


def sgd(model: torch.nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.SGD:
    """The recipe's optimizer: SGD with ``cfg``'s momentum and weight decay."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def train_step(forward, clips: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer,
               scaler: Optional[torch.amp.GradScaler] = None):
    """One optimisation step: ``forward(clips)``'s logits, their cross-entropy in fp32, the backward
    pass (through ``scaler`` when given: fp16) and the optimizer's step. Returns (loss, logits)."""
    logits = forward(clips)
    loss = F.cross_entropy(logits.float(), target)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss, logits


def _read_samples(cfg: TrainConfig):
    """(training samples, class names, validation samples) of ``cfg``'s data set."""
    if cfg.dataset == SYNTHETIC:  # no files: random clips of the model's input size, no validation
        train_samples, class_names, val_samples = None, [str(i) for i in range(SYNTHETIC_CLASSES)], None
    else:
        train_samples, class_names = read_dataset(cfg.dataset, cfg.data_root, 'train')
        val_samples = read_dataset(cfg.dataset, cfg.data_root, 'validation')[0] if cfg.validate else None
    if cfg.decode_on_device and (train_samples is None or not Path(train_samples[0][0]).is_dir()):
        raise ValueError('decode_on_device (--decode-on-device) takes data sets of JPEG frame folders (sthv1, jester, '
                         f'or folder and csv layouts of frame folders); {cfg.dataset} holds '
                         + ('no files' if train_samples is None else f'video files such as {train_samples[0][0]}'))
    return train_samples, class_names, val_samples


def _create_model(cfg: TrainConfig, num_classes: int) -> torch.nn.Module:
    kwargs = dict(cfg.model_kwargs)
    if cfg.size is not None:
        kwargs['pretrained_cfg_overlay'] = dict(kwargs.get('pretrained_cfg_overlay', {}),
                                                input_size=(3, cfg.num_frames, cfg.size, cfg.size))
    model = create_model(cfg.model, pretrained=cfg.pretrained, num_classes=num_classes,
                         num_frames=cfg.num_frames, drop_rate=cfg.drop_rate, **kwargs)
    # the sampling trained with is the checkpoint's: eval, predict and the demo follow it
    model.pretrained_cfg.update({k: v for k, v in (('sampling', cfg.sampling), ('frame_interval', cfg.frame_interval))
                                 if v is not None})
    return model


def build_run(cfg: TrainConfig) -> Run:
    """Everything a run needs, from ``cfg``: data, model (under DDP, compiled), optimizer, schedule,
    AMP scaler and loader; resumed from ``last.pth`` with ``cfg.resume``."""
    ddp = Distributed()
    torch.manual_seed(cfg.seed)
    out = Path(cfg.output)
    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        write_recipe(cfg, out / CONFIG_NAME)
    train_samples, class_names, val_samples = _read_samples(cfg)
    model = _create_model(cfg, len(class_names))
    train_set = training_set(cfg, train_samples, class_names, model.pretrained_cfg)
    val_set = VideoDataset(
        val_samples, cfg.num_frames, eval_transform(model.pretrained_cfg), train=False,
        defer_decoding=cfg.decode_on_device, **sampling_args(model.pretrained_cfg)) if val_samples else None
    memory_format = clip_memory_format(cfg.channels_last)
    model.to(ddp.device, memory_format=memory_format)
    net = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[ddp.device.index] if ddp.device.type == 'cuda' else None) if ddp.world_size > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    lr = cfg.lr if cfg.lr is not None else 0.01 * cfg.batch_size * ddp.world_size / 8
    optimizer = sgd(model, cfg, lr)
    scheduler = CosineLRScheduler(optimizer, t_initial=cfg.epochs, warmup_t=cfg.warmup_epochs,
                                  warmup_lr_init=lr / 100 if cfg.warmup_epochs else 0)
    amp = cfg.amp if cfg.amp is not None else ddp.device.type == 'cuda'
    scaler = torch.amp.GradScaler(ddp.device.type, enabled=amp and amp_dtype(ddp.device) == torch.float16)
    loader, sampler = _loader(train_set, ddp, cfg.batch_size, cfg.workers, shuffle=True, seed=cfg.seed)
    if len(loader) == 0:
        raise ValueError(f'{len(train_set)} training videos make no full batch of {cfg.batch_size} per process')
    run = Run(cfg, ddp, out, class_names, model, net, train_set, val_set, loader, sampler, optimizer, scheduler,
              scaler, memory_format, amp)
    if cfg.resume:
        _resume(run)
    return run


def _resume(run: Run) -> None:
    path = run.out / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f'--resume: {path} does not exist')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if state['model_name'] != run.cfg.model or state['num_classes'] != len(run.class_names):
        raise ValueError(f"--resume: {path} is of {state['model_name']} with {state['num_classes']} "
                         f'classes, not {run.cfg.model} with {len(run.class_names)}')
    run.model.load_state_dict(state['model'])
    run.optimizer.load_state_dict(state['optimizer'])
    run.scheduler.load_state_dict(state['scheduler'])
    run.scaler.load_state_dict(state['scaler'])
    _set_rng_state(state['rng'], run.ddp.device)
    run.start, run.best = state['epoch'] + 1, state['best']


def train_one_epoch(run: Run, epoch: int) -> Dict:
    """One epoch of ``train_step``s; returns its log row (loss, top-1, clips/s, the loader's share)."""
    ddp = run.ddp
    run.scheduler.step(epoch)
    run.sampler.set_epoch(epoch)
    run.net.train()
    loss_sum, correct, seen, waited = 0.0, 0, 0, 0.0
    bar = tqdm(run.loader, desc=f'epoch {epoch + 1}/{run.cfg.epochs}', disable=not (run.cfg.progress and ddp.main))
    began = step_end = time.perf_counter()
    for clips, target in bar:
        waited += time.perf_counter() - step_end  # the loader's share: the step waited for its batch
        clips = _on_device(clips, target, run.train_set, ddp.device)
        target = target.to(ddp.device, non_blocking=True)
        loss, logits = train_step(run.forward, clips, target, run.optimizer, run.scaler)
        loss_sum += loss.item() * len(target)  # .item() waits for the step: the times below are its own
        correct += (logits.argmax(1) == target).sum().item()
        seen += len(target)
        step_end = time.perf_counter()
        elapsed = step_end - began
        bar.set_postfix(loss=f'{loss_sum / seen:.4f}', clips_s=f'{seen * ddp.world_size / elapsed:.1f}',
                        data_wait=f'{waited / elapsed:.0%}')
    if ddp.world_size > 1:
        # BatchNorm statistics are per process; average them so every replica (and the
        # checkpoint) holds the same model.
        distribute_bn(run.model, ddp.world_size, reduce=True)
    seconds = time.perf_counter() - began
    return dict(epoch=epoch + 1, lr=run.optimizer.param_groups[0]['lr'], train_loss=loss_sum / seen,
                train_top1=100.0 * correct / seen, epoch_seconds=seconds,
                clips_per_s=seen * ddp.world_size / seconds, data_wait=waited / seconds)


def validate(run: Run) -> Dict:
    """Validation loss, top-1 and top-5 of the run's model (``evaluate`` on the validation split)."""
    cfg = run.cfg
    metrics = evaluate(run.model, run.val_set, len(run.class_names), cfg.batch_size, cfg.workers, run.ddp, run.amp,
                       cfg.progress, run.memory_format)
    return dict(val_loss=metrics['loss'], val_top1=metrics['top1'], val_top5=metrics['top5'])


def _save_epoch(run: Run, epoch: int, row: Dict, improved: bool, writer) -> None:
    """The main rank's writes after an epoch: best/, last.pth, the log row (and tensorboard's)."""
    if improved:
        save_pretrained(run.model, run.out / 'best', labels=run.class_names)
    _save_checkpoint(run.out / CHECKPOINT_NAME, model=run.model.state_dict(), optimizer=run.optimizer.state_dict(),
                     scheduler=run.scheduler.state_dict(), scaler=run.scaler.state_dict(),
                     rng=_rng_state(run.ddp.device), epoch=epoch, best=run.best, model_name=run.cfg.model,
                     num_classes=len(run.class_names), config=json.dumps(dataclasses.asdict(run.cfg)))
    _append_log(run.out / LOG_NAME, row, TRAIN_COLUMNS + (VAL_COLUMNS if run.val_set is not None else ()))
    if writer:
        for k, v in row.items():
            writer.add_scalar(k, v, epoch + 1)
    print(json.dumps(row), file=sys.stderr, flush=True)  # progress; results go to stdout


def _tensorboard(run: Run):
    if not (run.cfg.tensorboard and run.ddp.main):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError("tensorboard logging needs the package 'tensorboard': pip install tensorboard") from None
    return SummaryWriter(str(run.out / 'tensorboard'))


def _fit(cfg: TrainConfig) -> Dict:
    run = build_run(cfg)
    writer = _tensorboard(run)
    row = {}
    end = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, run.start + cfg.stop_after)
    for epoch in range(run.start, end):
        row = train_one_epoch(run, epoch)
        if run.val_set is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            row.update(validate(run))
        # best by validation top-1, judged only in epochs that validated; without validation, the last
        improved = run.val_set is None or ('val_top1' in row and (run.best is None or row['val_top1'] > run.best))
        if run.val_set is not None and improved:
            run.best = row['val_top1']
        if run.ddp.main:
            _save_epoch(run, epoch, row, improved, writer)
    if writer:
        writer.close()
    row['weights_sha256'] = weights_digest(run.model)
    if run.ddp.world_size > 1:
        dist.barrier()
    return row


def _append_log(path: Path, row: Dict, columns) -> None:
    # Fixed columns: with --eval-every > 1 some rows have no validation figures, and a header
    # taken from the first row would misalign the later ones.
    new = not path.exists()
    with path.open('a', newline='') as f:
        w = csv.DictWriter(f, fieldnames=columns, restval='')
        if new:
            w.writeheader()
        w.writerow(row)
