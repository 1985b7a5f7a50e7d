"""What happens when: a video classified in sliding windows, in one streaming pass over the file."""
import csv
import io
import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import torch
from tqdm import tqdm

from .._checks import check_positive_int
from .._io import staged_files, write_atomic
from ..data import FrameFolder, VideoFile, clip_indices, eval_transform, open_video, sampling_args
from .inference import class_names, view_logits

__all__ = ['Span', 'Timeline', 'parse_span', 'window_bounds', 'predict_timeline', 'check_outputs']

_SPAN = re.compile(r'^\s*(\d+(?:\.\d*)?|\.\d+)\s*([sf]?)\s*$')


@dataclass(frozen=True)
class Span:
    """A length of video: seconds (``unit='s'``) or frames (``unit='f'``)."""
    value: float
    unit: str

    def __str__(self) -> str:
        return f'{self.value:g}{self.unit}'


def parse_span(text: Union[str, float, Span], name: str = 'window') -> Span:
    """``'2'`` or ``'2s'`` (seconds), ``'0.5s'``, ``'16f'`` (frames) as a :class:`Span`."""
    if isinstance(text, Span):
        return text
    match = _SPAN.match(str(text))
    if not match or float(match.group(1)) <= 0 or (match.group(2) == 'f' and not float(match.group(1)).is_integer()):
        raise ValueError(f"{name} must be a positive length in seconds ('2', '1.5s') or a whole number of frames "
                         f"('16f'), got {text!r}")
    return Span(float(match.group(1)), match.group(2) or 's')


