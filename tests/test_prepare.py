"""csst-zoo prepare: a collection re-encoded with a smaller short side and frequent key frames, or as
JPEG frames; its annotation list trains; bad input is refused before any work; a stopped run
resumes with every source done once."""
import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import frames_of, write_frame_folder, write_video
from csst_zoo.cli import main as cli_main
from csst_zoo.data import open_video, read_dataset
from csst_zoo.data.prepare import PrepareOptions, list_sources, prepare_video
from csst_zoo.engine import TrainConfig, fit


def rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def key_frame_gaps(video) -> list:
    """Frames between consecutive key frames, and after the last one, of an opened video file."""
    keys = [i for i, key in enumerate(video.packets.keys) if key]
    return np.diff(keys + [video.num_frames]).tolist()


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """ROOT/train/<class>/*.mp4 and ROOT/val/<class>/*: 3 s at 10 fps, 64x48 (4:3), the encoder's
    default key-frame interval (one key frame); a phone's rotated file; a corrupt file."""
    root = tmp_path_factory.mktemp('source')
    for split, k in (('train', 0), ('train', 1), ('val', 2)):
        for label in ('dark', 'bright'):
            frames = frames_of(30, 48, 64, label=k + (100 if label == 'bright' else 0))
            write_video(root / split / label / f'clip{k}.mp4', frames, rate=10)
    write_video(root / 'train' / 'dark' / 'phone.mp4', frames_of(30, 48, 64), rate=10, rotation=-90)
    (root / 'val' / 'dark' / 'corrupt.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(500))
    return root


def test_prepared_videos_have_the_short_side_and_key_frames_asked_for(source, tmp_path):
    out = tmp_path / 'prepared'
    assert cli_main(['prepare', str(source), str(out), '--short-side', '24', '--keyframe-interval', '0.5',
                     '--workers', '2', '--no-progress']) == 0
    for name in ('train/dark/clip0.mp4', 'train/bright/clip1.mp4', 'val/bright/clip2.mp4'):
        video = open_video(out / name)
        original = open_video(source / name)
        assert original.num_frames == 30 and sum(original.packets.keys) == 1  # the source: one key frame
        assert video.num_frames == 30 and video.frames([0]).shape == (1, 3, 24, 32)  # 4:3 kept, short side 24
        assert max(key_frame_gaps(video)) <= 5  # 0.5 s at 10 fps
        assert video.frame_times().tolist() == pytest.approx(original.frame_times().tolist())
        # the frames are the source's (their grey level tells which frame of which clip)
        assert video.frames([0, 29]).float().mean(dim=(1, 2, 3)).tolist() == pytest.approx(
            original.frames([0, 29]).float().mean(dim=(1, 2, 3)).tolist(), abs=3)
    phone = open_video(out / 'train/dark/phone.mp4')
    assert phone.frames([0]).shape == (1, 3, 32, 24)  # still upright: the display matrix is kept
    listed = rows(out / 'videos.csv')
    assert [r['path'] for r in listed] == ['train/bright/clip0.mp4', 'train/bright/clip1.mp4',
                                           'train/dark/clip0.mp4', 'train/dark/clip1.mp4', 'train/dark/phone.mp4',
                                           'val/bright/clip2.mp4', 'val/dark/clip2.mp4']
    assert {(r['label'], r['split']) for r in listed} == {('bright', 'train'), ('dark', 'train'),
                                                         ('bright', 'validation'), ('dark', 'validation')}
    report = {r['source']: r for r in rows(out / 'prepare.csv')}
    assert len(report) == 8 and report[str(source / 'val/dark/corrupt.mp4')]['error'].startswith('VideoReadError')
    assert report[str(source / 'train/dark/clip0.mp4')]['frames'] == '30'
    # the list is a data set: train and eval read it, split by its split column
    train, names = read_dataset('csv', out / 'videos.csv', 'train')
    assert names == ['bright', 'dark'] and len(train) == 5 and len(read_dataset('csv', out / 'videos.csv',
                                                                                   'validation')[0]) == 2
    fit(TrainConfig(model='c2d_resnet18', dataset='csv', data_root=str(out / 'videos.csv'), output=str(tmp_path / 'run'),
                    pretrained=False, num_frames=4, size=24, epochs=1, warmup_epochs=0, batch_size=2, workers=0,
                    progress=False))
    assert (tmp_path / 'run' / 'last.pth').is_file()


def test_frames_and_a_new_frame_rate(source, tmp_path):
    frames = tmp_path / 'frames'
    assert cli_main(['prepare', str(source / 'train' / '*' / 'clip0.mp4'), str(frames), '--frames',
                     '--short-side', '16', '--workers', '2', '--no-progress']) == 0  # torch's JPEG encoder in workers
    folder = open_video(frames / 'dark' / 'clip0')  # relative to the pattern's folder: <class>/<name>
    assert folder.num_frames == 30 and folder.frames([0]).shape == (1, 3, 16, 22)
    assert sorted(p.name for p in (frames / 'dark' / 'clip0').iterdir())[:2] == ['00001.jpg', '00002.jpg']
    assert [r['path'] for r in rows(frames / 'videos.csv')] == ['bright/clip0', 'dark/clip0']
    target = tmp_path / 'five.mp4'
    assert prepare_video(source / 'train/dark/clip0.mp4', target, PrepareOptions(short_side=24, fps=5)) == dict(
        frames=15, width=32, height=24)
    assert open_video(target).num_frames == 15 and open_video(target).average_rate == 5


def test_a_csv_list_gives_labels_and_splits(source, tmp_path):
    listed = source / 'list.csv'
    listed.write_text('path,label,split\ntrain/dark/clip0.mp4,a,train\nval/bright/clip2.mp4,b,val\n')
    sources = list_sources(listed)
    assert [(s.output, s.label, s.split) for s in sources] == [('train/dark/clip0.mp4', 'a', 'train'),
                                                                ('val/bright/clip2.mp4', 'b', 'validation')]
    listed.unlink()


def test_bad_input_is_refused_before_any_work(source, tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'a_file').write_text('')
    (tmp_path / 'outside.csv').write_text(f'path\n{source}/../elsewhere.mp4\n')
    for argv, message in (
            ([str(tmp_path / 'empty'), str(tmp_path / 'o1')], 'empty names no videos'),
            ([str(source), str(source / 'prepared')], 'lies inside SRC'),
            ([str(source), str(tmp_path / 'a_file' / 'o2')], 'is not a folder this process can write to'),
            ([str(source), str(tmp_path / 'o3'), '--short-side', '255'], 'must be a positive even number'),
            ([str(source), str(tmp_path / 'o3'), '--short-side', '0'], 'must be a positive even number'),
            ([str(source), str(tmp_path / 'o3'), '--short-side', '-256'], 'must be a positive even number'),
            ([str(source), str(tmp_path / 'o3'), '--keyframe-interval', '0'], 'keyframe_interval'),
            ([str(source), str(tmp_path / 'o3'), '--jpeg-quality', '101', '--frames'], 'jpeg_quality'),
            ([str(source), str(tmp_path / 'o3'), '--workers', '-1'], 'workers (--workers) must be'),
            ([str(tmp_path / 'outside.csv'), str(tmp_path / 'o4')], 'lies outside the folder')):
        assert cli_main(['prepare', *argv, '--no-progress']) == 2
        assert message in capsys.readouterr().err
    assert not any((tmp_path / f'o{k}').exists() for k in range(1, 5))
    assert not (source / 'prepared').exists()


def test_two_sources_for_one_output_are_refused(tmp_path):
    for suffix in ('.mp4', '.mkv'):
        write_video(tmp_path / 'src' / f'clip{suffix}', frames_of(4))
    with pytest.raises(ValueError, match=r'would both be prepared as clip\.mp4'):
        list_sources(tmp_path / 'src')


def test_a_frame_folder_source_is_an_error_row(tmp_path):
    write_frame_folder(tmp_path / 'src' / 'a' / 'frames', frames_of(4))
    write_video(tmp_path / 'src' / 'a' / 'clip.mp4', frames_of(4))
    assert cli_main(['prepare', str(tmp_path / 'src'), str(tmp_path / 'out'), '--short-side', '16', '--workers', '0',
                     '--no-progress']) == 0
    report = {r['output'] or r['source']: r['error'] for r in rows(tmp_path / 'out' / 'prepare.csv')}
    assert 'is a folder of frames' in report[str(tmp_path / 'src' / 'a' / 'frames')]
    assert [r['path'] for r in rows(tmp_path / 'out' / 'videos.csv')] == ['a/clip.mp4']


@pytest.mark.parametrize('stop', [signal.SIGINT, signal.SIGKILL])
def test_a_stopped_run_resumes_with_every_source_once(tmp_path, stop):
    for k in range(40):
        write_video(tmp_path / 'src' / 'c' / f'{k:02d}.mp4', frames_of(20, 96, 128, label=k), rate=10)
    out = tmp_path / 'out'
    argv = [sys.executable, '-m', 'csst_zoo', 'prepare', str(tmp_path / 'src'), str(out), '--short-side', '64',
            '--workers', '1', '--no-progress']
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    report = out / 'prepare.csv'
    deadline = time.monotonic() + 120
    while (not report.exists() or report.read_text().count('\n') < 6) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(run.pid, stop)  # the whole process group, as Ctrl-C does: the workers too
    run.wait(60)
    done = len(rows(report))
    assert 5 <= done < 40 and not (out / 'videos.csv').exists()
    assert cli_main(['prepare', str(tmp_path / 'src'), str(out), '--short-side', '64', '--no-progress']) == 2
    assert cli_main(['prepare', str(tmp_path / 'src'), str(out), '--short-side', '64', '--resume', '--workers', '2',
                     '--no-progress']) == 0
    sources = [r['source'] for r in rows(report)]
    assert sorted(sources) == sorted(str(p) for p in (tmp_path / 'src' / 'c').iterdir()) and len(set(sources)) == 40
    assert len(rows(out / 'videos.csv')) == 40
    assert all(open_video(out / 'c' / f'{k:02d}.mp4').num_frames == 20 for k in range(40))
    assert not list(out.rglob('.tmp-*'))  # a killed worker's staging folder is gone too
