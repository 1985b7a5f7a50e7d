"""Per-frame ops on clips: the 2D ops of a ResNet applied to every frame of ``(N, C, T, H, W)`` clips.

Each runs as the 2D op on the frames ``(N T, C, H, W)`` (``to_frames``), so that cuDNN and oneDNN
take their 2D kernels (on CUDA, BatchNorm3d of ``channels_last_3d`` tensors computes its statistics
with a generic reduction kernel, BatchNorm2d of ``channels_last`` frames with its own), and keeps
its 3D module's parameters, names and ONNX form: checkpoints and exported graphs are those of the
1 x kh x kw Conv3d, BatchNorm3d and MaxPool3d it stands for.
"""
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ['FrameBatchNorm', 'FrameConv', 'FrameMaxPool', 'from_frames', 'to_frames']


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """The frames ``(N T, C, H, W)`` of clips ``(N, C, T, H, W)``.

    A free view when the clip's memory holds each frame in one piece: ``channels_last_3d`` (frames
    in ``channels_last``) or the output of a per-frame op on contiguous frames (``from_frames`` of
    it); a copy only for a contiguous ``(N, C, T, H, W)`` input, whose frames are interleaved."""
    return rearrange(x, 'n c t h w -> (n t) c h w')


def from_frames(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """Clips ``(N, C, T, H, W)`` of their frames ``(N T, C, H, W)``: always a free view."""
    return rearrange(frames, '(n t) c h w -> n c t h w', n=batch)


# torch.fx traces a call of rearrange as one node (einops cannot read a traced value's shape). A
# model's other reshapes are views: a rearrange in another module would need a wrap of its own.
torch.fx.wrap('rearrange')


class _PerFrame:
    """A 3D module of 1 x k x k ops that runs as ``_on_frames``, its 2D op, on the clip's frames.

    Two graph builders keep the 3D op: an ONNX export, which onnxruntime and OpenVINO run well (a
    fold there would cost two Transposes per op), and ``torch.compile`` without autograd, where
    inductor folds each BatchNorm into the conv before it (with ``freezing``) only when no frame
    views sit between them."""

    def _on_frames(self, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export() or (torch.compiler.is_compiling() and not torch.is_grad_enabled()):
            return super().forward(x)
        return from_frames(self._on_frames(to_frames(x)), x.shape[0])


class FrameConv(_PerFrame, nn.Conv3d):
    """A 2D conv applied to every frame of a clip: a 1 x kh x kw Conv3d kernel, run as ``conv2d`` on
    the frames, so that oneDNN and cuDNN take their 2D paths; on CPU, ATen sends a batch-1 1x3x3
    ``conv3d`` with few channels to its native kernel rather than oneDNN (a heuristic made for 2D
    shapes), 3x slower than its FLOPs."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = False):
        pair = nn.modules.utils._pair
        super().__init__(
            in_channels, out_channels, kernel_size=(1, *pair(kernel_size)), stride=(1, *pair(stride)),
            padding=(0, *pair(padding)), dilation=(1, *pair(dilation)), groups=groups, bias=bias)

    @classmethod
    def from_2d(cls, conv: nn.Conv2d) -> 'FrameConv':
        """The per-frame form of ``conv`` (its weights are not copied)."""
        return cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                   conv.groups, conv.bias is not None)

    def _on_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return F.conv2d(frames, self.weight.squeeze(2), self.bias, self.stride[1:], self.padding[1:],
                        self.dilation[1:], self.groups)


class FrameBatchNorm(_PerFrame, nn.BatchNorm3d):
    """BatchNorm over (N, T, H, W) of clips, run as BatchNorm2d over the frames: the same statistics."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        # It sees the frames (4-D), or the clip when exported or compiled for inference: both are
        # right, and the model checks its input (check_clip). Testing x.dim() here would also stop
        # torch.fx, which cannot trace control flow on a traced value.
        pass

    def _on_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return nn.BatchNorm3d.forward(self, frames)  # its statistics and running averages, on 4-D input


class FrameMaxPool(_PerFrame, nn.MaxPool3d):
    """A 1 x k x k max pool of clips, run as a 2D max pool of the frames."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        pair = nn.modules.utils._pair
        super().__init__((1, *pair(kernel_size)), (1, *pair(stride or kernel_size)), (0, *pair(padding)),
                         ceil_mode=ceil_mode)

    def _on_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(frames, self.kernel_size[1:], self.stride[1:], self.padding[1:], ceil_mode=self.ceil_mode)
