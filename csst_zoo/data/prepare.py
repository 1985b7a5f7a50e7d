"""A collection prepared once for training and prediction, as mmaction2's ``tools/data`` does
(``resize_videos``, ``build_rawframes``, ``build_file_list``): every video with a smaller short
side and, as H.264, a key frame every second, so that a clip's frames are reached by a short seek
whatever the video's length; or as folders of JPEG frames. Beside them, the annotation list that
``train`` and ``eval`` read (``--dataset csv``) and a report of every source.

Each video is one job: decoded with PyAV, resized by FFmpeg's own scaler (``scale``, bilinear, as
``ffmpeg -vf scale=...:flags=bilinear``), encoded with one thread, written atomically; a worker
process takes one video at a time. The report gains a flushed row per source as it finishes, so
a stopped run resumes where it stopped (``resume``), and a source that cannot be read is a row with
its error, not the end of the run. Under torchrun each rank prepares a disjoint share
(``_shards.ShardedRows``).
"""
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional

from .._io import staged_files, write_atomic
from .._rows import header_text, read_rows, row_text
from .._shards import ShardedRows, job_place
from .readers import VideoLimits, VideoReadError, _declared_seconds
from .sources import csv_rows, is_collection, is_csv_list, list_videos, source_root

__all__ = ['PrepareOptions', 'Source', 'list_sources', 'prepare_collection', 'prepare_video', 'LIST_NAME',
           'REPORT_NAME']

LIST_NAME = 'videos.csv'  # the annotation list: path, label (, split)
REPORT_NAME = 'prepare.csv'  # one row per source: what became of it
REPORT_COLUMNS = ('source', 'output', 'label', 'split', 'frames', 'width', 'height', 'seconds', 'error')
# Split folders (ROOT/<split>/<class>/<video>) and split columns, as train and eval name them.
_SPLITS = {'train': 'train', 'training': 'train', 'val': 'validation', 'validation': 'validation', 'test': 'test'}


@dataclass(frozen=True)
class PrepareOptions:
    """What every video becomes. ``short_side``: the frames' shorter side in pixels (even, as
    H.264's 4:2:0 needs; the other side keeps the aspect ratio, rounded to even); ``frames``:
    folders of JPEG frames (``00001.jpg``, ...; ``jpeg_quality``) instead of H.264 video with a
    key frame every ``keyframe_interval`` seconds; ``fps``: resample to this frame rate (by
    default every frame is kept, with its time)."""
    short_side: int = 256
    keyframe_interval: float = 1.0
    fps: Optional[float] = None
    frames: bool = False
    jpeg_quality: int = 95

    def __post_init__(self):
        if isinstance(self.short_side, bool) or not isinstance(self.short_side, int) or self.short_side < 2 \
                or self.short_side % 2:
            raise ValueError(f'short_side (--short-side) must be a positive even number of pixels (H.264 needs even '
                             f'sizes), e.g. 256 or 320, got {self.short_side!r}')
        if not self.keyframe_interval > 0:
            raise ValueError(f'keyframe_interval (--keyframe-interval) must be a positive number of seconds, got '
                             f'{self.keyframe_interval!r}')
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f'fps (--fps) must be a positive frame rate, got {self.fps!r}')
        if isinstance(self.jpeg_quality, bool) or not isinstance(self.jpeg_quality, int) \
                or not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f'jpeg_quality (--jpeg-quality) must be a whole number from 1 to 100, got '
                             f'{self.jpeg_quality!r}')


class Source(NamedTuple):
    """A video to prepare: where it is, where its output goes (relative to DST), its label and split."""
    path: Path
    output: str
    label: str
    split: str


def _label_and_split(relative: Path):
    """``ROOT/[<split>/]<class>/<video>``: the class from the folder the video is in, the split from a
    top folder named like one (train, val, validation, test)."""
    folders = list(relative.parts[:-1])
    split = _SPLITS.get(folders[0].lower(), '') if folders else ''
    if split:
        folders = folders[1:]
    return (folders[-1] if folders else ''), split


