"""C2D: the 2D ResNet applied per frame (no temporal modelling), the paper's baseline."""
from ..layers import C2DConv
from ._family import Family, FamilyCard
from .csst import PAPER

CARD = FamilyCard(
    title='C2D',
    description='its 3x3 convs applied per frame (no temporal modelling).',
    paper=PAPER,
    initialisation='every 2D kernel becomes its per-frame 1xkxk form, so the model is exactly the ImageNet '
                   'network applied to each frame, its logits averaged over time.',
)

FAMILY = Family(
    name='c2d',
    card=CARD,
    layer=C2DConv,
    params=lambda c_in, c_out, k, num_frames: k ** 2 * c_in * c_out,
)
