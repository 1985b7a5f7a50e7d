"""Classification metrics of video evaluation."""
from typing import Dict, Sequence

import torch

__all__ = ['classification_metrics']


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int,
                           ks: Sequence[int] = (1, 5)) -> Dict:
    """Top-k accuracy (%) and per-class top-1 accuracy (%, None for classes with no sample)
    of ``scores (N, num_classes)`` against ``labels (N,)``."""
    if scores.ndim != 2 or scores.shape[1] != num_classes or labels.shape != scores.shape[:1]:
        raise ValueError(f'scores must be (N, {num_classes}) and labels (N,), got {tuple(scores.shape)} and '
                         f'{tuple(labels.shape)}')
    out = {'samples': len(labels)}
    ranked = scores.topk(min(max(ks), num_classes), dim=1).indices
    hits = ranked == labels[:, None]
    for k in ks:
        out[f'top{k}'] = 100.0 * hits[:, :k].any(dim=1).float().mean().item() if len(labels) else float('nan')
    correct = torch.zeros(num_classes).index_add_(0, labels, hits[:, 0].float())
    count = torch.bincount(labels, minlength=num_classes).float()
    out['per_class_top1'] = [100.0 * c / n if n else None for c, n in zip(correct.tolist(), count.tolist())]
    out['mean_class_top1'] = sum(v for v in out['per_class_top1'] if v is not None) / max(1, int((count > 0).sum()))
    return out
