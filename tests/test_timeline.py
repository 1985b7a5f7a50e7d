"""Sliding-window prediction: window arithmetic, a two-scene video, outputs and the command."""
import csv
import json
import sys

import numpy as np
import pytest
import torch

import csst_zoo
from conftest import CUT, SCENES, scene_frames, write_frame_folder
from csst_zoo.cli import main as cli_main
from csst_zoo.data import open_video
from csst_zoo.engine import Timeline, predict_timeline
from csst_zoo.engine.timeline import Span, parse_span, window_bounds


def test_parse_span():
    assert parse_span('2') == Span(2.0, 's') and parse_span('1.5s') == Span(1.5, 's')
    assert parse_span('16f') == Span(16.0, 'f') and str(parse_span('16f')) == '16f'
    for bad in ('0', '-1s', '2.5f', 'two', '3m', ''):
        with pytest.raises(ValueError, match=r"stride must be a positive length in seconds \('2', '1.5s'\)"):
            parse_span(bad, 'stride')


def test_window_bounds_by_frames_and_by_seconds():
    # 20 frames, windows of 8 every 5: starts 0, 5, 10, and one that ends with the video (12..20)
    assert window_bounds(20, None, Span(8, 'f'), Span(5, 'f')) == [(0, 8), (5, 13), (10, 18), (12, 20)]
    assert window_bounds(20, None, Span(8, 'f'), Span(4, 'f')) == [(0, 8), (4, 12), (8, 16), (12, 20)]
    assert window_bounds(5, None, Span(8, 'f'), Span(4, 'f')) == [(0, 5)]  # shorter than a window: one window
    # seconds on uneven timestamps (variable frame rate): a frame belongs to [t, t + w) by its start time
    times = torch.tensor([0.0, 0.1, 0.15, 0.4, 0.45, 0.9, 1.0, 1.2], dtype=torch.float64)
    # windows [0, 0.5), [0.5, 1), and [0.87, 1.37) ending with the video (last start + mean step 1.2 / 7)
    assert window_bounds(8, times, Span(0.5, 's'), Span(0.5, 's')) == [(0, 5), (5, 6), (5, 8)]
    with pytest.raises(ValueError, match=r'window \(2s\) and stride \(8f\) must both be in seconds or both in frames'):
        window_bounds(8, times, Span(2, 's'), Span(8, 'f'))
    with pytest.raises(ValueError, match='give the frame rate of a frame folder'):
        window_bounds(8, None, Span(2, 's'), Span(1, 's'))


def test_timeline_switches_within_one_stride_of_the_cut(two_scene_model, two_scene_video):
    timeline = predict_timeline(two_scene_model, two_scene_video, window='1s', stride='0.5s', batch_size=3)
    assert timeline.times[0] == (0.0, 1.0) and timeline.times[-1] == (11.0, 12.0)
    assert timeline.frames[:2] == [(0, 8), (4, 12)] and len(timeline.frames) == 23
    leaders = [top[0][0] for top in timeline.top(1)]
    switch = leaders.index(SCENES[1])
    assert leaders == [SCENES[0]] * switch + [SCENES[1]] * (len(leaders) - switch)  # one switch, no flicker
    start, end = timeline.times[switch]
    assert abs((start + end) / 2 - CUT) <= 0.5
    assert torch.allclose(timeline.probs.sum(dim=1), torch.ones(len(leaders)))
    # no autograd graph: one held by each window's probabilities keeps its activations (the demo
    # page's server grew by about 200 MB a window at 224 px)
    assert not timeline.probs.requires_grad


