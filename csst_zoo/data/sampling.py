"""Which frames of a video a clip takes: TSN's segments (Wang et al., Temporal Segment Networks: T
frames spread over the whole video) or dense clips (T frames a fixed interval apart)."""
from typing import Optional

import torch

from .._checks import check_positive_int

__all__ = ['SAMPLINGS', 'clip_indices', 'dense_indices', 'segment_indices']


def segment_indices(
        num_frames: int,
        num_segments: int,
        train: bool,
        clips: int = 1,
        generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Frame indices ``(clips, num_segments)`` of a video with ``num_frames`` frames.

    The video is cut into ``num_segments`` equal segments. Training: one random frame per
    segment (``clips`` independent draws). Test: ``clips`` evenly spaced positions inside every
    segment, the centre frame for one clip. A video shorter than ``num_segments`` frames raises
    ValueError: repeating its frames would hand the model another clip length than it is told.
    """
    for name, value in (('num_segments', num_segments), ('clips', clips)):
        check_positive_int(name, value)
    if num_frames < num_segments:
        raise ValueError(f'the video has {num_frames} frames, fewer than the {num_segments} segments to sample')
    segment = num_frames / num_segments
    starts = torch.arange(num_segments, dtype=torch.float64) * segment
    if train:
        # an integer draw in [floor(start), floor(start + segment)) for every segment
        low = starts.floor()
        width = (starts + segment).floor() - low
        offsets = (torch.rand(clips, num_segments, generator=generator, dtype=torch.float64) * width).floor()
        return (low + offsets).long()
    positions = (torch.arange(clips, dtype=torch.float64) + 0.5) / clips
    return (starts + positions[:, None] * segment).floor().long()


def dense_indices(
        num_frames: int,
        clip_len: int,
        frame_interval: int,
        train: bool,
        clips: int = 1,
        generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Frame indices ``(clips, clip_len)``: clips of ``clip_len`` frames ``frame_interval`` apart, as
    Kinetics models are trained and tested (mmaction2's ``SampleFrames(clip_len, frame_interval,
    num_clips)``, PyTorchVideo's clip samplers).

    A clip spans ``(clip_len - 1) * frame_interval + 1`` frames. Training: each clip starts at a
    random frame where it fits (``clips`` independent draws). Test: one clip sits in the middle of
    the video; several are spread evenly from its start to its end (start ``round(k * room /
    (clips - 1))``, ``room`` the frames left over), exactly mmaction2's test mode. Indices past the
    end wrap around to the start, as mmaction2's ``out_of_bound_opt='loop'``, so a short video
    still gives full clips.
    """
    for name, value in (('clip_len', clip_len), ('frame_interval', frame_interval), ('clips', clips)):
        check_positive_int(name, value)
    check_positive_int('num_frames', num_frames)
    room = max(num_frames - ((clip_len - 1) * frame_interval + 1), 0)
    if train:
        starts = torch.randint(room + 1, (clips,), generator=generator)
    elif clips == 1:
        starts = torch.tensor([room // 2])
    else:
        starts = (torch.arange(clips, dtype=torch.float64) * (room / (clips - 1))).round().long()
    return (starts[:, None] + torch.arange(clip_len) * frame_interval) % num_frames


SAMPLINGS = ('segments', 'dense')


def clip_indices(num_frames: int, clip_len: int, train: bool, clips: int = 1, sampling: str = 'segments',
                 frame_interval: int = 1, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Frame indices ``(clips, clip_len)`` by a model's ``sampling`` ('segments': ``segment_indices``;
    'dense': ``dense_indices`` with ``frame_interval``)."""
    if sampling == 'segments':
        return segment_indices(num_frames, clip_len, train, clips, generator)
    if sampling == 'dense':
        return dense_indices(num_frames, clip_len, frame_interval, train, clips, generator)
    raise ValueError(f'sampling must be one of {", ".join(SAMPLINGS)}, got {sampling!r}')
