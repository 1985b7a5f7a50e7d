"""Decoding: JPEG frame folders (Something-Something V1, Jester) and video files through PyAV.

Both readers keep only the frames asked for: a video file is decoded forward from the key frame
before each wanted frame (seeking past the frames in between) and every frame that is not
requested is dropped as soon as it is decoded, so neither a clip's memory nor its decoding time
grows with the length of the video. ``short_side`` resizes each kept frame right away (an evaluation
transform that starts by resizing the short side gives the same clip either way).
"""
import bisect
import collections
import functools
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Sequence, Tuple

import torch
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2 import functional as TF

__all__ = ['VideoReadError', 'VideoLimits', 'FrameFolder', 'VideoFile', 'open_video', 'FRAME_SUFFIXES',
           'VIDEO_SUFFIXES']

JPEG_SUFFIXES = ('.jpg', '.jpeg')
FRAME_SUFFIXES = JPEG_SUFFIXES + ('.png',)
VIDEO_SUFFIXES = ('.webm', '.mp4', '.avi', '.mkv', '.mov')
_NUMBERED = re.compile(r'^(.*?)(\d+)$')


class VideoReadError(RuntimeError):
    """A video that cannot be used: unreadable, empty, too short or inconsistent. The message names the file."""


class VideoLimits(NamedTuple):
    """What a video file may declare, checked before any frame of it is decoded: a small file can
    declare frames of 16384 x 16384 or hours of them, and every decoded frame is allocated whole.
    The defaults let every camera's file through (8K DCI frames, a day of footage)."""
    max_pixels: int = 8192 * 4320
    max_seconds: float = 24 * 3600

    def check(self, path, width: int, height: int, seconds: Optional[float]) -> None:
        """Raise VideoReadError naming the file and the limit it is over."""
        if width * height > self.max_pixels:
            raise VideoReadError(f'{path} has frames of {width}x{height} ({width * height / 1e6:.1f} megapixels), over '
                                 f'the limit of {self.max_pixels / 1e6:.1f} megapixels (VideoLimits.max_pixels)')
        if seconds is not None and seconds > self.max_seconds:
            raise VideoReadError(f'{path} lasts {_duration(seconds)}, over the limit of {_duration(self.max_seconds)} '
                                 '(VideoLimits.max_seconds)')


def _duration(seconds: float) -> str:
    return f'{seconds / 3600:.1f} hours' if seconds >= 3600 else f'{seconds / 60:.1f} minutes'