def list_sources(src, frames: bool = False) -> List[Source]:
    """The videos of ``src`` (as ``predict`` takes it: a folder, a glob, a CSV list with a ``path``
    column, one video), each with its output path under DST (its path relative to the source's
    folder, as ``.mp4`` or, with ``frames``, a folder), label and split: from the folders, or from
    a CSV's ``label`` and ``split`` columns."""
    root = source_root(src)
    if is_csv_list(src):
        rows = csv_rows(src)
        found = [(row['path'], row.get('label') or '', _SPLITS.get((row.get('split') or '').lower(),
                                                                    row.get('split') or '')) for row in rows]
    else:
        found = [(p, *_label_and_split(_relative(p, root, src))) for p in list_videos(src)]
    if not found:
        raise ValueError(f'{src} names no videos')
    sources = []
    for path, label, split in found:
        relative = _relative(path, root, src)
        output = relative.with_suffix('') if frames else relative.with_suffix('.mp4')
        sources.append(Source(Path(path), output.as_posix(), label, split))
    _check_distinct(sources)
    return sources


def _relative(path, root: Path, src) -> Path:
    relative = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root)))
    if relative.parts and relative.parts[0] == '..':
        raise ValueError(f'{path} lies outside the folder of {src} ({root}): its output could not be placed under '
                         'DST; list videos inside that folder')
    return relative


def _check_distinct(sources: List[Source]) -> None:
    seen = {}
    for s in sources:
        if s.output in seen:
            raise ValueError(f'{seen[s.output]} and {s.path} would both be prepared as {s.output}: rename one of them')
        seen[s.output] = s.path


def check_destination(src, dst, sources: List[Source]) -> Path:
    """DST, created if needed: not inside a source folder, not one of the sources, writable."""
    dst = Path(dst)
    if is_collection(src) and not is_csv_list(src):
        root = source_root(src).resolve()
        if dst.resolve() == root or root in dst.resolve().parents:
            raise ValueError(f'DST {dst} lies inside SRC {src}: a later run would take the prepared videos for '
                             'sources; choose a folder outside it')
    outputs = {(dst / s.output).resolve() for s in sources}
    clash = next((s.path for s in sources if s.path.resolve() in outputs), None)
    if clash is not None:
        raise ValueError(f'DST {dst} would overwrite the source {clash}: choose another folder')
    try:
        dst.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=dst).close()
    except OSError as e:
        raise ValueError(f'DST {dst} is not a folder this process can write to: {e}') from None
    return dst


def _scaled_size(width: int, height: int, short_side: int):
    """(width, height) with the shorter side ``short_side`` and the longer one in proportion, even."""
    if width <= height:
        return short_side, max(2, round(height * short_side / width / 2) * 2)
    return max(2, round(width * short_side / height / 2) * 2), short_side


def _filtered(container, stream, options: PrepareOptions, pix_fmt: str) -> Iterator:
    """The stream's frames through FFmpeg's filters: ``fps`` (with ``options.fps``), ``scale`` to the
    short side (bilinear), ``format``; one thread throughout."""
    import av
    from av.filter import Graph
    stream.codec_context.thread_count = 1
    width, height = _scaled_size(stream.codec_context.width, stream.codec_context.height, options.short_side)
    graph = Graph()
    graph.threads = 1
    nodes = [graph.add_buffer(template=stream)]
    if options.fps:
        nodes.append(graph.add('fps', f'fps={Fraction(options.fps).limit_denominator(1001)}'))
    nodes += [graph.add('scale', f'{width}:{height}:flags=bilinear'), graph.add('format', pix_fmt),
              graph.add('buffersink')]
    for a, b in zip(nodes, nodes[1:]):
        a.link_to(b)
    graph.configure()

    def drain():
        while True:
            try:
                yield graph.vpull()
            except (av.BlockingIOError, av.EOFError):
                return
    for frame in container.decode(stream):
        graph.vpush(frame)
        yield from drain()
    graph.vpush(None)
    yield from drain()


