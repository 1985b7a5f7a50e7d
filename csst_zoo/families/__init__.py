"""The conv families: one file each, registered by the one line below.

A family (``Family``) says where its layer goes in a ResNet block, its arguments and defaults,
its parameter formula and how 2D ImageNet weights inflate into it; its card (``FamilyCard``,
``Family.card``) holds what is written about it: title, citation, model-card text, and how its
authors' released checkpoints name their tensors. The models (``{name}_resnet{depth}``),
inflation, profiling, the model card and ``csst-zoo convert`` all read them from ``FAMILIES``. To
add a family, write ``csst_zoo/families/NAME.py`` with a ``CARD = FamilyCard(...)`` and a
``FAMILY = Family(..., card=CARD)``, and add NAME to ``_REGISTERED``.
"""
import importlib
from typing import Dict

from ._family import Family, FamilyCard, OfficialLayout, Release

__all__ = ['FAMILIES', 'Family', 'FamilyCard', 'OfficialLayout', 'Release', 'get_family', 'family_arguments']

_REGISTERED = ('c2d', 'c3d', 'c3dg', 'p3d', 'csst', 'tsm', 'gst', 'tam')

FAMILIES: Dict[str, Family] = {}
for _module in _REGISTERED:
    _family = importlib.import_module(f'.{_module}', __name__).FAMILY
    FAMILIES[_family.name] = _family


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f'family must be one of {sorted(FAMILIES)}, got {name!r}')
    return FAMILIES[name]


def family_arguments() -> frozenset:
    """Every argument name any family takes (so a model can tell them from timm's ResNet arguments)."""
    return frozenset(k for f in FAMILIES.values() for k in f.defaults)
