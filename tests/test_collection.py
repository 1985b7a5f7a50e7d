"""Predictions over a collection: listing, the loader with workers and error rows, the resumable
output, the command, and a run stopped by SIGINT then resumed."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import csst_zoo
from conftest import frames_of, write_frame_folder, write_video
from csst_zoo.cli import main as cli_main
from csst_zoo.engine import PredictionWriter, list_videos, predict_video, predict_videos
from csst_zoo.engine.collection import Prediction, model_id

CLASSES = ['dark', 'mid', 'bright']


@pytest.fixture(scope='module')
def model():
    """C2D-R18 on 4 frames of 32x32 whose logits follow the clip's brightness (so videos differ)."""
    torch.manual_seed(0)
    net = csst_zoo.create_model('c2d_resnet18', num_classes=3, num_frames=4, pretrained_cfg_overlay=dict(
        input_size=(3, 4, 32, 32), label_names=CLASSES))
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)  # the zero-init last BN would make every video alike
    return net.eval()


@pytest.fixture(scope='module')
def saved_model(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp('model')
    csst_zoo.save_pretrained(model, folder, labels=CLASSES)
    return f'local-dir:{folder}'


@pytest.fixture(scope='module')
def collection(tmp_path_factory):
    """A folder of 9 videos: MP4 and WebM files at the top, in a sub-folder, and a frame folder; plus
    a text file that is not a video."""
    root = tmp_path_factory.mktemp('collection')
    videos = []
    for k in range(9):
        frames = frames_of(10, label=25 * k)
        if k == 4:
            videos.append(write_frame_folder(root / 'frames' / 'clip4', frames))
        else:
            suffix = '.webm' if k % 3 == 0 else '.mp4'
            videos.append(write_video(root / ('nested' if k > 5 else '') / f'clip{k}{suffix}', frames))
    (root / 'notes.txt').write_text('not a video')
    return root, sorted(videos)


def test_list_videos_of_a_folder_a_glob_and_a_csv(collection, tmp_path):
    root, videos = collection
    assert list_videos(root) == videos  # recursive; a frame folder is one video; notes.txt is not one
    assert list_videos(videos[0]) == [videos[0]]
    assert list_videos(root / 'frames' / 'clip4') == [root / 'frames' / 'clip4']
    assert list_videos(str(root / '**' / '*.mp4')) == [v for v in videos if v.suffix == '.mp4']
    listed = tmp_path / 'list.csv'
    listed.write_text('label,path\nx,' + '\nx,'.join(os.path.relpath(v, tmp_path) for v in videos[:3]) + '\n')
    assert [p.resolve() for p in list_videos(listed)] == videos[:3]  # relative to the CSV
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='the folder .*empty names no videos'):
        list_videos(tmp_path / 'empty')
    with pytest.raises(ValueError, match="names no videos"):
        list_videos(str(tmp_path / '*.mp4'))
    (tmp_path / 'bad.csv').write_text('file,label\na.mp4,x\n')
    with pytest.raises(ValueError, match=r"a 'path' column .* found the columns \['file', 'label'\]"):
        list_videos(tmp_path / 'bad.csv')
    with pytest.raises(FileNotFoundError, match='none.mp4 does not exist'):
        list_videos(tmp_path / 'none.mp4')


@pytest.mark.parametrize('workers, batch_size', [(0, 1), (2, 4)])
def test_each_video_answered_as_alone_and_bad_ones_become_error_rows(model, collection, tmp_path, workers,
                                                                     batch_size):
    root, videos = collection
    corrupt = tmp_path / 'corrupt.mp4'
    corrupt.write_bytes(b'\x00' * 4096)
    short = write_video(tmp_path / 'short.mp4', frames_of(2))
    vanished = tmp_path / 'vanished.mp4'
    shutil.copy(videos[0], vanished)
    listed = [videos[0], corrupt, *videos[1:5], short, vanished, *videos[5:]]
    rows = predict_videos(model, listed, clips=2, topk=2, batch_size=batch_size, workers=workers)
    vanished.unlink()  # gone after it was listed, before it is read
    rows = list(rows)
    assert [r.path for r in rows] == [str(v) for v in listed]  # each once, in order
    by_path = {r.path: r for r in rows}
    for bad, message in ((corrupt, 'cannot decode video'), (short, 'frames'), (vanished, 'does not exist')):
        assert by_path[str(bad)].top == () and message in by_path[str(bad)].error
    for v in videos:
        row = by_path[str(v)]
        assert row.error is None and row.seconds > 0
        alone = predict_video(model, v, clips=2, topk=2)
        assert [name for name, _ in row.top] == [name for name, _ in alone]
        np.testing.assert_allclose([p for _, p in row.top], [p for _, p in alone], rtol=1e-4, atol=1e-6)
    assert len({r.top for r in rows if not r.error}) > 1  # the videos get different answers