@contextmanager
def _opened(source: Path, limits: VideoLimits):
    """The open file and its first video stream, whose declared size and length are within ``limits``."""
    import av
    with av.open(str(source)) as container:
        if not container.streams.video:
            raise VideoReadError(f'{source} has no video stream')
        stream = container.streams.video[0]
        limits.check(source, stream.codec_context.width, stream.codec_context.height,
                     _declared_seconds(container, stream))
        yield container, stream


def _encode_video(source: Path, target: Path, options: PrepareOptions, limits: VideoLimits) -> dict:
    import av
    with _opened(source, limits) as (container, stream), staged_files(target) as stage, \
            av.open(str(stage / target.name), 'w') as out:
        rate = Fraction(options.fps).limit_denominator(1001) if options.fps else stream.average_rate or Fraction(25)
        encoder = out.add_stream('libx264', rate=rate)
        encoder.width, encoder.height = _scaled_size(stream.codec_context.width, stream.codec_context.height,
                                                     options.short_side)
        encoder.pix_fmt = 'yuv420p'
        encoder.codec_context.thread_count = 1
        encoder.codec_context.gop_size = max(1, round(float(rate) * options.keyframe_interval))
        if not options.fps:  # every frame keeps its time (a variable frame rate stays variable)
            encoder.codec_context.time_base = stream.time_base
        count = 0
        for frame in _filtered(container, stream, options, 'yuv420p'):
            if count == 0 and frame.rotation:  # a phone's upright view stays in the display matrix
                encoder.set_display_rotation(frame.rotation)
            frame.pict_type = av.video.frame.PictureType.NONE  # the encoder places the key frames
            out.mux(encoder.encode(frame))
            count += 1
        out.mux(encoder.encode())
        if not count:
            raise VideoReadError(f'video {source} has no frames')
        return dict(frames=count, width=encoder.width, height=encoder.height)


def _write_frames(source: Path, target: Path, options: PrepareOptions, limits: VideoLimits) -> dict:
    import torch
    from torchvision.io import encode_jpeg
    with _opened(source, limits) as (container, stream), staged_files(target) as stage:
        folder = stage / target.name
        folder.mkdir()
        count, size = 0, (0, 0)
        for frame in _filtered(container, stream, options, 'rgb24'):
            image = torch.from_numpy(frame.to_ndarray()).permute(2, 0, 1)
            if frame.rotation:  # upright, as the readers give the frames of a video
                image = torch.rot90(image, round(frame.rotation / 90), dims=(1, 2))
            count += 1
            (folder / f'{count:05d}.jpg').write_bytes(encode_jpeg(image, quality=options.jpeg_quality).numpy())
            size = image.shape[2], image.shape[1]
        if not count:
            raise VideoReadError(f'video {source} has no frames')
        return dict(frames=count, width=size[0], height=size[1])


def prepare_video(source, target, options: PrepareOptions = PrepareOptions(),
                  limits: VideoLimits = VideoLimits()) -> dict:
    """Prepare one video file ``source`` as ``target`` (an ``.mp4`` file, or with ``options.frames``
    a folder of JPEG frames), atomically: ``{'frames', 'width', 'height'}`` of what was written.
    A source that cannot be decoded raises VideoReadError naming it."""
    import av
    source, target = Path(source), Path(target)
    if source.is_dir():
        raise VideoReadError(f'{source} is a folder of frames: prepare takes video files')
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return (_write_frames if options.frames else _encode_video)(source, target, options, limits)
    except av.FFmpegError as e:
        raise VideoReadError(f'cannot decode video {source}: {type(e).__name__}: {e}') from None


def _prepare_one(source: Source, dst: Path, options: PrepareOptions) -> dict:
    """The report row of one source: what was written, or why nothing was."""
    start = time.perf_counter()
    row = dict(source=str(source.path), output=source.output, label=source.label, split=source.split)
    try:
        row.update(prepare_video(source.path, dst / source.output, options))
    except (VideoReadError, OSError, ValueError) as e:
        row.update(output='', error=f'{type(e).__name__}: {e}')
    return dict(row, seconds=round(time.perf_counter() - start, 3))


