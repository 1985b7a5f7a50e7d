"""The temporal probe's data: classes are exact time reversals; a tiny run gives the JSON table."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
probe = load_benchmark('temporal_probe')


@pytest.mark.parametrize('motion', probe.MOTIONS)
def test_reversed_class_is_the_exact_time_reversal(motion):
    forward = probe.make_clip(motion, False, 8, 32, torch.Generator().manual_seed(7))
    reversed_ = probe.make_clip(motion, True, 8, 32, torch.Generator().manual_seed(7))
    assert forward.shape == (8, 3, 32, 32) and forward.dtype == torch.uint8
    assert torch.equal(reversed_, forward.flip(0))
    # the same multiset of frames: a bag-of-frames model cannot tell them apart
    key = lambda clip: sorted(f.flatten().tolist() for f in clip)  # noqa: E731
    assert key(forward) == key(reversed_)
    # and the clip does change over time (the class is in the order of distinct frames)
    assert len({f.numpy().tobytes() for f in forward}) == 8


def test_written_dataset_layout_and_balance(tmp_path):
    probe.write_dataset(tmp_path, 6, 4, 16, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == list(probe.CLASSES)
    for cls in probe.CLASSES:
        clips = sorted((tmp_path / cls).iterdir())
        assert len(clips) == 3 and all(len(list(c.glob('*.png'))) == 4 for c in clips)
    with pytest.raises(ValueError, match='motion must be one of'):
        probe.make_clip('jump', False, 4, 16, torch.Generator())


def test_one_epoch_run_gives_the_json_structure(tmp_path):
    cmd = [sys.executable, str(ROOT / 'benchmarks' / 'temporal_probe.py'), '--families', 'c2d,csst', '--epochs', '1',
           '--train-clips', '8', '--val-clips', '4', '--batch-size', '4', '--size', '32', '--frames', '4',
           '--seeds', '2', '--format', 'json', '--no-progress', '--output', str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out['meta']['chance_top1'] == 50.0 and out['meta']['seeds'] == [0, 1]
    assert [r['family'] for r in out['rows']] == ['c2d', 'csst']
    for r in out['rows']:
        assert set(r) >= {'top1', 'top1_mean', 'top1_std', 'above', 'params_m', 'gflops', 'epoch_seconds'}
        assert len(r['top1']) == 2 and all(0 <= v <= 100 for v in r['top1'])
    assert out['rows'][1]['gflops'] > out['rows'][0]['gflops']


def test_bad_arguments():
    with pytest.raises(SystemExit):
        probe.parse_args(['--families', 'c2d,x3d'])
    with pytest.raises(SystemExit):
        probe.parse_args(['--train-clips', '4', '--batch-size', '16'])


def test_a_family_ranks_above_another_only_where_the_seeds_ranges_separate():
    rows = [dict(family='c2d', top1=[49.0, 51.0, 50.0]), dict(family='tsm', top1=[52.0, 90.0, 70.0]),
            dict(family='csst', top1=[95.0, 99.0, 97.0])]
    assert probe.ranked_below(rows[2], rows) == ['c2d', 'tsm']
    assert probe.ranked_below(rows[1], rows) == ['c2d']  # 52 > 51: every seed of TSM beats every seed of C2D
    assert probe.ranked_below(rows[0], rows) == []
    rows[1]['top1'][0] = 51.0  # TSM's worst seed ties C2D's best: no order
    assert probe.ranked_below(rows[1], rows) == []


def test_the_table_shows_every_seed_and_the_ranking():
    args = probe.parse_args(['--families', 'c2d,csst', '--seeds', '2'])
    meta = dict(seeds=[0, 1], chance_top1=50.0)
    rows = [dict(family='c2d', top1=[49.5, 50.5], top1_mean=50.0, top1_std=0.7, above=[], params_m=11.18,
                 gflops=0.074, epoch_seconds=5.0),
            dict(family='csst', top1=[96.0, 100.0], top1_mean=98.0, top1_std=2.8, above=['c2d'], params_m=14.53,
                 gflops=0.095, epoch_seconds=7.0)]
    lines = probe.render(args, meta, rows).splitlines()
    assert lines[2].split(' | ')[2:4] == ['seed 0', 'seed 1'] and lines[3].count('|') == lines[2].count('|')
    assert lines[4].startswith('| c2d_resnet18 | 50.0 ± 0.7 | 49.5 | 50.5 | - |')
    assert lines[5].startswith('| csst_resnet18 | 98.0 ± 2.8 | 96.0 | 100.0 | c2d_resnet18 |')