def _declared_seconds(container, stream) -> Optional[float]:
    """The length the file's headers give, before any packet is read: the stream's, else the container's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration else None  # in AV_TIME_BASE units


def _resize(frame: torch.Tensor, short_side: Optional[int]) -> torch.Tensor:
    return frame if short_side is None else TF.resize(frame, [short_side], antialias=True)


def _requested(indices, num_frames: int, path) -> Tuple[torch.Tensor, list]:
    """``indices`` as a long tensor and its distinct values in increasing order, checked against ``num_frames``."""
    indices = torch.as_tensor(indices, dtype=torch.long).flatten()
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= num_frames):
        raise IndexError(f'frame indices must be in [0, {num_frames}) for {path}, got {indices.tolist()}')
    return indices, sorted(set(indices.tolist()))


def _gather(indices: torch.Tensor, decoded: Iterator[Tuple[int, torch.Tensor]]) -> torch.Tensor:
    found = dict(decoded)
    return torch.stack([found[i] for i in indices.tolist()])


class FrameFolder:
    """A folder of frame images in numbered order (``00001.jpg``, ``img_2.jpg``, ``img_10.jpg``, ...).

    Numbered files are ordered by their number, not their name, and a gap in the numbering is an
    error: sampling would otherwise take a neighbour of the frame it meant to. Files without a
    common numbered pattern are taken in name order.
    """

    def __init__(self, path, fps: Optional[float] = None):
        self.path, self.fps = Path(path), fps
        try:
            files = [p for p in self.path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
        except OSError as e:
            raise VideoReadError(f'cannot list frame folder {self.path}: {e}') from None
        if not files:
            raise VideoReadError(f'frame folder {self.path} holds no {"/".join(FRAME_SUFFIXES)} frames')
        self.files = self._in_order(files)

    def _in_order(self, files):
        matches = [_NUMBERED.match(p.stem) for p in files]
        if not all(matches) or len({m.group(1) for m in matches}) != 1:
            return sorted(files)
        numbered = sorted((int(m.group(2)), p) for m, p in zip(matches, files))
        for (a, pa), (b, pb) in zip(numbered, numbered[1:]):
            if b == a:
                raise VideoReadError(f'frame folder {self.path}: frame number {a} appears twice ({pa.name}, {pb.name})')
            if b != a + 1:
                missing = f'frame {a + 1} is' if b == a + 2 else f'frames {a + 1}..{b - 1} are'
                raise VideoReadError(f'frame folder {self.path}: {missing} missing (the numbering jumps from '
                                     f'{pa.name} to {pb.name})')
        return [p for _, p in numbered]

    @property
    def num_frames(self) -> int:
        return len(self.files)

    def frame_times(self) -> torch.Tensor:
        """Start time of every frame in seconds, from ``fps`` (a folder of images has no clock)."""
        if self.fps is None:
            raise ValueError(f'frame folder {self.path} has no timestamps: give its frame rate (fps)')
        return torch.arange(self.num_frames, dtype=torch.float64) / self.fps

    def decode(self, wanted: Sequence[int], short_side: Optional[int] = None) -> Iterator[Tuple[int, torch.Tensor]]:
        """``(index, uint8 frame (3, H, W))`` for the increasing indices ``wanted``."""
        for i in wanted:
            try:
                frame = decode_image(read_file(str(self.files[i])), mode=ImageReadMode.RGB)
            except RuntimeError as e:
                raise VideoReadError(f'cannot decode frame {self.files[i]}: {e}') from None
            yield i, _resize(frame, short_side)

    def frames(self, indices, short_side: Optional[int] = None) -> torch.Tensor:
        """uint8 frames ``(len(indices), 3, H, W)``."""
        indices, wanted = _requested(indices, self.num_frames, self.path)
        return _gather(indices, self.decode(wanted, short_side))

    def encoded(self, indices) -> list:
        """The JPEG files of frames ``indices`` (any order, repeats allowed), undecoded: a uint8
        tensor of each file's bytes, for ``torchvision.io.decode_jpeg`` on a device."""
        indices, _ = _requested(indices, self.num_frames, self.path)
        files = [self.files[i] for i in indices.tolist()]
        other = next((f for f in files if f.suffix.lower() not in JPEG_SUFFIXES), None)
        if other is not None:
            raise VideoReadError(f'frame folder {self.path}: {other.name} is not a JPEG file; frames decoded on the '
                                 f'device must be {"/".join(JPEG_SUFFIXES)} files')
        try:
            return [read_file(str(f)) for f in files]
        except RuntimeError as e:
            raise VideoReadError(f'cannot read frame folder {self.path}: {e}') from None


class _Packets(NamedTuple):
    """The video packets of a file, in file (decoding) order, from one pass without decoding."""
    pts: list  # presentation timestamps, in time_base (None where the container has none)
    keys: list  # whether each packet starts a key frame, as the container says
    time_base: Fraction


def _scan_packets(container, stream) -> _Packets:
    packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]
    return _Packets([pts for pts, _ in packets], [key for _, key in packets], stream.time_base)


def _image(frame, short_side: Optional[int]) -> torch.Tensor:
    """A decoded frame as uint8 RGB (3, H, W), upright, resized to ``short_side``.

    A resize reads the (H, W, 3) array through a channels-last view, for which torch's uint8
    antialiased resize has a vectorised kernel: the same values as from a (3, H, W) copy, twice
    as fast for an 8-frame evaluation clip of 720p video. Unresized frames are made contiguous
    (training's crops and resizes run faster on them)."""
    image = torch.from_numpy(frame.to_ndarray(format='rgb24')).permute(2, 0, 1)
    if frame.rotation:  # counter-clockwise degrees that make the frame upright
        image = torch.rot90(image, round(frame.rotation / 90), dims=(1, 2))
    return image.contiguous() if short_side is None else _resize(image, short_side)


