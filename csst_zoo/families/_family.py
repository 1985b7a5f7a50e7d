"""What a conv family is: one self-describing definition that the model, inflation, profiling,
the model card and the checkpoint converter all read.

A family's layer is a module built in place of one 2D conv of a ResNet block, with the
signature ``layer(in_channels, out_channels, stride=1, dilation=1, kernel_size=3, **args)``
(plus ``num_frames=`` when the family is built for one clip length). It maps
``(N, C_in, T, H, W)`` to ``(N, C_out, T, H / stride, W / stride)`` and exposes
``in_channels``, ``out_channels`` and ``kernel_size`` (spatial size last) of the 2D conv it
stands for, so that a 2D checkpoint's kernel can be checked against it.
"""
import dataclasses
import re
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ['Family', 'FamilyCard', 'OfficialLayout', 'Release', 'per_frame_weights', 'num_frames_in_name']

SLOTS = ('conv3x3', 'conv1', 'conv2')


def per_frame_weights(module: nn.Module, w: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The C2D rule: the 2D kernel as a 1 x k x k kernel, so the layer is the 2D conv per frame."""
    return {'weight': w.unsqueeze(2)}


def num_frames_in_name(path: str) -> Dict[str, Any]:
    """``num_frames`` from a TSN-style checkpoint name (``..._segment8_...``), or nothing."""
    found = re.search(r'segment(\d+)', str(path))
    return {'num_frames': int(found.group(1))} if found else {}


@dataclasses.dataclass(frozen=True)
class Release:
    """A checkpoint the authors published, and the accuracy they report for it."""
    id: str              # what ``csst-zoo convert --release`` takes, e.g. 'tsm-r50-sthv1-8f'
    dataset: str         # Hugging Face dataset id, e.g. 'something-something-v1'
    dataset_name: str    # e.g. 'Something-Something V1'
    views: str           # frames and test views of the reported figure
    top1: float
    top5: Optional[float] = None
    pattern: Optional[str] = None  # regex that the released file's path matches, when its name is telling


@dataclasses.dataclass(frozen=True)
class OfficialLayout:
    """How the authors' released checkpoints name their tensors, relative to this family's model.

    The converter first strips what every TSN-style code base adds (DataParallel's ``module.``,
    ``base_model.``; ``new_fc.`` is the classifier), then applies ``renames`` (regex, replacement)
    in order. ``signature`` is a regex that only this family's official keys match (used to say
    which family a checkpoint belongs to when it is converted as another). ``model_args`` reads the
    family's arguments and ``num_frames`` from the state dict (official key layout, prefixes
    stripped) and the file's path.
    """
    repository: str
    license: str  # of the repository and its released weights (Hugging Face license id)
    renames: Tuple[Tuple[str, str], ...]
    signature: str
    model_args: Callable[[Dict[str, torch.Tensor], str], Dict[str, Any]] = num_frames_in_name
    releases: Tuple[Release, ...] = ()


@dataclasses.dataclass(frozen=True)
class FamilyCard:
    """What is written about a family, beside its network (``Family``): the model card's text and the
    authors' releases.

    Attributes:
        title: display name (``'CSST-Net'``).
        description: completes "timm's ResNet with ..." (docstrings, model card).
        paper: the method's citation.
        initialisation: one sentence for the model card on what ``pretrained=True`` gives.
        official: the authors' checkpoint layout and releases, for ``csst-zoo convert``.
    """
    title: str
    description: str
    paper: str
    initialisation: str = ''
    official: Optional[OfficialLayout] = None


@dataclasses.dataclass(frozen=True)
class Family:
    """A way of making a 2D ResNet temporal: what builds the network (its card is ``card``).

    Attributes:
        name: registry name; models are ``{name}_resnet{depth}``.
        card: the family's paperwork (``FamilyCard``): titles, citation, model-card text, releases.
        layer: the module built at each place (see the module docstring).
        params: the parameter formula of one layer, ``params(c_in, c_out, k, num_frames, **args)``.
        defaults: the family's own arguments and their defaults.
        slot: which conv of a block the layer takes the place of: ``'conv3x3'`` (every 3x3 conv:
            both of a basic block, the middle one of a bottleneck), ``'conv1'`` or ``'conv2'``.
        block_step: ``block_step(layers)`` -> build the layer in every n-th block of each stage.
        depths: the ResNet depths the family is registered for.
        fixed_num_frames: the layer is built for one clip length T (``num_frames``).
        inflate: ``inflate(layer, w)``: the layer's tensors (names relative to it) that a 2D
            kernel ``w`` of shape ``(C_out, C_in, k, k)`` determines; the others keep their init.
    """
    name: str
    card: FamilyCard
    layer: Callable[..., nn.Module]
    params: Callable[..., float]
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    slot: str = 'conv3x3'
    block_step: Callable[[Sequence[int]], int] = lambda layers: 1
    depths: Tuple[int, ...] = (18, 34, 50, 101)
    fixed_num_frames: bool = False
    inflate: Callable[[nn.Module, torch.Tensor], Dict[str, torch.Tensor]] = per_frame_weights

    def __post_init__(self):
        if self.slot not in SLOTS:
            raise ValueError(f'slot must be one of {SLOTS}, got {self.slot!r}')

    def resolve_args(self, given: Mapping[str, Any]) -> Dict[str, Any]:
        """The family's arguments: ``given`` over the defaults (``None`` takes the default);
        an argument the family does not take is a ValueError that names what it takes."""
        given = {k: v for k, v in given.items() if v is not None}
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            takes = ', '.join(sorted(self.defaults)) or 'no extra arguments'
            raise ValueError(f'{", ".join(unknown)} does not apply to the {self.name} family, which takes {takes}')
        return {**self.defaults, **given}

    def build(self, conv: nn.Conv2d, num_frames: int, args: Mapping[str, Any]) -> nn.Module:
        """The family's layer in place of the 2D ``conv``."""
        if conv.groups != 1 or conv.kernel_size[0] != conv.kernel_size[1]:
            raise ValueError(f'the {self.name} family replaces square, ungrouped convs only, not {conv}')
        extra = {'num_frames': num_frames} if self.fixed_num_frames else {}
        return self.layer(conv.in_channels, conv.out_channels, stride=conv.stride[0], dilation=conv.dilation[0],
                          kernel_size=conv.kernel_size[0], **args, **extra)

    def slot_names(self, block: nn.Module) -> Tuple[str, ...]:
        """Names of the convs of ``block`` that the family's layer takes the place of."""
        if self.slot == 'conv3x3':
            return tuple(n for n, m in block.named_children()
                         if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
        return (self.slot,)

    def conv_params(self, c_in: int, c_out: int, k: int = 3, num_frames: int = 8, **args) -> float:
        """Parameters of one layer by the family's formula, at its defaults unless given."""
        return self.params(c_in, c_out, k, num_frames, **self.resolve_args(args))
