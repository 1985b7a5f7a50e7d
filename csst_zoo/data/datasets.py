"""Video data sets in the layouts users download, and the Dataset that samples and transforms them.

Every reader returns ``(samples, class_names)`` with ``samples`` a list of ``(path, label)``:

- Something-Something V1: ``ROOT/20bn-something-something-v1/<id>/00001.jpg ...`` and
  ``ROOT/something-something-v1-{labels,train,validation}.csv`` (``id;label name``).
- Something-Something V2: ``ROOT/20bn-something-something-v2/<id>.webm`` and
  ``ROOT/something-something-v2-{labels,train,validation}.json``.
- Jester: ``ROOT/20bn-jester-v1/<id>/00001.jpg ...`` and ``ROOT/jester-v1-{labels,train,validation}.csv``.
- Folders: ``ROOT/<class name>/<video file or frame folder>``, classes in sorted order.
- A CSV list: ``path,label`` rows (paths relative to the CSV; label a class name).

``SyntheticClips`` stands in for a data set when only the training loop's own speed is wanted.
"""
import csv
import json
import logging
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import torch
from einops import rearrange
from torch.utils.data import Dataset, default_collate
from torchvision.io import ImageReadMode, decode_jpeg

from .._checks import check_positive_int
from .readers import FRAME_SUFFIXES, VIDEO_SUFFIXES, FrameFolder, VideoReadError, open_video
from .sampling import SAMPLINGS, clip_indices

__all__ = ['VideoDataset', 'sampling_args', 'EncodedClip', 'collate_clips', 'decode_clips', 'SyntheticClips',
           'read_dataset',
           'DATASETS', 'SPLITS', 'SYNTHETIC']

_logger = logging.getLogger(__name__)
SPLITS = ('train', 'validation')
Samples = List[Tuple[Path, int]]


def _need(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f'{path} does not exist (see the data set layouts in csst_zoo.data.datasets)')
    return path


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')


def _class_index(names: Sequence[str], where) -> dict:
    index = {n: i for i, n in enumerate(names)}
    if len(index) != len(names):
        raise ValueError(f'{where} lists a class name twice')
    return index


def _label(index: dict, name: str, where) -> int:
    if name not in index:
        raise ValueError(f'{where}: label {name!r} is not one of the {len(index)} classes of the labels file')
    return index[name]


def _semicolon_csv(root: Path, prefix: str, frames_dir: str, split: str) -> Tuple[Samples, List[str]]:
    """The ``id;label`` CSV layout shared by Something-Something V1 and Jester."""
    _check_split(split)
    labels_file = _need(root / f'{prefix}-labels.csv')
    names = [line.strip() for line in labels_file.read_text(encoding='utf-8').splitlines() if line.strip()]
    index = _class_index(names, labels_file)
    split_file = _need(root / f'{prefix}-{split}.csv')
    samples = []
    for n, line in enumerate(split_file.read_text(encoding='utf-8').splitlines(), 1):
        if line.strip():
            video_id, _, name = line.strip().partition(';')
            samples.append((root / frames_dir / video_id, _label(index, name, f'{split_file}:{n}')))
    return samples, names


def read_something_v1(root, split: str = 'train'):
    return _semicolon_csv(Path(root), 'something-something-v1', '20bn-something-something-v1', split)


def read_jester(root, split: str = 'train'):
    return _semicolon_csv(Path(root), 'jester-v1', '20bn-jester-v1', split)


def read_something_v2(root, split: str = 'train'):
    _check_split(split)
    root = Path(root)
    labels_file = _need(root / 'something-something-v2-labels.json')
    by_name = {name: int(i) for name, i in json.loads(labels_file.read_text(encoding='utf-8')).items()}
    names = [None] * len(by_name)
    for name, i in by_name.items():
        names[i] = name
    split_file = _need(root / f'something-something-v2-{split}.json')
    samples = []
    for entry in json.loads(split_file.read_text(encoding='utf-8')):
        name = entry['template'].replace('[', '').replace(']', '')
        samples.append((root / '20bn-something-something-v2' / f"{entry['id']}.webm",
                        _label(by_name, name, f"{split_file} id {entry['id']}")))
    return samples, names


