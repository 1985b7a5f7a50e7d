"""Training, resume, evaluation, prediction and 2-process DDP on a tiny data set the tests write."""
import csv
import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import csst_zoo
from conftest import JESTER_CLASSES as NAMES, frames_of, write_frame_folder, write_video
from csst_zoo.cli import main as cli_main
from csst_zoo.data import SyntheticClips, VideoDataset, eval_transform, read_dataset
from csst_zoo.engine import TrainConfig, classification_metrics, evaluate, fit, predict_video
from csst_zoo.engine.inference import amp_dtype
from csst_zoo.engine.train import training_set


def config(jester, output, **kw):
    args = dict(model='csst_resnet18', dataset='jester', data_root=str(jester), output=str(output), pretrained=False,
                num_frames=4, size=32, epochs=2, warmup_epochs=1, batch_size=2, workers=0, progress=False)
    return TrainConfig(**{**args, **kw})


def test_train_resume_is_bit_exact(jester, tmp_path):
    straight = fit(config(jester, tmp_path / 'a'))
    first = fit(config(jester, tmp_path / 'b', stop_after=1))
    assert first['epoch'] == 1
    resumed = fit(config(jester, tmp_path / 'b', resume=True))
    assert resumed['epoch'] == 2
    assert resumed['weights_sha256'] == straight['weights_sha256']
    assert resumed['train_loss'] == straight['train_loss']
    a, b = (torch.load(tmp_path / d / 'last.pth', weights_only=True) for d in 'ab')
    assert all(torch.equal(a['model'][k], b['model'][k]) for k in a['model'])
    log = (tmp_path / 'b' / 'log.csv').read_text().splitlines()
    assert log[0] == 'epoch,lr,train_loss,train_top1,epoch_seconds,clips_per_s,data_wait,val_loss,val_top1,val_top5'
    assert straight['clips_per_s'] > 0 and 0 <= straight['data_wait'] < 1
    assert [line.split(',')[0] for line in log[1:]] == ['1', '2']
    # the best model travels as a hub checkpoint with the class names
    best = csst_zoo.create_model(f'local-dir:{tmp_path / "a" / "best"}')
    assert list(best.pretrained_cfg['label_names']) == NAMES and best.num_frames == 4
    with pytest.raises(ValueError, match='--resume: .* is of csst_resnet18 with 3 classes, not c2d_resnet18'):
        fit(config(jester, tmp_path / 'b', model='c2d_resnet18', resume=True))


def test_clips_do_not_depend_on_workers_or_resuming(jester, tmp_path):
    """Every random draw of a training clip is a function of (seed, epoch, video): two persistent
    workers give the weights of no worker, and so does a resumed run of them."""
    kw = dict(model='c2d_resnet18', validate=False)  # dropout on: loading must not move the model's RNG
    alone = fit(config(jester, tmp_path / 'alone', workers=0, **kw))
    first = fit(config(jester, tmp_path / 'workers', workers=2, stop_after=1, **kw))
    resumed = fit(config(jester, tmp_path / 'workers', workers=2, resume=True, **kw))
    assert first['epoch'] == 1 and resumed['epoch'] == 2
    assert resumed['weights_sha256'] == alone['weights_sha256']


def test_decoding_on_the_device_trains_the_same_model(jester, tmp_path, capsys):
    """--decode-on-device: workers read the JPEG files, the loop decodes and transforms each batch on
    the training device. On the CPU the clips are the workers' own, so the weights are the same."""
    kw = dict(model='c2d_resnet18', epochs=1, warmup_epochs=0)
    in_workers = fit(config(jester, tmp_path / 'workers', workers=2, **kw))
    on_device = fit(config(jester, tmp_path / 'device', workers=2, decode_on_device=True, **kw))
    assert on_device['weights_sha256'] == in_workers['weights_sha256']
    assert on_device['val_top1'] == in_workers['val_top1']
    assert cli_main(['train', 'c2d_resnet18', '--dataset', 'synthetic', '--output', str(tmp_path / 's'),
                     '--decode-on-device']) == 2
    assert '--decode-on-device) takes data sets of JPEG frame folders' in capsys.readouterr().err