def _end_time(times: torch.Tensor) -> float:
    """When the last frame ends: its start plus the mean frame step."""
    step = float(times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    return float(times[-1]) + step


def window_bounds(num_frames: int, times: Optional[torch.Tensor], window: Span, stride: Span) -> List[Tuple[int, int]]:
    """Frame ranges ``[a, b)`` of the windows: one every ``stride`` from the start while a whole
    window fits, then one that ends with the video if the last fell short of the end (a video
    shorter than one window is a single window). Seconds are measured on ``times``, the start
    time of every frame (frame ``i`` is in the window ``[t, t + w)`` when ``t <= times[i] < t + w``)."""
    if window.unit != stride.unit:
        raise ValueError(f'window ({window}) and stride ({stride}) must both be in seconds or both in frames')
    if window.unit == 'f':
        position = torch.arange(num_frames, dtype=torch.float64)
        end = float(num_frames)
    else:
        if times is None:
            raise ValueError('a window in seconds needs frame times: give the frame rate of a frame folder (fps), '
                             "or a window in frames ('16f')")
        position, end = times, _end_time(times)
    w, s = window.value, stride.value
    starts = [k * s for k in range(int(max(0.0, end - w) / s + 1e-9) + 1)]
    if starts[-1] + w < end - 1e-9:
        starts.append(end - w)
    edges = torch.searchsorted(position, torch.tensor([[t, t + w] for t in starts], dtype=torch.float64))
    return list(dict.fromkeys((int(a), int(b)) for a, b in edges.tolist()))


def _pyplot():
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting a timeline needs matplotlib: pip install 'csst-zoo[plot]'") from None
    return plt


def check_outputs(output=None, plot=None) -> None:
    """Fail before any work on an output the timeline cannot be written to (wrong suffix, a plot without matplotlib)."""
    if output is not None and Path(output).suffix.lower() not in ('.csv', '.json'):
        raise ValueError(f'output must end in .csv or .json, got {str(output)!r}')
    if plot is not None:
        if Path(plot).suffix.lower() != '.png':
            raise ValueError(f'plot must end in .png, got {str(plot)!r}')
        _pyplot()


@dataclass
class Timeline:
    """Class probabilities of each window of a video, in order."""
    video: str
    window: Span
    stride: Span
    frames: List[Tuple[int, int]]  # [start, end) frame of each window
    times: Optional[List[Tuple[float, float]]]  # [start, end) in seconds, None without timestamps
    probs: torch.Tensor  # (windows, classes)
    class_names: List[str]

    def top(self, k: int = 5) -> List[List[Tuple[str, float]]]:
        """The ``k`` most probable (class name, probability) of every window."""
        top = self.probs.topk(min(k, self.probs.shape[1]), dim=1)
        return [[(self.class_names[i], p) for p, i in zip(ps, ids)]
                for ps, ids in zip(top.values.tolist(), top.indices.tolist())]

    def rows(self, k: int = 5) -> List[dict]:
        rows = []
        for n, ((a, b), top) in enumerate(zip(self.frames, self.top(k))):
            start, end = self.times[n] if self.times else (None, None)
            rows.append(dict(start=start, end=end, start_frame=a, end_frame=b,
                             top=[dict(label=name, probability=round(p, 6)) for name, p in top]))
        return rows

    def leading_classes(self, n: int = 5) -> List[int]:
        """The ``n`` classes that lead most windows, then by peak probability: those a plot draws."""
        leads = torch.bincount(self.probs.argmax(dim=1), minlength=self.probs.shape[1]).tolist()
        peaks = self.probs.max(dim=0).values.tolist()
        return sorted(range(self.probs.shape[1]), key=lambda c: (-leads[c], -peaks[c]))[:n]

    def centres(self) -> List[float]:
        """Each window's centre: in seconds with timestamps, else in frames."""
        return [(a + b) / 2 for a, b in (self.times or self.frames)]

    def segments(self) -> List[dict]:
        """Runs of windows with the same top class, in order: ``label``, ``start`` and ``end``
        (seconds with timestamps, else frames) and the ``windows`` ``[first, last]``. A run
        starts where the top class switches, halfway between the centres of the last window of
        the run before and its first; the first starts with the first window and the last ends
        with the last window."""
        leaders, centres = self.probs.argmax(dim=1).tolist(), self.centres()
        spans = self.times or self.frames
        runs = []
        for w, c in enumerate(leaders):
            if runs and runs[-1]['class'] == c:
                runs[-1]['windows'][1] = w
            else:
                start = spans[0][0] if not runs else (centres[w - 1] + centres[w]) / 2
                if runs:
                    runs[-1]['end'] = start
                runs.append({'class': c, 'start': start, 'windows': [w, w]})
        runs[-1]['end'] = spans[-1][1]
        return [dict(label=self.class_names[r['class']], start=r['start'], end=r['end'], windows=r['windows'])
                for r in runs]

    def save(self, path, topk: int = 5) -> None:
        """Write the windows' top-``topk`` classes atomically: ``.csv`` (one row per window) or ``.json``."""
        check_outputs(output=path)
        path = Path(path)
        if path.suffix.lower() == '.json':
            text = json.dumps(dict(video=self.video, window=str(self.window), stride=str(self.stride),
                                   windows=self.rows(topk)), indent=1) + '\n'
        elif path.suffix.lower() == '.csv':
            out = io.StringIO()
            writer = csv.writer(out, lineterminator='\n')
            writer.writerow(['start', 'end', 'start_frame', 'end_frame'] +
                            [f'{c}{j}' for j in range(1, min(topk, len(self.class_names)) + 1)
                             for c in ('label', 'probability')])
            for row in self.rows(topk):
                writer.writerow([row['start'], row['end'], row['start_frame'], row['end_frame']] +
                                [v for t in row['top'] for v in (t['label'], t['probability'])])
            text = out.getvalue()
        write_atomic(path, text)

    def plot(self, path, classes: int = 5) -> None:
        """Draw the probability over time of the ``classes`` classes that lead most often
        (then by peak probability) to a PNG, atomically. Needs matplotlib."""
        check_outputs(plot=path)
        plt = _pyplot()
        path = Path(path)
        x, unit = self.centres(), 'time (s, window centre)' if self.times else 'frame (window centre)'
        fig, ax = plt.subplots(figsize=(10, 4))
        for c in self.leading_classes(classes):
            ax.plot(x, self.probs[:, c].tolist(), marker='.', label=self.class_names[c])
        ax.set(xlabel=unit, ylabel='probability', ylim=(0, 1),
               title=f'{Path(self.video).name}: window {self.window}, stride {self.stride}')
        ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1), fontsize='small')
        fig.tight_layout()
        with staged_files(path) as stage:
            fig.savefig(stage / path.name, dpi=120)
        plt.close(fig)


def _window_picks(model, reader, bounds, window: Span) -> List[torch.Tensor]:
    """The frames each window ``[a, b)`` gives the model: its sampling applied inside the window."""
    num_frames = model.num_frames
    short = [(a, b) for a, b in bounds if b - a < num_frames]
    if short:
        raise ValueError(f'window {window} holds {short[0][1] - short[0][0]} frames of {reader.path} at '
                         f'[{short[0][0]}, {short[0][1]}), fewer than the {num_frames} the model samples: '
                         'use a longer window')
    sampling = sampling_args(model.pretrained_cfg)
    return [clip_indices(b - a, num_frames, False, 1, **sampling)[0] + a for a, b in bounds]


