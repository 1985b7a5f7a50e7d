"""Predictions over a collection of videos: a loader with workers, batched inference, and an output
that gains one flushed row per video as it finishes, so a run that stops can be resumed."""
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset

from .._checks import check_positive_int
from .._shards import ShardedRows, every_rank
from ..data import VideoDataset, eval_transform, sampling_args
from ..data.sources import is_collection, list_videos
from .inference import class_names, view_logits
from .train import weights_digest

__all__ = ['Prediction', 'PredictionWriter', 'check_output', 'is_collection', 'list_videos', 'model_id',
           'predict_videos', 'OUTPUT_SUFFIXES']

OUTPUT_SUFFIXES = ('.csv', '.jsonl')


@dataclass(frozen=True)
class Prediction:
    """One video's answer: its ``topk`` (class name, probability), or the error that stopped it.
    ``seconds``: its loading (decoding and transform, in a worker) plus its share of the batch's
    forward pass."""
    path: str
    top: Tuple[Tuple[str, float], ...]
    seconds: float
    error: Optional[str] = None


def model_id(model) -> str:
    """The architecture and a digest of the weights: what an output file records as its model."""
    return f"{model.pretrained_cfg['architecture']}@{weights_digest(model)[:12]}"


class _Loaded(Dataset):
    """Item ``i``: ``(i, views (V, C, T, H, W) or None, error or None, seconds spent)``; a video that
    cannot be read is an error item, so one bad file does not stop the loader."""

    def __init__(self, videos: VideoDataset):
        self.videos = videos

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        start = time.perf_counter()
        try:
            views, error = self.videos.load(i), None
        except (OSError, ValueError, RuntimeError) as e:  # VideoReadError is a RuntimeError
            views, error = None, f'{type(e).__name__}: {e}'
        return i, views, error, time.perf_counter() - start


def _collate(items):
    """The batch's items, and the views of those that loaded stacked into one tensor (or None)."""
    views = [v for _, v, _, _ in items if v is not None]
    return [(i, error, seconds) for i, _, error, seconds in items], torch.stack(views) if views else None


def predict_videos(
        model,
        videos: Iterable,
        clips: int = 1,
        crops: int = 1,
        topk: int = 5,
        batch_size: int = 8,
        workers: int = 2,
        amp: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
) -> Iterator[Prediction]:
    """Classify every video of ``videos`` (paths, or a source for :func:`list_videos`), yielding a
    :class:`Prediction` per video in their order as soon as its batch has run.

    Each video is sampled and transformed as by :func:`predict_video` (``clips`` x ``crops``
    views, logits averaged) in a ``DataLoader`` with ``workers`` processes, and ``batch_size``
    videos go through the model at a time, on the model's device (under autocast with ``amp``, the
    clips in ``memory_format``: put the model in it too). A video that cannot be read
    (corrupt, too short, vanished) gives a Prediction with its ``error`` and the run goes on.
    The arguments are checked when it is called, before any video is read."""
    videos = [str(v) for v in (list_videos(videos) if isinstance(videos, (str, Path)) else videos)]
    check_positive_int('batch_size', batch_size)
    check_positive_int('topk', topk)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f'workers must be a whole number >= 0 (0 loads in this process), got {workers!r}')
    cfg = model.pretrained_cfg
    dataset = VideoDataset([(v, 0) for v in videos], cfg['input_size'][1], eval_transform(cfg, crops), train=False,
                           clips=clips, **sampling_args(cfg)) if videos else None
    return _predictions(model, videos, dataset, topk, batch_size, workers, amp, memory_format)