def test_train_on_synthetic_clips(tmp_path, capsys):
    """--dataset synthetic trains on random clips of the model's input size (no files, no
    validation): the loop's own speed, which benchmarks/train_loop.py sets beside the step's."""
    out = tmp_path / 'run'
    args = ['train', 'c2d_resnet18', '--dataset', 'synthetic', '--output', str(out), '--no-pretrained',
            '--num-frames', '2', '--size', '32', '--epochs', '1', '--warmup-epochs', '0', '--batch-size', '2',
            '--synthetic-clips', '6', '--workers', '0', '--no-progress']
    assert cli_main(args) == 0
    log = list(csv.DictReader((out / 'log.csv').open()))
    assert len(log) == 1 and 'val_top1' not in log[0] and float(log[0]['clips_per_s']) > 0
    best = csst_zoo.create_model(f'local-dir:{out / "best"}')
    assert best.num_classes == 174 and best.pretrained_cfg['input_size'] == (3, 2, 32, 32)
    assert cli_main(['train', 'c2d_resnet18', '--dataset', 'jester', '--output', str(out)]) == 2
    assert '--data-root is required for --dataset jester' in capsys.readouterr().err
    assert cli_main([*args, '--synthetic-clips', '0']) == 2
    assert '--synthetic-clips must be a positive number of clips per epoch, got 0' in capsys.readouterr().err


def test_train_command_switches_the_cudnn_autotuner(tmp_path, monkeypatch, capsys):
    import csst_zoo.engine
    configs = []
    monkeypatch.setattr(csst_zoo.engine, 'fit', lambda cfg: configs.append(cfg) or dict(weights_sha256='0'))
    args = ['train', 'c2d_resnet18', '--dataset', 'synthetic', '--output', str(tmp_path)]
    assert cli_main(args) == 0 and cli_main([*args, '--no-cudnn-benchmark']) == 0
    assert [c.cudnn_benchmark for c in configs] == [True, False]


def test_synthetic_clips_are_training_items():
    clips = SyntheticClips(5, 3, (3, 2, 8, 8), pool=2)
    assert len(clips) == 5 and clips[4][0].shape == (1, 3, 2, 8, 8) and torch.equal(clips[4][0], clips[0][0])
    assert {label for _, label in clips} <= {0, 1, 2}
    with pytest.raises(ValueError, match='num_clips must be a positive integer, got 0'):
        SyntheticClips(0, 3, (3, 2, 8, 8))
    with pytest.raises(ValueError, match=r"shape must be a clip's \(C, T, H, W\), got \(2, 8, 8\)"):
        SyntheticClips(5, 3, (2, 8, 8))


def test_amp_takes_bf16_where_the_device_has_it(monkeypatch):
    assert amp_dtype(torch.device('cpu')) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *args, **kwargs: True)
    assert amp_dtype(torch.device('cuda')) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *args, **kwargs: False)
    assert amp_dtype(torch.device('cuda')) == torch.float16  # with a grad scaler (fit)


def test_amp_runs_the_training_steps_and_validation_under_autocast(jester, tmp_path, monkeypatch):
    from csst_zoo.engine import inference, train
    seen = []

    def watched(model, clips, memory_format=torch.contiguous_format, amp=False):
        hook = model.register_forward_pre_hook(lambda m, _: seen.append((m.training, torch.is_autocast_enabled('cpu'))))
        try:
            return inference.view_logits(model, clips, memory_format, amp)
        finally:
            hook.remove()

    monkeypatch.setattr(train, 'view_logits', watched)  # the training step's and evaluate's
    fit(config(jester, tmp_path / 'amp', epochs=1, warmup_epochs=0, amp=True))
    assert set(seen) == {(True, True), (False, True)}  # training steps and validation, both in bf16
    seen.clear()
    fit(config(jester, tmp_path / 'fp32', epochs=1, warmup_epochs=0, amp=False))
    assert set(seen) == {(True, False), (False, False)}


def test_cudnn_autotuner_is_set_while_fit_runs_and_restored_after(jester, tmp_path, monkeypatch):
    from csst_zoo.engine import inference, train
    seen = []

    def watched(model, clips, *args):
        seen.append(torch.backends.cudnn.benchmark)
        return inference.view_logits(model, clips, *args)

    monkeypatch.setattr(train, 'view_logits', watched)
    for before, wanted in ((False, True), (True, False)):
        monkeypatch.setattr(torch.backends.cudnn, 'benchmark', before)
        seen.clear()
        fit(config(jester, tmp_path / str(wanted), epochs=1, warmup_epochs=0, validate=False,
                   cudnn_benchmark=wanted))
        assert seen and set(seen) == {wanted} and torch.backends.cudnn.benchmark is before


@pytest.mark.slow
def test_compiled_training(jester, tmp_path):
    row = fit(config(jester, tmp_path, model='c2d_resnet18', epochs=1, warmup_epochs=0, validate=False,
                     compile=True))
    assert math.isfinite(row['train_loss']) and row['clips_per_s'] > 0


def test_learning_rate_scales_with_the_batch(jester, tmp_path):
    row = fit(config(jester, tmp_path, epochs=1, warmup_epochs=0, batch_size=4, validate=False, model='c2d_resnet18'))
    assert row['lr'] == pytest.approx(0.01 * 4 / 8)
    assert row['train_top1'] >= 0 and 'val_top1' not in row


