"""benchmarks/speed.py and train_loop.py: their output structure and argument checks (no timing is asserted)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ['--models', 'csst_resnet18', '--frames', '2', '--size', '32', '--rounds', '1', '--warmup', '0']


def speed(*args):
    return subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'speed.py'), *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def test_processes_report_a_ratio_range():
    run = speed(*TINY, '--processes', '2', '--no-memory', '--format', 'json')
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out['meta']['processes'] == 2
    rows = {row['model']: row for row in out['rows']}
    assert set(rows) == {'timm:resnet18', 'c2d_resnet18', 'csst_resnet18'}
    assert rows['c2d_resnet18']['ratio_to_c2d_per_process'] == [1.0, 1.0]
    spread = rows['csst_resnet18']['ratio_to_c2d_per_process']
    assert len(spread) == 2 and all(r > 0 for r in spread)
    assert rows['csst_resnet18']['latency_ms'] > 0


def test_bad_arguments_name_the_option():
    for args, message in (
            (['--processes', '0'], '--processes must be >= 1'),
            (['--runtime', 'tensorrt'], '--runtime takes names from'),
    ):
        run = speed(*TINY, *args)
        assert run.returncode == 2 and message in run.stderr, run.stderr


def test_training_steps_beside_timms_resnet_on_the_frames():
    run = speed(*TINY, '--task', 'train', '--no-memory', '--format', 'json')
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out['meta']['task'] == 'train'
    rows = {(row['model'], row['runtime']): row for row in out['rows']}
    assert {model for model, _ in rows} == {'timm:resnet18', 'c2d_resnet18', 'csst_resnet18'}
    assert rows['timm:resnet18', 'eager']['ratio_to_timm'] == rows['c2d_resnet18', 'eager']['ratio_to_c2d'] == 1
    csst = rows['csst_resnet18', 'eager']
    assert csst['clips_per_s'] == pytest.approx(1000 / csst['latency_ms'])  # batch 1
    assert csst['ratio_to_timm'] > 0 and csst['ratio_to_c2d'] > 0
    # the anchor does C2D's math: the same multiply-adds; CSST's are its own
    assert rows['timm:resnet18', 'eager']['gflops'] == rows['c2d_resnet18', 'eager']['gflops'] < csst['gflops']


def test_a_timed_training_step_trains():
    from conftest import load_benchmark
    bench = load_benchmark('speed')
    args = bench.parse_args(['--task', 'train', '--frames', '2', '--size', '32', '--batch', '2'])
    layouts = {5: torch.channels_last_3d, 4: torch.channels_last}
    for name, shape in (('csst_resnet18', (2, 3, 2, 32, 32)), ('timm:resnet18', (4, 3, 32, 32))):
        step, x = bench.build(name, 'channels_last', args)
        assert x.shape == shape and x.is_contiguous(memory_format=layouts[x.ndim])
        losses = [step(x).item() for _ in range(3)]  # SGD steps on one batch: its loss falls
        assert losses[-1] < losses[0], losses


def test_training_refuses_exported_runtimes():
    run = speed(*TINY, '--task', 'train', '--runtime', 'onnxruntime')
    assert run.returncode == 2 and '--task train takes eager, channels_last, compile, bf16, compile_bf16' in run.stderr


def test_exported_runtimes_have_no_anchor_row():
    run = speed(*TINY, '--runtime', 'eager,onnxruntime', '--no-memory', '--format', 'json')
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {(row['model'], row['runtime']): row for row in json.loads(run.stdout)['rows']}
    assert ('timm:resnet18', 'eager') in rows and ('timm:resnet18', 'onnxruntime') not in rows
    assert rows['csst_resnet18', 'onnxruntime']['ratio_to_timm'] is None
    assert rows['csst_resnet18', 'onnxruntime']['ratio_to_c2d'] > 0


def test_train_loop_sets_the_command_beside_the_step():
    run = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'train_loop.py'), '--models', 'c2d_resnet18', '--batch', '2',
         '--frames', '2', '--size', '32', '--steps', '2', '--epochs', '2', '--rounds', '1', '--workers', '0',
         '--format', 'json'], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    row, = out['rows']
    assert row['model'] == 'c2d_resnet18' and row['runtime'] == ('bf16' if torch.cuda.is_available() else
                                                                   'channels_last')
    assert row['step_clips_per_s'] > 0 and row['loop_clips_per_s'] > 0
    assert row['loop_over_step'] == row['loop_clips_per_s'] / row['step_clips_per_s']
    assert 0 <= row['data_wait'] < 1 and out['meta']['steps'] == 2


def test_a_compiled_run_compiles_every_model(capsys):
    """Each model compiles the code objects the models share once more: dynamo's limit per code
    object (8 by default; 1 here, so that two models show it) must not stop a run of many models."""
    from conftest import load_benchmark
    bench = load_benchmark('speed')
    # torch's own patch, which restores what main sets too (pytest's monkeypatch deletes a config entry)
    with torch._dynamo.config.patch(recompile_limit=1), torch._inductor.config.patch(freezing=False):
        bench.main(['--models', 'c2d_resnet18', '--runtime', 'compile_bf16', '--frames', '2', '--size', '32',
                    '--rounds', '1', '--warmup', '0', '--threads', '2', '--no-memory', '--format', 'json'])
    assert torch._dynamo.config.recompile_limit == 8
    rows = json.loads(capsys.readouterr().out)['rows']
    assert {row['model'] for row in rows} == {'timm:resnet18', 'c2d_resnet18'}
    assert all(row['latency_ms'] > 0 for row in rows)
