"""Video data: TSN segment and dense sampling, decoding, data set layouts and clip transforms."""
from .datasets import (
    DATASETS, SPLITS, SYNTHETIC, EncodedClip, SyntheticClips, VideoDataset, collate_clips, decode_clips, read_dataset,
    sampling_args)
from .readers import FrameFolder, VideoFile, VideoLimits, VideoReadError, open_video
from .sampling import SAMPLINGS, clip_indices, dense_indices, segment_indices
from .transforms import eval_transform, mirrored_classes, train_transform

__all__ = [
    'DATASETS', 'SPLITS', 'SYNTHETIC', 'EncodedClip', 'SyntheticClips', 'VideoDataset', 'collate_clips', 'decode_clips',
    'read_dataset', 'sampling_args', 'FrameFolder', 'VideoFile', 'VideoLimits', 'VideoReadError', 'open_video',
    'SAMPLINGS', 'clip_indices', 'dense_indices', 'segment_indices', 'eval_transform',
    'mirrored_classes', 'train_transform',
]
