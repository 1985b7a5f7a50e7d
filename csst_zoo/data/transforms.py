"""Clip transforms of TSN-style training and testing.

A clip enters as uint8 ``(V, T, 3, H, W)`` (V sampled clips of T frames) with its label, and
leaves as float ``(V', 3, T, h, w)``, normalised, with V' = V x crops. Every frame of a clip
gets the same crop and flip. Sizes and mean/std come from a model's ``pretrained_cfg``.
"""
import re
from typing import Iterable, Optional, Sequence

import torch
from einops import rearrange
from torchvision.transforms.v2 import functional as TF

__all__ = ['MultiScaleCrop', 'RandomHorizontalFlip', 'ResizeCenterCrop', 'ThreeCrop', 'TenCrop', 'Normalize',
           'ClipTransform', 'train_transform', 'eval_transform', 'eval_sizes', 'mirrored_classes']


class MultiScaleCrop:
    """TSN's multi-scale crop: a crop whose sides are each one of ``scales`` x the short side
    (aspect distortion at most ``max_distort`` steps), at one of 13 fixed positions, resized to
    ``size`` x ``size``."""

    def __init__(self, size: int, scales=(1, 0.875, 0.75, 0.66), max_distort: int = 1, generator=None):
        self.size, self.scales, self.max_distort, self.generator = size, tuple(scales), max_distort, generator

    def _pick(self, n: int) -> int:
        return int(torch.randint(n, (), generator=self.generator))

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        h, w = clip.shape[-2:]
        sides = [int(min(h, w) * s) for s in self.scales]
        pairs = [(ch, cw) for i, ch in enumerate(sides) for j, cw in enumerate(sides) if abs(i - j) <= self.max_distort]
        ch, cw = pairs[self._pick(len(pairs))]
        dy, dx = (h - ch) / 4, (w - cw) / 4
        grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4), (1, 1), (1, 3), (3, 1), (3, 3)]
        gy, gx = grid[self._pick(len(grid))]
        clip = TF.crop(clip, int(gy * dy), int(gx * dx), ch, cw)
        return TF.resize(clip, [self.size, self.size], antialias=True)


class RandomHorizontalFlip:
    """Flip with probability ``p``, never for the labels in ``keep`` (classes whose mirror image
    is another class, e.g. "... from left to right")."""

    def __init__(self, p: float = 0.5, keep: Iterable[int] = (), generator=None):
        self.p, self.keep, self.generator = p, frozenset(keep), generator

    def __call__(self, clip: torch.Tensor, label: int) -> torch.Tensor:
        if label in self.keep or float(torch.rand((), generator=self.generator)) >= self.p:
            return clip
        return TF.horizontal_flip(clip)


class _ResizeThenCrop:
    """Resize the short side to ``resize``, then ``size`` x ``size`` crops."""

    def __init__(self, resize: int, size: int):
        self.resize, self.size = resize, size

    @property
    def short_side(self) -> int:
        """What this op first resizes the short side to (a reader can do it while decoding)."""
        return self.resize


class ResizeCenterCrop(_ResizeThenCrop):
    """Resize the short side to ``resize``, then the centre ``size`` x ``size`` crop."""

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        return TF.center_crop(TF.resize(clip, [self.resize], antialias=True), [self.size, self.size])