def test_learning_rate_warms_up_then_follows_the_cosine(jester, tmp_path):
    """docs/training.md: in epoch e (from 0) of E, with W warm-up epochs, the learning rate is
    lr/100 + e (lr - lr/100) / W while e < W, then lr (1 + cos(pi e / E)) / 2."""
    fit(config(jester, tmp_path, epochs=5, warmup_epochs=2, batch_size=2, validate=False, model='c2d_resnet18'))
    with (tmp_path / 'log.csv').open(newline='') as f:
        logged = [float(row['lr']) for row in csv.DictReader(f)]
    lr = 0.01 * 2 / 8
    warm_up = [lr / 100, lr / 100 + (lr - lr / 100) / 2]
    expected = warm_up + [lr * (1 + math.cos(math.pi * e / 5)) / 2 for e in (2, 3, 4)]
    assert logged == pytest.approx(expected, rel=1e-9)


class ViewTable(torch.nn.Module):
    """A classifier whose views disagree: view v of every video gets row v of ``TABLE`` as its logits,
    whatever the pixels. The average of the logits says class 0, the first view class 1 and the
    average of the softmax class 2, so each way of combining views gives its own answer."""
    TABLE = torch.tensor([[0.0, 1.0, 0.0], [30.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 5.0]])

    def __init__(self, cfg):
        super().__init__()
        self.pretrained_cfg = cfg
        self.unused = torch.nn.Parameter(torch.zeros(()))  # where the model's device is read from

    def forward(self, clips):
        views = len(self.TABLE)
        assert clips.ndim == 5 and len(clips) % views == 0, clips.shape
        return self.TABLE.repeat(len(clips) // views, 1)


def test_views_are_combined_by_averaging_their_logits():
    table = ViewTable.TABLE
    assert table.mean(0).argmax() == 0 and table[0].argmax() == 1 and table.softmax(1).mean(0).argmax() == 2


def test_evaluation_averages_the_logits_of_the_views(jester):
    samples, _ = read_dataset('jester', jester, 'validation')
    cfg = dict(csst_zoo.create_model('c2d_resnet18').pretrained_cfg, input_size=(3, 4, 32, 32))
    dataset = VideoDataset(samples, 4, eval_transform(cfg), train=False, clips=len(ViewTable.TABLE))
    m = evaluate(ViewTable(cfg), dataset, 3, batch_size=4, workers=0, progress=False)
    assert m['per_class_top1'] == [100.0, 0.0, 0.0]  # every video answered class 0
    assert m['loss'] == pytest.approx(torch.nn.functional.cross_entropy(
        ViewTable.TABLE.mean(0).repeat(6, 1), torch.tensor([i % 3 for i in range(6)])).item())


def test_prediction_averages_the_logits_of_the_views(tmp_path):
    cfg = dict(csst_zoo.create_model('c2d_resnet18').pretrained_cfg, input_size=(3, 4, 32, 32),
               label_names=['zero', 'one', 'two'])
    video = write_video(tmp_path / 'clip.mp4', frames_of(12))
    top = predict_video(ViewTable(cfg), video, clips=4, topk=3)
    expected = ViewTable.TABLE.mean(0).softmax(0)
    assert [name for name, _ in top] == ['zero', 'two', 'one']
    assert [p for _, p in top] == pytest.approx(sorted(expected.tolist(), reverse=True))


def test_flips_follow_the_dataset_and_the_class_names(tmp_path):
    """Frames brighter to the right: a flipped clip is brighter to the left. Jester's classes are mirror
    pairs, so it is never flipped by default; elsewhere a class whose name has a direction is never
    flipped and any other class is, about half the time."""
    ramp = np.tile(np.linspace(0, 255, 48).astype(np.uint8)[None, :, None], (32, 1, 3))
    frames = np.stack([ramp] * 8)
    names = ['Pushing something from left to right', 'Waving']
    samples = [(write_frame_folder(tmp_path / name, frames), label) for label, name in enumerate(names)]
    cfg = dict(csst_zoo.create_model('c2d_resnet18').pretrained_cfg, input_size=(3, 4, 32, 32))

    def flipped(dataset_kind, label, draws=24):
        dataset = training_set(config(tmp_path, tmp_path, dataset=dataset_kind), samples, names, cfg)
        clips = [dataset[label][0] for _ in range(draws)]
        return sum(bool(clip[..., 0].mean() > clip[..., -1].mean()) for clip in clips)

    torch.manual_seed(0)
    assert flipped('jester', 0) == flipped('jester', 1) == 0
    assert flipped('folder', 0) == 0
    assert 4 <= flipped('folder', 1) <= 20


def test_evaluate_known_case(jester):
    """A head that always answers class 1: top-1 is the share of class-1 videos."""
    model = csst_zoo.create_model('c2d_resnet18', num_classes=3, num_frames=4)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([0.0, 5.0, 1.0]))
    samples, _ = read_dataset('jester', jester, 'validation')
    cfg = dict(model.pretrained_cfg, input_size=(3, 4, 32, 32))
    dataset = VideoDataset(samples, 4, eval_transform(cfg, crops=3), train=False, clips=2)
    m = evaluate(model, dataset, 3, batch_size=4, workers=0, progress=False)
    assert m['samples'] == 6 and m['top1'] == pytest.approx(100 / 3) and m['top5'] == 100.0
    assert m['per_class_top1'] == [0.0, 100.0, 0.0]


