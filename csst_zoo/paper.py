"""Figures printed in the CSST-Net paper (Zhou, Ma, Yi, ITC 52(4), 2023), used as references.

Top-1 values are the paper's *reported* Something-Something V1 accuracies (they need the full
data set and a GPU cluster to reproduce); FLOPs are multiply-adds in G, params in M, at
8x224x224 with 174 classes unless said.
"""
# Table 2: CSST (alpha=0.5, g=2) on four backbones. gamma_pct_printed as in the paper's table.
TABLE2 = {
    'csst_resnet18': dict(flops=18.81, top1=43.1, gamma_pct_printed=None),
    'csst_resnet34': dict(flops=38.27, top1=46.5, gamma_pct_printed=7.6),
    'csst_resnet50': dict(flops=37.69, top1=47.6, gamma_pct_printed=10.1),
    'csst_resnet101': dict(flops=72.43, top1=48.2, gamma_pct_printed=4.1),
}
# Table 3: CSST-ResNet50, (alpha, groups) sweep.
TABLE3 = {
    (0.25, 2): dict(flops=35.43, top1=47.0, top5=76.7),
    (0.5, 2): dict(flops=37.69, top1=47.6, top5=77.1),
    (0.75, 2): dict(flops=39.96, top1=46.9, top5=76.2),
    (0.5, 4): dict(flops=32.14, top1=46.8, top5=76.2),
    (0.5, 8): dict(flops=29.37, top1=46.5, top5=76.0),
}
# Table 4: ResNet50 backbone, C2D baseline. eta_printed as in the paper.
TABLE4 = {
    'c2d_resnet50': dict(params=23.86, top1=20.4, eta_printed=None),
    'c3d_resnet50': dict(params=46.50, top1=46.0, eta_printed=1.3),
    'p3d_resnet50': dict(params=29.40, top1=45.6, eta_printed=5.3),
    'c3dg_resnet50': dict(params=29.52, top1=45.0, eta_printed=5.1),
    'csst_resnet50': dict(params=27.34, top1=47.6, eta_printed=9.1),
}
# Table 5: CSST-ResNet50 on Sth-Sth V1 at 8 and 12 frames.
TABLE5 = {
    8: dict(params=27.3, flops=37.7, top1=47.6, top5=77.1),
    12: dict(params=27.3, flops=55.4, top1=48.4, top5=77.8),
}


def reported_results(architecture: str, family_args: dict, num_frames: int, num_classes: int) -> dict:
    """The paper's reported Sth-Sth V1 results for a configuration (``{'top1': .., 'top5': ..}``,
    top5 only where printed), or ``{}`` when the paper has no row for it."""
    if num_classes != 174:
        return {}
    default = family_args in ({}, {'groups': 2}, {'alpha': 0.5, 'groups': 2})
    if architecture == 'csst_resnet50' and default and num_frames in TABLE5:
        row = TABLE5[num_frames]
    elif architecture == 'csst_resnet50' and num_frames == 8:
        row = TABLE3.get((family_args.get('alpha'), family_args.get('groups')), {})
    elif default and num_frames == 8:
        row = TABLE2.get(architecture) or TABLE4.get(architecture) or {}
    else:
        row = {}
    return {k: row[k] for k in ('top1', 'top5') if k in row}
# Table 5's efficient 2D-based rivals on ResNet50 (Sth-Sth V1), as the paper prints them. The
# parameter counts imply a head: TSM's and TAM's 24.3M / 25.6M are those of a 400-class
# (Kinetics) head, GST's 21.0M that of a 174-class one. GST's row is 2 clips: 29.5G per clip.
TABLE5_RIVALS = {
    ('tsm_resnet50', 8): dict(params=24.3, flops=33.0, top1=45.6, top5=74.2, head_classes=400),
    ('tsm_resnet50', 16): dict(params=24.3, flops=65.0, top1=47.2, top5=77.1, head_classes=400),
    ('tam_resnet50', 8): dict(params=25.6, flops=33.0, top1=46.5, top5=75.8, head_classes=400),
    ('tam_resnet50', 16): dict(params=25.6, flops=66.0, top1=47.6, top5=77.7, head_classes=400),
    ('gst_resnet50', 8): dict(params=21.0, flops=29.5, top1=47.6, top5=76.6, head_classes=174),
}