@torch.no_grad()
def _predictions(model, videos, dataset, topk, batch_size, workers, amp, memory_format) -> Iterator[Prediction]:
    if not videos:
        return
    model.eval()
    names = class_names(model)
    device = next(model.parameters()).device
    loader = DataLoader(_Loaded(dataset), batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                        pin_memory=device.type == 'cuda', prefetch_factor=4 if workers else None)
    for items, views in loader:
        share, tops = 0.0, iter(())
        if views is not None:
            start = time.perf_counter()
            probs = view_logits(model, views.to(device, non_blocking=True), memory_format, amp).float().softmax(dim=1)
            top = probs.topk(min(topk, probs.shape[1]), dim=1)
            tops = zip(top.values.tolist(), top.indices.tolist())
            share = (time.perf_counter() - start) / len(views)
        for i, error, seconds in items:
            if error is not None:
                yield Prediction(videos[i], (), seconds, error)
            else:
                ps, ids = next(tops)
                yield Prediction(videos[i], tuple((names[c], p) for p, c in zip(ps, ids)), seconds + share)


def check_output(path) -> None:
    """Fail on a predictions output whose suffix is not one of ``OUTPUT_SUFFIXES``."""
    if Path(path).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f'output must end in {" or ".join(OUTPUT_SUFFIXES)} (one row per video), got '
                         f'{str(path)!r}; a .json file is for a timeline (--window)')


class PredictionWriter:
    """An output of predictions, ``.csv`` or ``.jsonl``, one row per video written and flushed as
    it comes, each naming the model (:func:`model_id`).

    An existing file is an error unless ``resume``; resumed, its rows must come from the same
    model and ``topk``, and a last row cut short by a crash is dropped before new rows are added.
    CSV columns: ``path, model, seconds, error, label1, probability1, ... labelK, probabilityK``;
    JSON lines: ``path, model, seconds, error, top`` (a list of ``label, probability``).

    Under torchrun (or resuming a job's parts) it is one rank's share: :meth:`wanted` gives this
    rank its disjoint part of the videos, its rows go to ``OUTPUT.parts/``, and :meth:`finish`
    merges every rank's rows into the output, in the order of the videos (``_shards.ShardedRows``)."""

    def __init__(self, path, model: str, topk: int, resume: bool = False):
        check_positive_int('topk', topk)
        check_output(path)
        self.path, self.model, self.topk = Path(path), model, topk
        models = every_rank(model)
        if len(set(models)) > 1:
            raise ValueError(f'the ranks of this job built different models ({", ".join(sorted(set(models)))}); '
                             'weights made at random differ from process to process: give pretrained weights or a '
                             'checkpoint')
        columns = ['path', 'model', 'seconds', 'error'] + [
            f'{c}{j}' for j in range(1, topk + 1) for c in ('label', 'probability')]
        self.rows = ShardedRows(path, columns, lambda row: os.path.abspath(row['path']), resume,
                                'a predictions file', 'another --topk', self._check_model)
        self.csv = self.path.suffix.lower() == '.csv'
        self._videos = []

    def _check_model(self, row: dict, file: Path) -> None:
        if row.get('model') != self.model:
            raise ValueError(f'{file} holds predictions of the model {row.get("model")}, not of {self.model}: '
                             'resume with that model, or choose a new output')

    @property
    def done(self) -> set:
        """The videos (absolute paths) that the output, and any part of a job, already has."""
        return self.rows.done

    def wanted(self, videos: Sequence) -> List:
        """The videos of ``videos`` that the output lacks: all of them, or this rank's share in a job."""
        self._videos = [os.path.abspath(v) for v in videos]
        return self.rows.share(videos)

    def write(self, p: Prediction) -> None:
        seconds = round(p.seconds, 4)
        if self.csv:
            row = dict(path=p.path, model=self.model, seconds=seconds, error=p.error or '')
            for j, (label, prob) in enumerate(p.top, 1):
                row.update({f'label{j}': label, f'probability{j}': round(prob, 6)})
        else:
            top = [dict(label=label, probability=round(prob, 6)) for label, prob in p.top]
            row = dict(path=p.path, model=self.model, seconds=seconds, error=p.error, top=top)
        self.rows.append(row)

    def finish(self) -> None:
        """Close; in a job, once every rank has finished, the merged output (the rows in the order
        of the videos given to :meth:`wanted`)."""
        self.rows.finish(self._videos)

    def close(self) -> None:
        self.rows.close()

    def __enter__(self) -> 'PredictionWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
