"""Reproduce the CSST-Net paper's parameter and FLOP tables (Tables 1-5) with fvcore.

    python benchmarks/flops.py                       # all tables, markdown
    python benchmarks/flops.py --tables 2,3 --format json --out tables.json
    python benchmarks/flops.py --accuracy results.json --plot fig6.png

Each table shows our figure, the paper's, and the difference in %. FLOPs are fvcore
multiply-adds (csst_zoo.profiling), params are counted on the built models. gamma and eta use
the paper's reported Top-1 (labelled so) or, with --accuracy, your own: a JSON object mapping
row ids (printed in the `id` column) to Top-1 in %.
"""
import argparse
import csv
import io
import json
import sys
import time

import csst_zoo
from csst_zoo import paper
from csst_zoo._io import write_atomic
from csst_zoo.families import FAMILIES
from csst_zoo.profiling import conv_params_formula, count_params, efficiency, flop_analysis, relative_change

G, M = 1e9, 1e6


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--tables', default='1,2,3,4,5',
                   help="comma-separated tables: the paper's 1-5, and 'models' (every registered model)")
    p.add_argument('--format', choices=('markdown', 'csv', 'json'), default='markdown')
    p.add_argument('--out', help='write to this file (atomically) instead of stdout')
    p.add_argument('--accuracy', help='JSON file {row id: Top-1 %%} used for gamma/eta instead of the paper\'s')
    p.add_argument('--plot', help="PNG file for the paper's Figure 6: Top-1 vs FLOPs, bubble area = params")
    p.add_argument('--frames', type=int, default=8, help='clip length of Tables 2-4 (paper: 8)')
    p.add_argument('--size', type=int, default=224, help='input height and width (paper: 224)')
    p.add_argument('--num-classes', type=int, default=174, help='classes of the head (paper: 174)')
    p.add_argument('--all-ops', action='store_true',
                   help='also count ReLU, residual additions and max pooling (not in fvcore or the paper)')
    args = p.parse_args(argv)
    chosen = [int(t) if t.strip().isdigit() else t.strip() for t in args.tables.split(',') if t.strip()]
    if not chosen or not set(chosen) <= set(TABLES):
        p.error(f"--tables takes numbers from 1 to 5 and 'models', separated by commas, got {args.tables!r}")
    args.tables = [t for t in TABLES if t in chosen]
    for name in ('frames', 'size', 'num_classes'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    args.user_accuracy = {}
    if args.accuracy:
        try:
            with open(args.accuracy) as f:
                args.user_accuracy = json.load(f)
        except (OSError, ValueError) as e:
            p.error(f'--accuracy {args.accuracy!r} is not a readable JSON file: {e}')
        if not isinstance(args.user_accuracy, dict) or not all(
                isinstance(v, (int, float)) for v in args.user_accuracy.values()):
            p.error('--accuracy must hold a JSON object mapping row ids to Top-1 numbers')
    return args


class Profiler:
    """Builds and traces each (model, arguments, frames) once, reporting progress on stderr."""

    def __init__(self, args):
        self.args = args
        self.cache = {}

    def __call__(self, name, frames=None, num_classes=None, extra_ops=None, **model_args):
        frames = frames or self.args.frames
        num_classes = num_classes or self.args.num_classes
        extra_ops = self.args.all_ops if extra_ops is None else extra_ops
        defaults = FAMILIES[name.split('_')[0]].defaults
        model_args = {k: v for k, v in model_args.items() if defaults.get(k) != v}  # one trace per model
        key = (name, frames, num_classes, extra_ops, tuple(sorted(model_args.items())))
        if key not in self.cache:
            label = name + ''.join(f' {k}={v}' for k, v in model_args.items())
            print(f'[flops] tracing {label} at {frames}x{self.args.size}x{self.args.size} ...',
                  file=sys.stderr, end=' ', flush=True)
            start = time.perf_counter()
            model = csst_zoo.create_model(name, num_classes=num_classes, num_frames=frames, **model_args)
            analysis = flop_analysis(model, frames=frames, size=self.args.size, extra_ops=extra_ops)
            self.cache[key] = dict(params=count_params(model), flops=analysis.total(),
                                   by_operator=dict(analysis.by_operator()))
            print(f'{time.perf_counter() - start:.1f}s', file=sys.stderr, flush=True)
        return self.cache[key]


def diff_pct(ours, theirs):
    return None if theirs is None else 100.0 * (ours - theirs) / theirs


def printed_efficiency(top1, base_top1, cost, base_cost):
    """gamma/eta as the paper computes them: from its columns, whose percentages it prints to 0.1."""
    return round(relative_change(top1, base_top1)[1], 1) / round(relative_change(cost, base_cost)[1], 1)


def accuracy(args, row_id, reported):
    """(Top-1, source) for a row: the user's result if given, else the paper's reported one."""
    if row_id in args.user_accuracy:
        return float(args.user_accuracy[row_id]), 'yours'
    return reported, 'paper (reported)'


def table1(args, profile):
    rows = []
    for c_in, c_out in ((64, 64), (256, 256)):
        for name, family in FAMILIES.items():
            frames = dict(num_frames=args.frames) if family.fixed_num_frames else {}
            layer = family.layer(c_in, c_out, kernel_size=3, **family.defaults, **frames)
            formula = conv_params_formula(name, c_in, c_out, num_frames=args.frames)
            formula = int(formula) if float(formula).is_integer() else formula
            counted = count_params(layer)
            rows.append(dict(id=f'{name}:{c_in}x{c_out}', family=name, args=dict(family.defaults), c_in=c_in,
                             c_out=c_out, params_formula=formula, params_counted=counted,
                             diff_pct=diff_pct(counted, formula)))
    return dict(title="Table 1: parameters of one layer in place of a 3x3 conv, family formula vs counted (the "
                      "paper's Table 1 for its five families at alpha=0.5, g=2; TSM, GST and TAM at their authors' "
                      'defaults)', rows=rows)


def efficiency_rows(args, profile, reference, cost, metric, scale=1.0):
    """Ours vs the paper for ``cost`` ('flops' or 'params') of each model in ``reference``, with the
    paper's efficiency ``metric`` (dTop-1% / dCost%, times ``scale``) relative to the first row:
    from our costs, from the paper's own columns, and as printed."""
    col, unit = {'flops': ('flops_g', G), 'params': ('params_m', M)}[cost]
    base_ref = next(iter(reference.values()))
    rows = []
    for name, ref in reference.items():
        ours = profile(name)[cost] / unit
        top1, source = accuracy(args, name, ref['top1'])
        row = {'id': name, col: ours, f'paper_{col}': ref[cost], 'diff_pct': diff_pct(ours, ref[cost]),
               'top1': top1, 'top1_source': source}
        if rows:
            base = rows[0]
            d_cost, d_cost_pct = relative_change(ours, base[col])
            row.update({
                f'd_{col}': d_cost, f'd_{cost}_pct': d_cost_pct,
                metric: scale * efficiency(top1, base['top1'], ours, base[col]),
                f'{metric}_from_paper_columns': scale * printed_efficiency(
                    ref['top1'], base_ref['top1'], ref[cost], base_ref[cost]),
                f'{metric}_printed': ref[f'{metric}_printed'],
            })
        rows.append(row)
    return rows


def table2(args, profile):
    return dict(title='Table 2: CSST (alpha=0.5, g=2) on ResNet18/34/50/101, baseline CSST-R18; '
                      'gamma = dTop-1% / dFLOPs% (Eq. 8)',
                rows=efficiency_rows(args, profile, paper.TABLE2, 'flops', 'gamma_pct', scale=100))


def table3(args, profile):
    rows = []
    for (alpha, groups), ref in paper.TABLE3.items():
        result = profile('csst_resnet50', alpha=alpha, groups=groups)
        ours = result['flops'] / G
        row = dict(id=f'csst_resnet50:alpha={alpha},groups={groups}', alpha=alpha, groups=groups,
                   flops_g=ours, paper_flops_g=ref['flops'], diff_pct=diff_pct(ours, ref['flops']),
                   offset_g=ref['flops'] - ours, paper_top1=ref['top1'], paper_top5=ref['top5'])
        if args.all_ops:
            row.update({f'{op}_g': v / G for op, v in result['by_operator'].items() if op != 'conv'})
        rows.append(row)
    return dict(title='Table 3: CSST-ResNet50, alpha and g (offset = paper - ours)', rows=rows)


def table4(args, profile):
    rows = efficiency_rows(args, profile, paper.TABLE4, 'params', 'eta')
    for row in rows:
        row['flops_g'] = profile(row['id'])['flops'] / G
        if row['id'] == 'p3d_resnet50':
            row['note'] = ('plain cascaded P3D (1x3x3 then 3x1x1); the printed 29.40M matches no P3D layout '
                           'tried (docs/paper-tables.md)')
    return dict(title='Table 4: ResNet50 families, baseline C2D; eta = dTop-1% / dParams% (Eq. 9). '
                      'P3D: plain cascaded P3D, see docs/paper-tables.md', rows=rows)


def table5(args, profile):
    rows = []
    for frames, ref in paper.TABLE5.items():
        result = profile('csst_resnet50', frames=frames)
        ours = result['flops'] / G
        rows.append(dict(id=f'csst_resnet50:frames={frames}', frames=frames, params_m=result['params'] / M,
                         paper_params_m=ref['params'], flops_g=ours, paper_flops_g=ref['flops'],
                         diff_pct=diff_pct(ours, ref['flops']), paper_top1=ref['top1']))
    rows[1]['note'] = (f"ours is {rows[1]['flops_g'] / rows[0]['flops_g']:.3f}x the 8-frame figure (every layer is "
                       f"linear in T); the paper's is {paper.TABLE5[12]['flops'] / paper.TABLE5[8]['flops']:.3f}x")
    for (name, frames), ref in paper.TABLE5_RIVALS.items():
        # Counted with the head the printed parameter count implies (see csst_zoo.paper.TABLE5_RIVALS).
        result = profile(name, frames=frames, num_classes=ref['head_classes'])
        ours = result['flops'] / G
        rows.append(dict(id=f'{name}:frames={frames}', frames=frames, head_classes=ref['head_classes'],
                         params_m=result['params'] / M, paper_params_m=ref['params'],
                         params_diff_pct=diff_pct(result['params'] / M, ref['params']), flops_g=ours,
                         paper_flops_g=ref['flops'], diff_pct=diff_pct(ours, ref['flops']), paper_top1=ref['top1']))
    for row in rows:
        row.setdefault('head_classes', args.num_classes)
    by_id = {row['id']: row for row in rows}
    tsm8, tsm16 = by_id['tsm_resnet50:frames=8'], by_id['tsm_resnet50:frames=16']
    tsm16['note'] = (f"ours is {tsm16['flops_g'] / tsm8['flops_g']:.3f}x the 8-frame figure (every layer is linear in "
                     f"T); the paper's is {tsm16['paper_flops_g'] / tsm8['paper_flops_g']:.3f}x, so no count matches "
                     f"both rows")
    gst = by_id['gst_resnet50:frames=8']
    all_ops = profile('gst_resnet50', frames=8, num_classes=gst['head_classes'], extra_ops=True)['flops'] / G
    gst['note'] = (f"the convs follow from the official layer shapes (params_diff_pct); with ReLU, residual "
                   f"additions and max pooling counted too (--all-ops) ours is {all_ops:.2f}G, "
                   f"{diff_pct(all_ops, gst['paper_flops_g']):+.1f}%")
    return dict(title="Table 5: CSST-ResNet50 at 8 and 12 frames, and the paper's 2D-based rivals on ResNet50 "
                      '(params counted with the head each printed count implies: head_classes)', rows=rows)


def models_table(args, profile):
    """Params and FLOPs of every registered model, one row per family, one column per depth."""
    depths = sorted({d for family in FAMILIES.values() for d in family.depths})
    rows = []
    for name, family in FAMILIES.items():
        row = dict(family=family.card.title, model=f'{name}_resnet*')
        for depth in depths:
            if depth in family.depths:
                result = profile(f'{name}_resnet{depth}')
                row[f'ResNet{depth}'] = f"{result['params'] / M:.2f}M / {result['flops'] / G:.2f}G"
        rows.append(row)
    return dict(title=f'Models: parameters / FLOPs (fvcore multiply-adds) at {args.frames}x{args.size}x{args.size} '
                      f'with {args.num_classes} classes', rows=rows)


TABLES = {1: table1, 2: table2, 3: table3, 4: table4, 5: table5, 'models': models_table}


def fmt(v):
    if v is None:
        return '-'
    if isinstance(v, float):
        return f'{v:.3f}' if abs(v) < 1 else f'{v:.2f}'
    return str(v)


def to_markdown(tables):
    out = io.StringIO()
    for t in tables.values():
        cols = list(dict.fromkeys(k for r in t['rows'] for k in r))
        out.write(f"### {t['title']}\n\n| {' | '.join(cols)} |\n|{'---|' * len(cols)}\n")
        for r in t['rows']:
            out.write('| ' + ' | '.join(fmt(r.get(c)) for c in cols) + ' |\n')
        out.write('\n')
    return out.getvalue()


def to_csv(tables):
    out = io.StringIO()
    for t in tables.values():
        cols = list(dict.fromkeys(k for r in t['rows'] for k in r))
        out.write(f"# {t['title']}\n")
        writer = csv.DictWriter(out, fieldnames=cols, lineterminator='\n')
        writer.writeheader()
        writer.writerows({k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in r.items()} for r in t['rows'])
        out.write('\n')
    return out.getvalue()


def plot(tables, path, profile):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit('--plot needs matplotlib: pip install matplotlib')
    fig, ax = plt.subplots(figsize=(8, 5))
    points = [(r['id'], profile(r['id'])['flops'] / G, r['top1'], profile(r['id'])['params'] / M)
              for r in tables[4]['rows']]
    for r in tables[5]['rows']:
        name, frames = r['id'].split(':frames=')
        if name != 'csst_resnet50':  # CSST-R50 at 8 frames is table 4's row
            result = profile(name, frames=int(frames), num_classes=r['head_classes'])
            points.append((f'{name} {frames}f', result['flops'] / G, r['paper_top1'], result['params'] / M))
    for label, flops, top1, params in points:
        ax.scatter(flops, top1, s=params * 20, alpha=0.5)
        # labels beside the bubbles: several rivals share almost the same FLOPs
        ax.annotate(label, (flops, top1), xytext=(8, 0), textcoords='offset points', fontsize=8, va='center')
    ax.set_xlabel('G multiply-adds per clip (measured, fvcore)')
    ax.set_ylabel('Top-1 (%) on Something-Something V1 (reported)')
    ax.set_title("The paper's Figure 6 from measured FLOPs and params (bubble area = params)", fontsize=10)
    ax.margins(x=0.15, y=0.08)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format='png', dpi=120)
    write_atomic(path, png.getvalue())


def main(argv=None):
    args = parse_args(argv)
    profile = Profiler(args)
    tables = {n: TABLES[n](args, profile) for n in args.tables}
    if args.plot:
        plot({n: tables.get(n) or TABLES[n](args, profile) for n in (4, 5)}, args.plot, profile)
    meta = dict(frames=args.frames, size=args.size, num_classes=args.num_classes, counter='fvcore multiply-adds',
                all_ops=args.all_ops, csst_zoo=csst_zoo.__version__)
    if args.format == 'json':
        text = json.dumps(dict(meta=meta, tables={str(k): v for k, v in tables.items()}), indent=2) + '\n'
    elif args.format == 'csv':
        text = to_csv(tables)
    else:
        text = to_markdown(tables)
    if args.out:
        write_atomic(args.out, text)
    else:
        sys.stdout.write(text)


if __name__ == '__main__':
    main()