def test_predict_videos_checks_its_arguments_before_reading(model, collection):
    _, videos = collection
    for kwargs, message in ((dict(workers=-1), 'workers must be a whole number >= 0'),
                            (dict(batch_size=0), 'batch_size must be a positive integer'),
                            (dict(topk=0), 'topk must be a positive integer')):
        with pytest.raises(ValueError, match=message):
            predict_videos(model, videos, **kwargs)  # raised when called, not when iterated


def read_rows(path):
    if path.suffix == '.csv':
        with open(path, newline='') as f:
            return list(csv.DictReader(f))
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize('suffix', ['.csv', '.jsonl'])
def test_writer_rows_resume_and_refusals(tmp_path, suffix):
    out = tmp_path / f'p{suffix}'
    rows = [Prediction('a.mp4', (('dark', 0.75), ('mid', 0.25)), 0.5),
            Prediction('b.mp4', (), 0.1, 'VideoReadError: x')]
    with PredictionWriter(out, 'c2d@1', topk=2) as writer:
        for r in rows:
            writer.write(r)
    written = read_rows(out)
    assert [r['path'] for r in written] == ['a.mp4', 'b.mp4'] and {r['model'] for r in written} == {'c2d@1'}
    if suffix == '.csv':
        assert written[0]['label1'] == 'dark' and written[0]['probability2'] == '0.25' and written[1]['label1'] == ''
    else:
        assert written[0]['top'][0] == {'label': 'dark', 'probability': 0.75} and written[1]['error'].endswith('x')
    with pytest.raises(FileExistsError, match='exists: pass --resume'):
        PredictionWriter(out, 'c2d@1', topk=2)
    with pytest.raises(ValueError, match='holds predictions of the model c2d@1, not of c2d@2'):
        PredictionWriter(out, 'c2d@2', topk=2, resume=True)
    if suffix == '.csv':
        with pytest.raises(ValueError, match='another --topk'):
            PredictionWriter(out, 'c2d@1', topk=3, resume=True)
    with open(out, 'a') as f:
        f.write('{"path": "c.mp4", "mod' if suffix == '.jsonl' else 'c.mp4,c2d@1,0.')  # a row cut short by a crash
    with PredictionWriter(out, 'c2d@1', topk=2, resume=True) as writer:
        assert writer.wanted(['a.mp4', 'b.mp4', 'c.mp4', 'd.mp4']) == ['c.mp4', 'd.mp4']
        writer.write(Prediction('c.mp4', (('mid', 1.0),), 0.2))
    assert [r['path'] for r in read_rows(out)] == ['a.mp4', 'b.mp4', 'c.mp4']
    with pytest.raises(ValueError, match=r'output must end in \.csv or \.jsonl'):
        PredictionWriter(tmp_path / 'p.json', 'c2d@1', topk=2)


def test_predict_command_over_a_folder_resumes(saved_model, collection, tmp_path, capsys):
    root, videos = collection
    out = tmp_path / 'predictions.csv'
    argv = ['predict', saved_model, str(root), '-o', str(out), '--workers', '1', '--batch-size', '3', '--topk', '2',
            '--no-progress']
    assert cli_main(argv) == 0
    assert '9 predicted, 0 failed' in capsys.readouterr().err
    rows = read_rows(out)
    assert [r['path'] for r in rows] == [str(v) for v in videos] and all(r['label2'] for r in rows)
    assert rows[0]['model'] == model_id(csst_zoo.create_model(saved_model))
    assert cli_main(argv + ['--resume']) == 0
    assert '0 predicted, 0 failed, 9 already in' in capsys.readouterr().err
    assert len(read_rows(out)) == 9
    assert cli_main(['predict', saved_model, str(root), '--workers', '0', '--topk', '1']) == 0  # no -o: printed
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 9 and printed[0].startswith(str(videos[0])) and printed[0].endswith(tuple(CLASSES))


