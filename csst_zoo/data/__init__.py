"""Video data: TSN sampling, decoding, data set layouts and clip transforms."""
from .datasets import DATASETS, SPLITS, SYNTHETIC, SyntheticClips, VideoDataset, read_dataset
from .readers import FrameFolder, VideoFile, VideoReadError, open_video
from .sampling import segment_indices
from .transforms import eval_transform, mirrored_classes, train_transform

__all__ = [
    'DATASETS', 'SPLITS', 'SYNTHETIC', 'SyntheticClips', 'VideoDataset', 'read_dataset', 'FrameFolder', 'VideoFile',
    'VideoReadError', 'open_video', 'segment_indices', 'eval_transform', 'mirrored_classes', 'train_transform',
]
