import torch
from torch import nn

__all__ = ['GlobalPool3d', 'frame_means', 'spatiotemporal_mean']


def spatiotemporal_mean(x: torch.Tensor, keepdim: bool = True) -> torch.Tensor:
    """Mean of a (N, C, T, H, W) tensor over (T, H, W), in ``x``'s dtype.

    Computed as a sum divided by T*H*W: on CPU, ``mean`` of a bf16 tensor first copies the
    whole tensor to fp32 (ATen's ``mean_out``), several times slower than ``sum``, which
    accumulates in fp32 anyway (measured on PFFF's inputs under bf16 autocast). The price is one
    more bf16 rounding (of the sum). An fp16 sum can overflow, so fp16 sums in fp32; bf16 has
    fp32's exponent range.
    """
    if torch.onnx.is_in_onnx_export():
        return x.mean(dim=(2, 3, 4), keepdim=keepdim)  # one ReduceMean node
    sum_dtype = torch.float32 if x.dtype == torch.float16 else None
    total = x.sum(dim=(2, 3, 4), keepdim=keepdim, dtype=sum_dtype)
    return (total / x.shape[2:].numel()).to(x.dtype)


def frame_means(x: torch.Tensor) -> torch.Tensor:
    """The spatial mean of every frame of a clip: ``(N, C, T, H, W)`` to ``(N, C, T)``.

    Reduced over the frames' H and W, ``(N, T, C, H, W)``: for a ``channels_last_3d`` clip, ATen's
    reduction over the clip's dims 3 and 4 takes a path about 10x slower than the same reduction
    written over the frames, which runs at the speed of a contiguous clip's (measured in bf16 and
    fp32 on CPU). An ONNX export writes one ReduceMean.
    """
    if torch.onnx.is_in_onnx_export():
        return x.mean(dim=(3, 4))
    return x.transpose(1, 2).mean(dim=(3, 4)).transpose(1, 2)


# torch.fx traces a call of it as one node (its dtype test is control flow, which symbolic
# tracing cannot follow); modules that call it by its own name wrap it the same way.
torch.fx.wrap('spatiotemporal_mean')


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
            return spatiotemporal_mean(x, keepdim=not self.flatten)
        if self.pool_type == 'max':
            return x.amax(dim=(2, 3, 4), keepdim=not self.flatten)
        return x

    def extra_repr(self) -> str:
        return f'pool_type={self.pool_type!r}, flatten={self.flatten}'