def test_classification_metrics():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    m = classification_metrics(scores, torch.tensor([1, 0, 1, 2]), 3, ks=(1, 2))
    assert (m['top1'], m['top2']) == (50.0, 75.0)
    assert m['per_class_top1'] == [100.0, 50.0, 0.0] and m['mean_class_top1'] == pytest.approx(50.0)
    with pytest.raises(ValueError, match=r'scores must be \(N, 4\)'):
        classification_metrics(scores, torch.tensor([1, 0, 1, 2]), 4)


def test_predict_and_eval_cli(jester, tmp_path, capsys):
    model = csst_zoo.create_model('c2d_resnet18', num_classes=3, num_frames=4,
                                  pretrained_cfg_overlay=dict(input_size=(3, 4, 32, 32)))
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor([1.0, 3.0, 2.0]))
    csst_zoo.save_pretrained(model, tmp_path / 'ckpt', labels=NAMES)
    video = write_video(tmp_path / 'clip.webm', frames_of(10))
    assert cli_main(['predict', f'local-dir:{tmp_path / "ckpt"}', str(video), '--views', '2x3']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [re.sub(r'^\s*[\d.]+%\s+', '', line) for line in lines] == ['Waving', 'Thumb Up', 'Swiping Left']
    out = tmp_path / 'metrics.json'
    assert cli_main(['eval', f'local-dir:{tmp_path / "ckpt"}', '--dataset', 'jester', '--data-root', str(jester),
                     '--workers', '0', '--no-progress', '-o', str(out)]) == 0
    assert '"top1": 33.3' in out.read_text() and '"Waving": 100.0' in out.read_text()
    fast = tmp_path / 'metrics_amp.json'
    assert cli_main(['eval', f'local-dir:{tmp_path / "ckpt"}', '--dataset', 'jester', '--data-root', str(jester),
                     '--workers', '0', '--no-progress', '--amp', '--channels-last', '-o', str(fast)]) == 0
    assert json.loads(fast.read_text())['per_class_top1'] == json.loads(out.read_text())['per_class_top1']
    assert cli_main(['predict', f'local-dir:{tmp_path / "ckpt"}', str(tmp_path / 'none.mp4')]) == 2
    assert 'none.mp4 does not exist' in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_ddp_two_processes_keep_identical_weights(jester, tmp_path):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), '-m', 'csst_zoo', 'train', 'csst_resnet18', '--dataset', 'jester',
           '--data-root', str(jester), '--output', str(tmp_path), '--no-pretrained', '--num-frames', '4',
           '--size', '32', '--epochs', '1', '--warmup-epochs', '0', '--batch-size', '2', '--workers', '0',
           '--no-progress']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    digests = dict(re.findall(r'rank (\d): weights sha256 ([0-9a-f]{64})', run.stdout))
    assert set(digests) == {'0', '1'} and digests['0'] == digests['1']
    assert '"lr": 0.005' in run.stderr  # 0.01 x (2 processes x 2) / 8
    saved = load_file(tmp_path / 'best' / 'model.safetensors')
    assert saved['fc.weight'].shape == (3, 512)


def test_best_model_is_judged_only_on_validated_epochs(jester, tmp_path):
    row = fit(config(jester, tmp_path, model='c2d_resnet18', eval_every=2, stop_after=1))
    assert 'val_top1' not in row and not (tmp_path / 'best').exists()
    row = fit(config(jester, tmp_path, model='c2d_resnet18', eval_every=2, resume=True))
    assert 'val_top1' in row and (tmp_path / 'best' / 'model.safetensors').is_file()
    with (tmp_path / 'log.csv').open(newline='') as f:
        log = list(csv.DictReader(f))
    assert [r['val_top1'] for r in log] == ['', str(row['val_top1'])]  # columns stay aligned
