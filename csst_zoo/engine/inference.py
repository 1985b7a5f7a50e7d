"""Classifying one video."""
from typing import List, Tuple

import torch

from ..data import VideoDataset, eval_transform

__all__ = ['predict_video']


@torch.no_grad()
def predict_video(model, path, clips: int = 1, crops: int = 1, topk: int = 5) -> List[Tuple[str, float]]:
    """The ``topk`` (class name, probability) of the video at ``path`` (file or frame folder):
    ``clips`` x ``crops`` views sampled and transformed as in evaluation, probabilities averaged.
    Class names come from ``model.pretrained_cfg['label_names']`` (else the class index)."""
    model.eval()
    cfg = model.pretrained_cfg
    dataset = VideoDataset([(path, 0)], cfg['input_size'][1], eval_transform(cfg, crops), train=False, clips=clips)
    views = dataset.load(0)
    device = next(model.parameters()).device
    probs = model(views.to(device)).softmax(dim=1).mean(dim=0)
    top = probs.topk(min(topk, len(probs)))
    names = cfg.get('label_names') or [str(i) for i in range(len(probs))]
    return [(names[i], p) for p, i in zip(top.values.tolist(), top.indices.tolist())]
