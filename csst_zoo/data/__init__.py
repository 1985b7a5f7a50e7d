"""Video data: TSN sampling, decoding, data set layouts and clip transforms."""
from .datasets import (
    DATASETS, SPLITS, SYNTHETIC, EncodedClip, SyntheticClips, VideoDataset, collate_clips, decode_clips, read_dataset)
from .readers import FrameFolder, VideoFile, VideoReadError, open_video
from .sampling import segment_indices
from .transforms import eval_transform, mirrored_classes, train_transform

__all__ = [
    'DATASETS', 'SPLITS', 'SYNTHETIC', 'EncodedClip', 'SyntheticClips', 'VideoDataset', 'collate_clips', 'decode_clips',
    'read_dataset', 'FrameFolder', 'VideoFile', 'VideoReadError', 'open_video', 'segment_indices', 'eval_transform',
    'mirrored_classes', 'train_transform',
]
