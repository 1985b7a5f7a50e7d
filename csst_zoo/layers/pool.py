import torch
from torch import nn

__all__ = ['GlobalPool3d']


class GlobalPool3d(nn.Module):
    """Global pooling over (T, H, W), with the interface of timm's ``SelectAdaptivePool2d``.

    ``pool_type`` is ``'avg'``, ``'max'`` or ``''`` (pass-through, output stays 5-D).
    """

    def __init__(self, pool_type: str = 'avg', flatten: bool = True):
        super().__init__()
        if pool_type not in ('avg', 'max', ''):
            raise ValueError(f"global_pool must be one of 'avg', 'max' or '' (no pooling), got {pool_type!r}")
        self.pool_type = pool_type
        self.flatten = flatten and bool(pool_type)

    def is_identity(self) -> bool:
        return not self.pool_type

    def feat_mult(self) -> int:
        return 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool_type == 'avg':
            return x.mean(dim=(2, 3, 4), keepdim=not self.flatten)
        if self.pool_type == 'max':
            return x.amax(dim=(2, 3, 4), keepdim=not self.flatten)
        return x

    def extra_repr(self) -> str:
        return f'pool_type={self.pool_type!r}, flatten={self.flatten}'
