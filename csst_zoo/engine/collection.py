"""Predictions over a collection of videos: a loader with workers, batched inference, and an output
that gains one flushed row per video as it finishes, so a run that stops can be resumed."""
import csv
import glob
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset

from .._checks import check_positive_int
from ..data import VideoDataset, eval_transform, sampling_args
from ..data.readers import FRAME_SUFFIXES, VIDEO_SUFFIXES
from .inference import class_names, view_logits
from .train import weights_digest

__all__ = ['Prediction', 'PredictionWriter', 'check_output', 'is_collection', 'list_videos', 'model_id',
           'predict_videos', 'OUTPUT_SUFFIXES']

OUTPUT_SUFFIXES = ('.csv', '.jsonl')
_GLOB_CHARS = frozenset('*?[')


@dataclass(frozen=True)
class Prediction:
    """One video's answer: its ``topk`` (class name, probability), or the error that stopped it.
    ``seconds``: its loading (decoding and transform, in a worker) plus its share of the batch's
    forward pass."""
    path: str
    top: Tuple[Tuple[str, float], ...]
    seconds: float
    error: Optional[str] = None


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir())


def _is_video(path: Path) -> bool:
    return (path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()) or _is_frame_folder(path)


def is_collection(source) -> bool:
    """Whether ``source`` names many videos (a folder of them, a glob pattern, a .csv list) rather
    than one (a video file or a folder of frames)."""
    path = Path(source)
    if path.suffix.lower() == '.csv' and path.is_file():
        return True
    if path.is_dir():
        return not _is_frame_folder(path)
    return not path.exists() and bool(_GLOB_CHARS & set(str(source)))


def _videos_under(folder: Path) -> List[Path]:
    found = []
    for directory, subdirectories, files in os.walk(folder):
        directory = Path(directory)
        if any(Path(f).suffix.lower() in FRAME_SUFFIXES for f in files) and directory != folder:
            found.append(directory)  # a frame folder is one video: do not look inside it
            subdirectories.clear()
            continue
        subdirectories.sort()
        found += [directory / f for f in files if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return sorted(found)


def _videos_in_csv(csv_file: Path) -> List[Path]:
    with csv_file.open(newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        if 'path' not in (reader.fieldnames or ()):
            raise ValueError(f"the CSV list {csv_file} needs a header with a 'path' column (paths relative to the "
                             f'CSV), found the columns {reader.fieldnames or []}')
        return [csv_file.parent / row['path'] for row in reader if row['path']]


def list_videos(source) -> List[Path]:
    """The videos named by ``source``, in a fixed order:

    - a video file or a frame folder: itself;
    - a folder of them: every video file and frame folder beneath it, searched recursively;
    - a glob pattern (``'clips/**/*.mp4'``, recursive): the video files and frame folders it matches;
    - a ``.csv`` file with a ``path`` column: its rows, relative to the CSV (other columns ignored).

    A collection that names no video is an error; a listed video that cannot be read is not (it
    becomes an error row when predicted)."""
    path = Path(source)
    if not is_collection(source):
        if not path.exists():
            raise FileNotFoundError(f'video {source} does not exist (give a video file, a frame folder, a folder of '
                                    "videos, a glob pattern such as 'clips/*.mp4' or a .csv list with a path column)")
        return [path]
    if path.suffix.lower() == '.csv' and path.is_file():
        videos, what = _videos_in_csv(path), f'the CSV list {source}'
    elif path.is_dir():
        videos, what = _videos_under(path), f'the folder {source}'
    else:
        videos = sorted(Path(p) for p in glob.glob(str(source), recursive=True) if _is_video(Path(p)))
        what = f'the pattern {source!r}'
    if not videos:
        raise ValueError(f'{what} names no videos ({"/".join(VIDEO_SUFFIXES)} files or folders of '
                         f'{"/".join(FRAME_SUFFIXES)} frames)')
    return videos


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
    model and ``topk``, ``done`` holds the videos it has (answered or failed), and a last row cut
    short by a crash is dropped before new rows are added. CSV columns: ``path, model, seconds,
    error, label1, probability1, ... labelK, probabilityK``; JSON lines: ``path, model, seconds,
    error, top`` (a list of ``label, probability``)."""

    def __init__(self, path, model: str, topk: int, resume: bool = False):
        check_positive_int('topk', topk)
        check_output(path)
        self.path, self.model, self.topk = Path(path), model, topk
        if not self.path.absolute().parent.is_dir():
            raise FileNotFoundError(f'cannot write {path}: directory {self.path.absolute().parent} does not exist')
        self.csv = self.path.suffix.lower() == '.csv'
        self.columns = ['path', 'model', 'seconds', 'error'] + [
            f'{c}{j}' for j in range(1, topk + 1) for c in ('label', 'probability')]
        self.done = set()
        has_rows = self.path.is_file() and self.path.stat().st_size > 0
        if has_rows and not resume:
            raise FileExistsError(f'{path} exists: pass --resume (resume=True) to add the videos it lacks, or '
                                  'choose a new output')
        if has_rows:
            self.done = self._read_done()
        self._file = open(self.path, 'a', newline='', encoding='utf-8')
        if self.csv and not has_rows:
            self._write(self._csv_line(self.columns))

    def _read_done(self) -> set:
        text = self.path.read_text(encoding='utf-8')
        complete = text[:text.rfind('\n') + 1]
        if len(complete) < len(text):  # a row cut short: the video is predicted again
            with open(self.path, 'r+b') as f:
                f.truncate(len(complete.encode('utf-8')))
        lines = complete.splitlines()
        if self.csv:
            rows = list(csv.reader(lines))
            if not rows or rows[0] != self.columns:
                raise ValueError(f'{self.path} has the columns {rows[0] if rows else []}, not those of this run '
                                 f'({self.columns}): it was written with another --topk or by another program')
            rows = [dict(zip(self.columns, r)) for r in rows[1:]]
        else:
            try:
                rows = [json.loads(line) for line in lines if line.strip()]
            except json.JSONDecodeError as e:
                raise ValueError(f'{self.path} is not a predictions file (JSON lines): {e}') from None
        for row in rows:
            if row.get('model') != self.model:
                raise ValueError(f'{self.path} holds predictions of the model {row.get("model")}, not of '
                                 f'{self.model}: resume with that model, or choose a new output')
        return {os.path.abspath(row['path']) for row in rows}

    def _csv_line(self, values) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator='\n').writerow(values)
        return out.getvalue()

    def _write(self, line: str) -> None:
        self._file.write(line)
        self._file.flush()  # a crash after this loses nothing written

    def wanted(self, videos: Sequence) -> List:
        """The videos of ``videos`` that the file does not have yet."""
        return [v for v in videos if os.path.abspath(v) not in self.done]

    def write(self, p: Prediction) -> None:
        seconds = round(p.seconds, 4)
        if self.csv:
            cells = [v for label, prob in p.top for v in (label, round(prob, 6))]
            self._write(self._csv_line([p.path, self.model, seconds, p.error or ''] +
                                       cells + [''] * (2 * self.topk - len(cells))))
        else:
            top = [dict(label=label, probability=round(prob, 6)) for label, prob in p.top]
            self._write(json.dumps(dict(path=p.path, model=self.model, seconds=seconds, error=p.error, top=top)) + '\n')
        self.done.add(os.path.abspath(p.path))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> 'PredictionWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
