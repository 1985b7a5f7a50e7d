"""TSN segment sampling (Wang et al., Temporal Segment Networks): T frames spread over a video."""
from typing import Optional

import torch

from .._checks import check_positive_int

__all__ = ['segment_indices']


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
