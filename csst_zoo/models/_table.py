"""The table of every model and its weights (``csst-zoo models``, docs/hub.md): what each tag was
trained on, how it samples, what its publisher reports and under which license."""
from typing import Dict, List

from timm.models import get_pretrained_cfg

from .. import mmaction2
from ._factory import list_models

__all__ = ['WEIGHTS_COLUMNS', 'weights_rows', 'weights_table']

WEIGHTS_COLUMNS = ('model', 'data', 'frames', 'top-1', 'license', 'source', 'test protocol of the top-1')


def _frames(release) -> str:
    if release.sampling == 'segments':
        return f'{release.num_frames} segments'
    return f'{release.num_frames} x {release.frame_interval}'


def weights_rows(pattern: str = '') -> List[Dict[str, str]]:
    """One row per ``name.tag`` matching the fnmatch ``pattern`` (e.g. ``'*k400*'``), in
    ``list_models(pretrained=True)`` order."""
    rows = []
    for name in list_models(pattern, pretrained=True):
        cfg = get_pretrained_cfg(name)
        release = mmaction2.release_of(name)
        if release is None:  # timm's ImageNet ResNet, inflated
            rows.append(dict(zip(WEIGHTS_COLUMNS, (
                name, 'ImageNet-1k (2D), inflated', f'any ({cfg.input_size[1]})', '-', cfg.license or '-',
                f'timm {cfg.hf_hub_id.split("/", 1)[-1]}', 'never trained on video: 1000 ImageNet classes'))))
            continue
        if release.inflated:
            data, top1 = 'Kinetics-400 (TSN 2D), inflated', '-'
            protocol = f'temporal layers untrained; TSN itself: {release.top1}'
        else:
            data, top1, protocol = release.dataset_name, f'{release.top1}', release.views
        rows.append(dict(zip(WEIGHTS_COLUMNS, (
            name, data, _frames(release), top1, cfg.license or '-', f'mmaction2 {release.config}', protocol))))
    return rows


def weights_table(pattern: str = '', markdown: bool = False) -> str:
    """``weights_rows(pattern)`` as a markdown table, or as aligned text for a terminal."""
    rows = [WEIGHTS_COLUMNS] + [tuple(r.values()) for r in weights_rows(pattern)]
    if markdown:
        lines = ['| ' + ' | '.join(r) + ' |' for r in rows]
        return '\n'.join([lines[0], '|' + '---|' * len(WEIGHTS_COLUMNS), *lines[1:]]) + '\n'
    widths = [max(len(r[i]) for r in rows) for i in range(5)]  # source and protocol run on as they are
    return '\n'.join('  '.join([*(c.ljust(w) for c, w in zip(r, widths)), *r[5:]]).rstrip() for r in rows) + '\n'