def _decoded_skipping(container, stream, wanted_pts: set):
    """The stream's frames decoded from the container's position, but for the non-reference
    frames (most B-frames of H.264 and HEVC) that are not in ``wanted_pts``: the decoder drops
    those packets unread. No other frame is predicted from a non-reference one, so every frame
    that is decoded has the values of a full decode; it saves about a third of H.264's decoding
    time. The setting is read per packet, frame-threaded decoding included."""
    codec = stream.codec_context
    for packet in container.demux(stream):
        codec.skip_frame = 'DEFAULT' if packet.pts is None or packet.pts in wanted_pts else 'NONREF'
        yield from packet.decode()


class _SeekIndex(NamedTuple):
    order: list  # every frame's timestamp, in presentation order: frame i has order[i]
    index_of: dict  # timestamp -> frame index
    keys: list  # the indices of the key frames, increasing


class VideoFile:
    """A video file decoded with PyAV (the first video stream, whatever streams come before it).

    Opening makes one pass over the video packets without decoding (``packets``): it gives every
    frame's timestamp and the key frames, from which ``decode`` seeks, and the frame count where
    the container header has none (WebM, fragmented MP4). It is made while the file is open
    anyway: each opening of an H.264 file decodes its first frames (FFmpeg's probe). Frames come
    out in presentation order, upright (a rotation in the display matrix, as phones write it, is
    applied), as RGB whatever the source's pixel format (10-bit, grayscale).
    """

    def __init__(self, path, limits: VideoLimits = VideoLimits()):
        import av
        self.path = Path(path)
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise VideoReadError(f'{self.path} has no video stream')
                stream = container.streams.video[0]
                size = stream.codec_context.width, stream.codec_context.height
                limits.check(self.path, *size, _declared_seconds(container, stream))
                self.average_rate = float(stream.average_rate) if stream.average_rate else None
                self.packets = _scan_packets(container, stream)
                self.num_frames = stream.frames or len(self.packets.pts)
                known = [p for p in self.packets.pts if p is not None]
                if known and self.packets.time_base:  # what the packets hold, where the headers said less
                    limits.check(self.path, *size, float((max(known) - min(known)) * self.packets.time_base))
        except (av.FFmpegError, OSError) as e:
            raise VideoReadError(f'cannot decode video {self.path}: {type(e).__name__}: {e}') from None
        if not self.num_frames:
            raise VideoReadError(f'video {self.path} has no frames')
        self._times = None

    @functools.cached_property
    def _seek_index(self) -> Optional[_SeekIndex]:
        """Every frame's timestamp and the key frames, from the packets; None unless there is a
        timestamp for every frame, all distinct (then frames are decoded from the start)."""
        packets = self.packets
        pts = packets.pts
        if len(pts) != self.num_frames or None in pts or len(set(pts)) != len(pts):
            return None
        order = sorted(pts)
        index_of = {p: i for i, p in enumerate(order)}
        return _SeekIndex(order, index_of, sorted(index_of[p] for p, key in zip(pts, packets.keys) if key))

    def frame_times(self) -> torch.Tensor:
        """Presentation time of every frame in seconds from the first (a variable frame rate
        gives uneven steps), from the packets' timestamps, else from the average frame rate."""
        if self._times is None:
            index = self._seek_index
            if index is None:
                if not self.average_rate:
                    raise VideoReadError(f'{self.path} has neither timestamps for every frame nor a frame rate')
                self._times = torch.arange(self.num_frames, dtype=torch.float64) / self.average_rate
            else:
                start, base = index.order[0], self.packets.time_base
                self._times = torch.tensor([float((p - start) * base) for p in index.order], dtype=torch.float64)
        return self._times

    def decode(self, wanted: Sequence[int], short_side: Optional[int] = None) -> Iterator[Tuple[int, torch.Tensor]]:
        """``(index, uint8 frame (3, H, W))`` for the increasing indices ``wanted``, converting only those.

        For each wanted frame, when a key frame lies between the last frame decoded and it, the
        decoder seeks to that key frame rather than decode up to it, then decodes forward, skipping
        the non-reference frames it does not return: the cost follows the frames wanted, not the
        video's length. The frames are those one pass from the start gives at these indices;
        where the file's index cannot be trusted (a seek that lands on anything but the key frame
        asked for, a timestamp the packets did not have), the rest is decoded in that one pass
        instead.
        """
        import av
        pending = collections.deque(wanted)
        # the pass from the start takes what seeking left, or all without an index
        passes = (self._from_start,) if self._seek_index is None else (self._seeking, self._from_start)
        try:
            for decoding_pass in passes:
                if pending:
                    with av.open(str(self.path)) as container:
                        for i, frame in decoding_pass(container, pending):
                            yield i, _image(frame, short_side)
                            pending.popleft()
        except av.FFmpegError as e:
            raise VideoReadError(f'cannot decode video {self.path} before frame {pending[0]}: '
                                 f'{type(e).__name__}: {e}') from None

    @staticmethod
    def _threaded_stream(container):
        stream = container.streams.video[0]
        # as many decoding threads as torch uses: all cores in the main process, one in a
        # DataLoader worker (which sets torch to one thread), so workers do not oversubscribe
        stream.thread_type = 'AUTO'
        stream.codec_context.thread_count = torch.get_num_threads()
        return stream

    def _from_start(self, container, pending):
        """One decoding pass from the start, yielding ``(index, frame)`` at ``pending[0]`` (the
        caller removes each target it receives) and stopping after the last."""
        decoded = 0
        for decoded, frame in enumerate(container.decode(self._threaded_stream(container)), 1):
            if decoded - 1 == pending[0]:
                yield pending[0], frame
                if not pending:
                    return
        raise VideoReadError(f'video {self.path}: its container counts {self.num_frames} frames but only {decoded} '
                             f'decode (a truncated or damaged file?); frame {pending[0]} was asked for')

    def _seeking(self, container, pending):
        """Yields ``(index, frame)`` at ``pending[0]``, seeking to key frames; returns early, with
        targets left in ``pending``, where the index proves untrustworthy."""
        index = self._seek_index
        stream = self._threaded_stream(container)
        wanted_pts = {index.order[i] for i in pending}
        frames, position = None, -1  # position: the last frame decoded, in presentation order
        while pending:
            target = pending[0]
            before = bisect.bisect_right(index.keys, target)
            key = index.keys[before - 1] if before else None
            if frames is None or (key is not None and key > position):
                anchor = 0 if key is None else key
                if anchor or frames is not None:
                    container.seek(index.order[anchor], stream=stream)
                frames, checked = _decoded_skipping(container, stream, wanted_pts), False
            for frame in frames:
                i = index.index_of.get(frame.pts)
                if i is None:
                    return  # a timestamp the packets did not have
                if not checked:  # the first frame from the anchor on must be the key frame asked for
                    if i < anchor:
                        continue  # an earlier key frame's, or an open GOP's leading frames
                    if i != anchor or not frame.key_frame:
                        return
                    checked = True
                position = i
                if i == target:
                    yield i, frame
                    break
                if i > target:
                    return
            else:
                return  # the stream ended first: the pass from the start names the file

    def frames(self, indices, short_side: Optional[int] = None) -> torch.Tensor:
        """uint8 frames ``(len(indices), 3, H, W)`` (indices in any order, repeats allowed)."""
        indices, wanted = _requested(indices, self.num_frames, self.path)
        return _gather(indices, self.decode(wanted, short_side))


def open_video(path, fps: Optional[float] = None, limits: VideoLimits = VideoLimits()):
    """A FrameFolder (with frame rate ``fps`` for timestamps) for a directory, a VideoFile (whose
    declared frame size and length must be within ``limits``) otherwise. A reader that
    ``open_video`` returned is returned as it is, so that the functions taking a video can be given
    one already open (opening a file reads all its packets)."""
    if isinstance(path, (FrameFolder, VideoFile)):
        if fps is not None:
            raise ValueError(f'fps is given when a frame folder is opened, not with the reader of {path.path}')
        return path
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path, fps)
    if not path.is_file():
        raise VideoReadError(f'video {path} does not exist')
    return VideoFile(path, limits)
