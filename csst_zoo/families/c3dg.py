"""C3D-g: the paper's grouped C3D, every 3x3 conv of conv2-conv5 a 3x3x3 conv with ``groups`` groups."""
import dataclasses

from . import c3d

CARD = dataclasses.replace(
    c3d.CARD, title='C3D-g',
    description='every 3x3 conv of conv2-conv5 made a grouped 3x3x3 conv.',
    initialisation='the grouped 3x3x3 kernels keep the block-diagonal part of the 2D kernels that their groups '
                   'can express, repeated over time and divided by 3 (I3D inflation).',
)

FAMILY = dataclasses.replace(
    c3d.FAMILY, name='c3dg', card=CARD, defaults={'groups': 2},
    params=lambda c_in, c_out, k, num_frames, groups: k ** 3 * c_in * c_out / groups,
)