class ThreeCrop:
    """Resize the short side to ``size``, then three ``size`` x ``size`` crops along the long
    side (start, centre, end): the views of the paper's 2 clips x 3 crops test. Adds the crops
    to the view dimension: ``(V, T, C, H, W)`` -> ``(3 V, T, C, size, size)``."""

    def __init__(self, size: int):
        self.size = size

    @property
    def short_side(self) -> int:
        return self.size

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        clip = TF.resize(clip, [self.size], antialias=True)
        h, w = clip.shape[-2:]
        s = self.size
        if w >= h:
            crops = [TF.crop(clip, (h - s) // 2, x, s, s) for x in (0, (w - s) // 2, w - s)]
        else:
            crops = [TF.crop(clip, y, (w - s) // 2, s, s) for y in (0, (h - s) // 2, h - s)]
        return torch.cat(crops)


class TenCrop(_ResizeThenCrop):
    """Resize the short side to ``resize``, then five ``size`` x ``size`` crops (the four corners
    and the centre) and their mirror images: the ten views of TSN's and mmaction2's Kinetics test
    (``TenCrop``). ``(V, T, C, H, W)`` -> ``(10 V, T, C, size, size)``."""

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        clip = TF.resize(clip, [self.resize], antialias=True)
        h, w = clip.shape[-2:]
        s = self.size
        corners = [(0, 0), (0, w - s), (h - s, 0), (h - s, w - s), ((h - s) // 2, (w - s) // 2)]
        crops = [TF.crop(clip, y, x, s, s) for y, x in corners]
        return torch.cat(crops + [TF.horizontal_flip(c) for c in crops])


class Normalize:
    """uint8 -> float in [0, 1] -> (x - mean) / std, and frames to the model's layout (V, C, T, H, W)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = list(mean), list(std)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        clip = TF.normalize(TF.to_dtype(clip, torch.float32, scale=True), self.mean, self.std)
        return rearrange(clip, 'v t c h w -> v c t h w').contiguous()


class ClipTransform:
    """Spatial ops, an optional flip, then normalisation: ``(clip, label) -> clip``."""

    def __init__(self, spatial, normalize: Normalize, flip: Optional[RandomHorizontalFlip] = None):
        self.spatial, self.normalize, self.flip = list(spatial), normalize, flip

    @property
    def short_side(self) -> Optional[int]:
        """The short side the first spatial op resizes every frame to, if it starts with that (the
        evaluation transforms): frames may come resized so, which gives the same clip and keeps
        decoded frames small. None when the original frames are needed (training's crops)."""
        return getattr(self.spatial[0], 'short_side', None) if self.spatial else None

    def __call__(self, clip: torch.Tensor, label: int) -> torch.Tensor:
        if clip.ndim != 5 or clip.dtype != torch.uint8:
            raise ValueError(f'clip must be uint8 (V, T, C, H, W), got {clip.dtype} of shape {tuple(clip.shape)}')
        for op in self.spatial:
            clip = op(clip)
        if self.flip is not None:
            clip = self.flip(clip, label)
        return self.normalize(clip)


def eval_sizes(cfg: dict):
    """(crop, resize) of evaluation from a ``pretrained_cfg``: the centre crop is the input size
    and the short side is first resized to crop / crop_pct (256 for 224)."""
    size = cfg['input_size'][-1]
    return size, int(round(size / cfg.get('crop_pct', 0.875)))


def train_transform(cfg: dict, flip: bool = True, keep_unflipped: Iterable[int] = (), generator=None):
    """Multi-scale crop + horizontal flip (off with ``flip=False``; never for the labels in
    ``keep_unflipped``) + normalisation, sized by the model's ``pretrained_cfg``."""
    size, _ = eval_sizes(cfg)
    return ClipTransform(
        [MultiScaleCrop(size, generator=generator)], Normalize(cfg['mean'], cfg['std']),
        RandomHorizontalFlip(0.5, keep_unflipped, generator) if flip else None)


EVAL_CROPS = (1, 3, 10)


def eval_transform(cfg: dict, crops: int = 1, protocol: bool = False):
    """1 crop: resize to size / crop_pct (256 for 224) + centre crop; 3 crops: :class:`ThreeCrop`;
    10 crops: :class:`TenCrop`. With ``protocol``, the sizes of the test behind a checkpoint's
    published figure (``cfg['test_views']``: ``resize``, ``crop``) where it has one."""
    if crops not in EVAL_CROPS:
        raise ValueError(f'crops must be 1 (centre), 3 (three crops) or 10 (ten crops), got {crops!r}')
    size, resize = eval_sizes(cfg)
    if protocol and cfg.get('test_views'):
        size, resize = cfg['test_views']['crop'], cfg['test_views']['resize']
    spatial = {1: lambda: ResizeCenterCrop(resize, size), 3: lambda: ThreeCrop(size),
               10: lambda: TenCrop(resize, size)}[crops]()
    return ClipTransform([spatial], Normalize(cfg['mean'], cfg['std']))


_DIRECTIONS = re.compile(r'\b(left|right|clockwise|counterclockwise|anticlockwise)\b', re.IGNORECASE)


def mirrored_classes(class_names: Sequence[str]) -> set:
    """Indices of classes whose name has a direction (left, right, clockwise, ...): a flipped
    clip of them shows another class, so they are never flipped."""
    return {i for i, name in enumerate(class_names) if _DIRECTIONS.search(name)}