@torch.no_grad()  # without it each window's probabilities keep its activations alive
def _classify_windows(model, reader, picks, batch_size, progress, amp, memory_format,
                      time_limit: Optional[float] = None) -> List[torch.Tensor]:
    """Each window's class probabilities, decoding the video once, front to back, and keeping a
    decoded frame (resized and cropped) only until the last window that uses it has run; a
    TimeoutError once ``time_limit`` seconds have passed."""
    start = time.monotonic()
    transform = eval_transform(model.pretrained_cfg)
    (spatial,) = transform.spatial
    model.eval()
    device = next(model.parameters()).device
    kept, batch, probs = {}, [], [None] * len(picks)
    # a dense clip that wraps around its window's end is not in order: its last frame is its largest
    pending = deque(sorted(range(len(picks)), key=lambda w: (int(picks[w].max()), w)))

    def run(items):
        clips = transform.normalize(torch.stack([clip for _, clip in items]))
        out = view_logits(model, clips[:, None].to(device), memory_format, amp).float().softmax(dim=1).cpu()
        for (w, _), p in zip(items, out):
            probs[w] = p
        bar.update(len(items))

    bar = tqdm(total=len(picks), unit='window', desc='timeline', disable=not progress)
    wanted = sorted(set(torch.cat(picks).tolist()))
    for i, frame in reader.decode(wanted, short_side=transform.short_side):
        if time_limit is not None and time.monotonic() - start > time_limit:
            bar.close()
            raise TimeoutError(f'the timeline of {reader.path} was stopped after {time_limit:g} s (its time limit), '
                               f'{bar.n} of {len(picks)} windows done')
        kept[i] = spatial(frame[None, None])[0, 0]
        while pending and int(picks[pending[0]].max()) <= i:
            w = pending.popleft()
            batch.append((w, torch.stack([kept[j] for j in picks[w].tolist()])))
            if len(batch) == batch_size:
                run(batch)
                batch = []
        first_needed = min((int(picks[w].min()) for w in pending), default=math.inf)
        for j in [j for j in kept if j < first_needed]:
            del kept[j]
    if batch:
        run(batch)
    bar.close()
    return probs


def predict_timeline(
        model,
        video,
        window: Union[str, Span] = '2s',
        stride: Union[str, Span] = '1s',
        fps: Optional[float] = None,
        batch_size: int = 1,
        progress: bool = False,
        amp: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
        time_limit: Optional[float] = None,
) -> Timeline:
    """Classify ``video`` (a file, a frame folder with its frame rate ``fps``, or a reader from
    ``open_video``) in windows of length ``window`` every ``stride`` (seconds, or frames as
    ``'16f'``; see :func:`window_bounds`).

    Each window is sampled as in evaluation, by the model's sampling (the centre frame of each of
    its T segments, or its dense clip in the window's middle), centre crop. The file is decoded
    once, front to back; a decoded frame is kept, resized and cropped, only until the last window
    that uses it has run, so memory does not grow with the video's length. Windows go through the
    model ``batch_size`` at a time (under autocast with ``amp``, in ``memory_format``: put the
    model in it too). With ``time_limit`` (seconds), a TimeoutError once it has passed (a
    service's bound on one request).
    """
    window, stride = parse_span(window, 'window'), parse_span(stride, 'stride')
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ValueError(f'time_limit must be a positive number of seconds, got {time_limit!r}')
    check_positive_int('batch_size', batch_size)
    if fps is not None and not (isinstance(fps, (int, float)) and fps > 0 and math.isfinite(fps)):
        raise ValueError(f'fps must be a positive number, got {fps!r}')
    if fps is not None and not isinstance(video, (FrameFolder, VideoFile)) and not Path(video).is_dir():
        raise ValueError(f'fps is for frame folders; the video file {video} has its own timestamps')
    reader = open_video(video, fps)
    folder = isinstance(reader, FrameFolder)
    times = reader.frame_times() if (window.unit == 's' or not folder or reader.fps is not None) else None
    bounds = window_bounds(reader.num_frames, times, window, stride)
    picks = _window_picks(model, reader, bounds, window)
    probs = _classify_windows(model, reader, picks, batch_size, progress, amp, memory_format, time_limit)
    spans = None
    if times is not None:
        edge = times.tolist() + [_end_time(times)]
        spans = [(edge[a], edge[b]) for a, b in bounds]
    return Timeline(str(reader.path), window, stride, bounds, spans, torch.stack(probs), class_names(model))