def test_timeline_by_frames_on_a_frame_folder_without_fps(two_scene_model, tmp_path):
    folder = write_frame_folder(tmp_path / 'f', np.concatenate([scene_frames(0, 12, 1), scene_frames(1, 12, 2)]))
    timeline = predict_timeline(two_scene_model, folder, window='8f', stride='8f')
    assert timeline.times is None and timeline.frames == [(0, 8), (8, 16), (16, 24)]
    assert [top[0][0] for top in timeline.top(1)] == [SCENES[0], SCENES[0], SCENES[1]]
    with_fps = predict_timeline(two_scene_model, folder, window='1s', stride='1s', fps=8)
    assert with_fps.frames == timeline.frames and with_fps.times == [(0, 1), (1, 2), (2, 3)]
    assert torch.allclose(with_fps.probs, timeline.probs)
    opened = open_video(folder, fps=8)  # a reader already open is used as it is
    assert torch.equal(predict_timeline(two_scene_model, opened, window='1s', stride='1s').probs, with_fps.probs)
    with pytest.raises(ValueError, match='fps is given when a frame folder is opened, not with the reader of'):
        predict_timeline(two_scene_model, opened, window='1s', fps=8)
    with pytest.raises(ValueError, match=r'window 0.25s holds 2 frames .* fewer than the 4 the model samples'):
        predict_timeline(two_scene_model, folder, window='0.25s', stride='1s', fps=8)
    with pytest.raises(ValueError, match='fps is for frame folders'):
        predict_timeline(two_scene_model, __file__, window='1s', fps=8)


def test_batching_does_not_change_the_timeline(two_scene_model, two_scene_video):
    a = predict_timeline(two_scene_model, two_scene_video, window='2s', stride='1.5s', batch_size=1)
    b = predict_timeline(two_scene_model, two_scene_video, window='2s', stride='1.5s', batch_size=4)
    assert a.frames == b.frames and torch.allclose(a.probs, b.probs, atol=1e-5)


def _timeline():
    return Timeline('v.mp4', Span(2, 's'), Span(1, 's'), [(0, 16), (8, 24)], [(0.0, 2.0), (1.0, 3.0)],
                    torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]), ['a', 'b', 'c'])


def test_timeline_outputs(tmp_path, monkeypatch):
    timeline = _timeline()
    timeline.save(tmp_path / 't.csv', topk=2)
    rows = list(csv.DictReader((tmp_path / 't.csv').open()))
    assert rows[1] == dict(start='1.0', end='3.0', start_frame='8', end_frame='24', label1='c', probability1='0.6',
                           label2='b', probability2='0.3')
    timeline.save(tmp_path / 't.json')
    data = json.loads((tmp_path / 't.json').read_text())
    assert data['window'] == '2s' and data['stride'] == '1s' and data['video'] == 'v.mp4'
    assert data['windows'][0]['top'][0] == dict(label='a', probability=0.7) and len(data['windows'][0]['top']) == 3
    timeline.plot(tmp_path / 't.png')
    assert (tmp_path / 't.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with pytest.raises(ValueError, match=r"output must end in .csv or .json, got '.*t.txt'"):
        timeline.save(tmp_path / 't.txt')
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    with pytest.raises(ImportError, match=r"needs matplotlib: pip install 'csst-zoo\[plot\]'"):
        timeline.plot(tmp_path / 'u.png')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['t.csv', 't.json', 't.png']  # nothing half-written


def test_predict_command_timeline(two_scene_model, two_scene_video, tmp_path, capsys):
    folder = tmp_path / 'model'
    csst_zoo.save_pretrained(two_scene_model, folder, labels=SCENES)
    model = f'local-dir:{folder}'
    assert cli_main(['predict', model, str(two_scene_video), '--window', '4s', '--stride', '4s', '--topk', '1',
                     '--no-progress']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith('    0.00s-    4.00s') and lines[0].endswith(SCENES[0])
    assert lines[2].endswith(SCENES[1])
    assert cli_main(['predict', model, str(two_scene_video), '--window', '4s', '-o', str(tmp_path / 't.json'),
                     '--no-progress']) == 0
    assert len(json.loads((tmp_path / 't.json').read_text())['windows']) == 3
    for argv, message in (
            (['--stride', '1s'], '--stride belongs to a timeline: give --window too'),
            (['--window', '1s', '--views', '2x3'], '--views is for one answer per video'),
            (['--window', '1s', '-o', str(tmp_path / 'x.txt')], 'output must end in .csv or .json'),
            (['--window', '1s', '--stride', '8f'], 'must both be in seconds or both in frames')):
        assert cli_main(['predict', model, str(two_scene_video), *argv, '--no-progress']) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / 'x.txt').exists()