def test_amp_and_channels_last_reach_the_model_and_keep_the_answers(model, saved_model, collection, tmp_path,
                                                                    capsys):
    """With amp the model runs under autocast (bf16 on the CPU) and with channels_last_3d its clips
    come in that layout, in predict_videos, predict_video and the command's three modes; the
    answers stay those of fp32 within bf16's rounding."""
    _, videos = collection
    seen = []
    hook = model.register_forward_pre_hook(lambda _, args: seen.append(
        (torch.is_autocast_enabled('cpu'), args[0].is_contiguous(memory_format=torch.channels_last_3d))))
    try:
        plain = list(predict_videos(model, videos, batch_size=3, workers=0))
        assert set(seen) == {(False, False)}
        seen.clear()
        model.to(memory_format=torch.channels_last_3d)
        fast = list(predict_videos(model, videos, batch_size=3, workers=0, amp=True,
                                   memory_format=torch.channels_last_3d))
        one = predict_video(model, videos[0], amp=True, memory_format=torch.channels_last_3d)
        assert set(seen) == {(True, True)}
    finally:
        hook.remove()
        model.to(memory_format=torch.contiguous_format)
    for a, b in zip(plain, fast):
        assert dict(a.top) == pytest.approx(dict(b.top), abs=0.02) and a.top != b.top  # bf16 did run
    assert dict(one) == pytest.approx(dict(fast[0].top), abs=0.02)
    out = tmp_path / 'fast.csv'
    assert cli_main(['predict', saved_model, str(videos[0]), '--amp', '--channels-last']) == 0
    assert cli_main(['predict', saved_model, str(videos[0]), '--window', '4f', '--amp', '--channels-last',
                     '--no-progress', '-o', str(tmp_path / 'timeline.json')]) == 0
    assert cli_main(['predict', saved_model, *map(str, videos[:1]), '-o', str(out), '--amp', '--channels-last',
                     '--workers', '0', '--no-progress']) == 0
    assert read_rows(out)[0]['label1'] == fast[0].top[0][0]


def test_predict_turns_the_cudnn_autotuner_on(saved_model, collection, monkeypatch, capsys):
    """As timm's inference script: each batch has the model's input shape, so cuDNN's timing of its
    algorithms on the first batch pays for itself."""
    _, videos = collection
    monkeypatch.setattr(torch.backends.cudnn, 'benchmark', False)
    assert cli_main(['predict', saved_model, str(videos[0])]) == 0
    assert torch.backends.cudnn.benchmark is True


def test_predict_command_refuses_bad_input_before_any_work(saved_model, model, collection, tmp_path, capsys):
    root, videos = collection
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'bad.csv').write_text('file\na.mp4\n')
    other = tmp_path / 'other.jsonl'
    other.write_text(json.dumps(dict(path=str(videos[0]), model='csst_resnet50@0123456789ab', seconds=1.0,
                                     error=None, top=[])) + '\n')
    for argv, message in (
            ([str(tmp_path / 'empty')], 'empty names no videos'),
            ([str(tmp_path / 'bad.csv')], "needs a header with a 'path' column"),
            ([str(root), '-o', str(other), '--resume'], 'holds predictions of the model csst_resnet50@0123456789ab'),
            ([str(root), '-o', str(other)], 'exists: pass --resume'),
            ([str(root), '--resume'], '--resume adds to a predictions file: give it with -o'),
            ([str(root), '-o', str(tmp_path / 'p.json')], 'must end in .csv or .jsonl'),
            ([str(root), '--window', '1s'], '--window makes a timeline of one video'),
            ([str(videos[0]), '--window', '1s', '--resume'], '--resume continues a predictions file'),
            ([str(root), '-o', str(tmp_path / 'p.csv'), '--workers', '-1'], '--workers must be >= 0'),
            ([str(root), '-o', str(tmp_path / 'p.csv'), '--batch-size', '0'], 'batch_size must be a positive')):
        assert cli_main(['predict', saved_model, *argv, '--no-progress']) == 2
        assert message in capsys.readouterr().err
    assert other.read_text().count('\n') == 1 and not (tmp_path / 'p.json').exists()
    assert not (tmp_path / 'p.csv').exists()


def test_sigint_then_resume_holds_every_video_once(saved_model, collection, tmp_path):
    _, videos = collection
    listed = tmp_path / 'videos.csv'
    paths = [videos[k % len(videos)] for k in range(120)]  # the same files under many names
    for k, v in enumerate(paths):
        name = tmp_path / 'many' / f'{k:03d}{v.suffix}'
        name.parent.mkdir(exist_ok=True)
        (shutil.copytree if v.is_dir() else shutil.copy)(v, name)
    listed.write_text('path\n' + '\n'.join(f'many/{k:03d}{v.suffix}' for k, v in enumerate(paths)) + '\n')
    out = tmp_path / 'p.jsonl'
    argv = [sys.executable, '-m', 'csst_zoo', 'predict', saved_model, str(listed), '-o', str(out), '--workers', '1',
            '--batch-size', '1', '--no-progress']
    # SIGINT as Ctrl-C finds it, also when the tests run as a shell's background job (SIGINT ignored)
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_text().count('\n') < 10) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.01)
    run.send_signal(signal.SIGINT)
    assert run.wait(60) == 130, run.stderr.read()
    assert 'interrupted: run it again with --resume' in run.stderr.read()
    first = len(read_rows(out))
    assert 10 <= first < 120
    assert subprocess.run(argv + ['--resume'], capture_output=True).returncode == 0
    rows = read_rows(out)
    assert sorted(r['path'] for r in rows) == sorted(str(tmp_path / 'many' / f'{k:03d}{v.suffix}')
                                                     for k, v in enumerate(paths))
    assert not any(r['error'] for r in rows)