def _is_video(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES


def read_folders(root, split: Optional[str] = None):
    """``ROOT/<class>/<video>``; with ``split``, ``ROOT/<split>/<class>/<video>`` when that exists."""
    root = _need(Path(root))
    if split and (root / split).is_dir():
        root = root / split
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    samples = [(v, i) for i, name in enumerate(names) for v in sorted((root / name).iterdir()) if _is_video(v)]
    if not samples:
        raise ValueError(f'{root} holds no class folders with videos ({"/".join(VIDEO_SUFFIXES)} files or '
                         f'folders of {"/".join(FRAME_SUFFIXES)} frames)')
    return samples, names


def read_csv_list(csv_file, split: Optional[str] = None, class_names: Optional[Sequence[str]] = None):
    """Rows ``path,label`` with a header (``csst-zoo prepare`` writes one); with a ``split`` column,
    the rows of ``split`` (``train``, ``validation``), else every row whatever ``split``. Classes:
    ``class_names``, or the sorted label names of every row (so that the splits agree)."""
    csv_file = _need(Path(csv_file))
    with csv_file.open(newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    if not rows or not {'path', 'label'} <= set(rows[0]):
        raise ValueError(f"{csv_file} must have a header with the columns 'path' and 'label' and at least one row")
    names = list(class_names) if class_names else sorted({r['label'] for r in rows})
    index = _class_index(names, csv_file)
    numbered = list(enumerate(rows, 2))
    if split and 'split' in rows[0]:
        _check_split(split)
        numbered = [(n, r) for n, r in numbered if r['split'] == split]
        if not numbered:
            raise ValueError(f"{csv_file} has no rows of the split {split!r} (its split column holds "
                             f"{sorted({r['split'] for r in rows})})")
    return [(csv_file.parent / r['path'], _label(index, r['label'], f'{csv_file} row {n}')) for n, r in numbered], names


DATASETS = {
    'sthv1': read_something_v1,
    'sthv2': read_something_v2,
    'jester': read_jester,
    'folder': read_folders,
    'csv': read_csv_list,
}


def read_dataset(kind: str, root, split: str = 'train'):
    """``(samples, class_names)`` of a data set of ``kind`` (see ``DATASETS``)."""
    if kind not in DATASETS:
        raise ValueError(f'dataset must be one of {sorted(DATASETS)}, got {kind!r}')
    return DATASETS[kind](root, split)


class EncodedClip(NamedTuple):
    """A clip whose frames are still JPEG files (``VideoDataset(defer_decoding=True)``):
    ``decode_clips`` decodes and transforms it where the model runs. The files travel back to
    back in one tensor: a loader worker hands each tensor over as a shared-memory file
    descriptor, and one per frame ran out of them."""
    data: torch.Tensor  # uint8: the V x T frames' files, clip by clip, back to back
    sizes: Tuple[int, ...]  # the byte length of each file
    views: int  # V
    seed: int  # the transform's random choices (crop, flip)

    @classmethod
    def of(cls, files: Sequence[torch.Tensor], views: int, seed: int) -> 'EncodedClip':
        return cls(torch.cat(list(files)), tuple(len(f) for f in files), views, seed)

    @property
    def files(self) -> Tuple[torch.Tensor, ...]:
        return self.data.split(self.sizes)


def _transformed(transform: Callable, frames: torch.Tensor, label: int, seed: int) -> torch.Tensor:
    """``transform(frames, label)`` with the global RNG seeded by ``seed`` (and restored after): the
    same random crop and flip wherever and whenever the clip's frames are decoded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(frames, label)


def decode_clips(clips: Sequence[EncodedClip], labels, transform: Callable, device) -> torch.Tensor:
    """The clips of a batch, decoded and transformed on ``device``: every frame of the batch in one
    ``decode_jpeg`` call (nvjpeg's batched decoder on a GPU), then each clip's ``transform`` (crop,
    flip, normalisation) there with its seed. Equal to the clips ``VideoDataset`` makes in its
    workers, up to the JPEG decoder's own rounding on a GPU."""
    files = [f for clip in clips for f in clip.files]
    device = torch.device(device)
    frames = decode_jpeg(files, mode=ImageReadMode.RGB, device=device)
    out, start = [], 0
    for clip, label in zip(clips, torch.as_tensor(labels).tolist()):
        stacked = rearrange(torch.stack(frames[start:start + len(clip.sizes)]), '(v t) c h w -> v t c h w',
                            v=clip.views)
        out.append(_transformed(transform, stacked, label, clip.seed))
        start += len(clip.sizes)
    return torch.stack(out)


def collate_clips(batch):
    """``default_collate``, except that the ``EncodedClip`` items of a batch stay a list (their
    frames differ in size until decoded)."""
    if batch and isinstance(batch[0][0], EncodedClip):
        return [clip for clip, _ in batch], torch.as_tensor([label for _, label in batch])
    return default_collate(batch)


def sampling_args(cfg: dict) -> dict:
    """How a model samples frames (``VideoDataset``'s ``sampling`` and ``frame_interval``), from its
    ``pretrained_cfg``: TSN segments unless it says otherwise."""
    return dict(sampling=cfg.get('sampling') or 'segments', frame_interval=cfg.get('frame_interval') or 1)


class VideoDataset(Dataset):
    """Samples ``num_segments`` frames per clip from each video and transforms them: one from each of
    ``num_segments`` equal segments (``sampling='segments'``, TSN), or ``num_segments`` frames
    ``frame_interval`` apart (``'dense'``; see ``data.sampling``).

    Item ``i`` is ``(clip, label)``, ``clip`` float ``(V, C, T, H, W)`` with V = clips x crops
    views. A video that cannot be read or is shorter than ``num_segments`` frames raises
    ``VideoReadError`` naming it; with ``skip_unreadable`` it is logged as a warning and the next
    video is used instead (never a zero-filled clip).

    With ``defer_decoding`` (folders of JPEG frames only), a worker only reads the sampled frames'
    files: the clip is an ``EncodedClip``, batched by ``collate_clips`` and decoded and transformed
    by ``decode_clips`` on the model's device. Either way a training transform's random choices
    come from a seed drawn after the frames are sampled, so both give the same clip.
    """

    def __init__(
            self,
            samples: Samples,
            num_segments: int,
            transform: Callable,
            train: bool,
            clips: int = 1,
            skip_unreadable: bool = False,
            defer_decoding: bool = False,
            sampling: str = 'segments',
            frame_interval: int = 1,
    ):
        if not samples:
            raise ValueError('samples is empty')
        if sampling not in SAMPLINGS:
            raise ValueError(f'sampling must be one of {", ".join(SAMPLINGS)}, got {sampling!r}')
        self.sampling, self.frame_interval = sampling, frame_interval
        self.samples, self.num_segments, self.transform = list(samples), num_segments, transform
        self.train, self.clips, self.skip_unreadable = train, clips, skip_unreadable
        self.defer_decoding = defer_decoding

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, i: int):
        path, label = self.samples[i]
        video = open_video(path)
        try:
            indices = clip_indices(video.num_frames, self.num_segments, self.train, self.clips, self.sampling,
                                   self.frame_interval)
        except ValueError as e:
            raise VideoReadError(f'video {video.path}: {e}') from None
        # Only training draws (evaluation's transforms are fixed): drawing in the main process,
        # where a loader without workers loads, would move the RNG that dropout draws from.
        seed = int(torch.randint(2 ** 63 - 1, ())) if self.train else 0
        if self.defer_decoding:
            if not isinstance(video, FrameFolder):
                raise VideoReadError(f'video {video.path}: decoding on the device (defer_decoding) takes folders of '
                                     'JPEG frames (Something-Something V1, Jester), not video files')
            return EncodedClip.of(video.encoded(indices.flatten()), indices.shape[0], seed)
        frames = video.frames(indices.flatten(), short_side=getattr(self.transform, 'short_side', None))
        return _transformed(self.transform, rearrange(frames, '(v t) c h w -> v t c h w', v=indices.shape[0]), label,
                            seed)

    def __getitem__(self, i: int):
        for attempt in range(len(self)):
            j = (i + attempt) % len(self)
            try:
                return self.load(j), self.samples[j][1]
            except VideoReadError as e:
                if not self.skip_unreadable:
                    raise
                _logger.warning('skipping unreadable video: %s', e)
        raise VideoReadError('no video of the data set could be read')


SYNTHETIC = 'synthetic'  # the --dataset of SyntheticClips


class SyntheticClips(Dataset):
    """``num_clips`` training items of random values and random labels, with no files and no
    decoding: the training loop's side alone (``csst-zoo train --dataset synthetic``).

    Items are ``VideoDataset`` training items, ``(clip (1, C, T, H, W), label)``. The values come
    from ``pool`` clips drawn once and held in memory (loader workers share them), so an item
    costs a read of memory and a batch its stacking, as a real clip's would after decoding.
    """

    def __init__(self, num_clips: int, num_classes: int, shape: Sequence[int], pool: int = 4, seed: int = 0):
        for name, value in (('num_clips', num_clips), ('num_classes', num_classes), ('pool', pool)):
            check_positive_int(name, value)
        if len(shape) != 4:
            raise ValueError(f'shape must be a clip\'s (C, T, H, W), got {tuple(shape)}')
        generator = torch.Generator().manual_seed(seed)
        self.clips = torch.randn((min(pool, num_clips), 1, *shape), generator=generator)
        self.labels = torch.randint(num_classes, (num_clips,), generator=generator).tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.clips[i % len(self.clips)], self.labels[i]