def _one_thread() -> None:
    import torch
    torch.set_num_threads(1)  # one thread a worker: the workers take the cores


def _in_workers(sources: List[Source], dst: Path, options: PrepareOptions, workers: int) -> Iterator[dict]:
    """Report rows as the videos finish: here, or in ``workers`` processes (a few videos queued each)."""
    if workers == 0:
        for s in sources:
            yield _prepare_one(s, dst, options)
        return
    queue = iter(sources)
    # spawned, not forked: a fork of a process whose torch has run threads can deadlock in the
    # child's first torch op (the JPEG encoder of --frames)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn'),
                             initializer=_one_thread) as pool:
        running = set()
        try:
            while True:
                while len(running) < 2 * workers:
                    s = next(queue, None)
                    if s is None:
                        break
                    running.add(pool.submit(_prepare_one, s, dst, options))
                if not running:
                    return
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    yield f.result()
        finally:
            for f in running:
                f.cancel()


def default_workers() -> int:
    """One worker per core, the cores shared among this machine's ranks of a torchrun job."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    return max(1, cores // int(os.environ.get('LOCAL_WORLD_SIZE', 1)))


def prepare_collection(src, dst, options: PrepareOptions = PrepareOptions(), workers: Optional[int] = None,
                       resume: bool = False, progress: bool = True) -> dict:
    """Prepare every video of ``src`` under ``dst``; write ``dst/videos.csv`` (``path, label`` and,
    when the sources have splits, ``split``: ``train --dataset csv --data-root dst/videos.csv``
    reads it) and ``dst/prepare.csv`` (a row per source: its output, frames, size, seconds, or its
    error). Everything is checked before any video is read. Returns the counts of this process."""
    from tqdm import tqdm
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f'workers (--workers) must be a whole number >= 0 (0 prepares in this process), got '
                         f'{workers!r}')
    sources = list_sources(src, options.frames)
    dst = check_destination(src, dst, sources)
    rank, world = job_place()
    if resume and rank == 0:
        _remove_staging(dst, sources)
    report = ShardedRows(dst / REPORT_NAME, REPORT_COLUMNS, lambda row: os.path.abspath(row['source']), resume,
                         'a prepare report', 'another version of csst-zoo')
    todo = report.share(sources, key=lambda s: os.path.abspath(s.path))
    counts = dict(prepared=0, failed=0, skipped=len(sources) - len(todo) if world == 1 else None)
    bar = tqdm(total=len(todo), unit='video', desc='prepare' if world == 1 else f'prepare (rank {rank})',
               disable=not progress)
    try:
        for row in _in_workers(todo, dst, options, workers):
            report.append(row)
            counts['failed' if row.get('error') else 'prepared'] += 1
            bar.update()
    finally:
        bar.close()
        report.close()
    report.finish([os.path.abspath(s.path) for s in sources])
    if rank == 0:
        _write_list(dst, sources)
    return counts


def _remove_staging(dst: Path, sources: List[Source]) -> None:
    """The staging folders that a killed run left beside the outputs and in DST (each output is
    redone whole); nothing else under DST is searched."""
    for folder in sorted({dst} | {(dst / s.output).parent for s in sources}):
        for stage in folder.glob('.tmp-*'):
            if stage.is_dir():
                shutil.rmtree(stage, ignore_errors=True)


def _write_list(dst: Path, sources: List[Source]) -> None:
    """``dst/videos.csv`` from the report: the prepared videos, in the order of the sources."""
    rows = {os.path.abspath(r['source']): r for r in read_rows(dst / REPORT_NAME, REPORT_COLUMNS)}
    keys = [os.path.abspath(s.path) for s in sources]
    done = [rows[k] for k in keys if k in rows and not rows[k]['error']]
    columns = ['path', 'label'] + (['split'] if any(r['split'] for r in done) else [])
    path = dst / LIST_NAME
    write_atomic(path, header_text(path, columns) + ''.join(
        row_text(path, columns, dict(path=r['output'], label=r['label'], split=r['split'])) for r in done))
