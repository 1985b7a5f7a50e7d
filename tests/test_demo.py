"""The demo page: its timeline drawing, its examples, the Space it writes, its errors, and the page
itself driven in a real headless Chromium against what `csst-zoo predict` gives."""
import json
import os
import shutil
import subprocess
import sys

import av
import gradio as gr
import numpy as np
import pytest
import torch

import csst_zoo
from conftest import SCENES, load_benchmark, scene_frames, write_video
from csst_zoo import demo
from csst_zoo.cli import main as cli_main
from csst_zoo.data import VideoFile
from csst_zoo.engine import Timeline, predict_timeline, predict_video
from csst_zoo.engine.timeline import Span


def _timeline(names=('a', 'b<i>', 'c')):
    # windows of 2 s every 1 s; the top class goes a, a, b, b, a
    probs = torch.tensor([[.7, .2, .1], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.5, .1, .4]])
    return Timeline('v.mp4', Span(2, 's'), Span(1, 's'), [(8 * k, 8 * k + 16) for k in range(5)],
                    [(float(k), k + 2.0) for k in range(5)], probs, list(names))


def test_timeline_segments_and_svg():
    timeline = _timeline()
    assert timeline.segments() == [dict(label='a', start=0.0, end=2.5, windows=[0, 1]),
                                   dict(label='b<i>', start=2.5, end=4.5, windows=[2, 3]),
                                   dict(label='a', start=4.5, end=6.0, windows=[4, 4])]
    assert timeline.leading_classes(2) == [0, 1]
    page = demo.timeline_svg(timeline)
    assert page.count('class="tl-window"') == 5 and page.count('data-switch=') == 2
    assert 'data-switch="2.5"' in page and 'data-switch="4.5"' in page
    assert 'b&lt;i&gt;' in page and 'b<i>' not in page  # class names are escaped
    # each window's hover target carries its top-5 and the time the player jumps to
    first = page.split('class="tl-window" ')[1]
    assert first.startswith('data-time="0"')
    top = json.loads(first.split('data-top="')[1].split('"')[0].replace('&quot;', '"'))
    assert top[0] == ['a', 0.7] and len(top) == 3
    frames_only = Timeline('f', Span(16, 'f'), Span(16, 'f'), [(0, 16), (16, 32)], None,
                           torch.tensor([[.9, .1], [.2, .8]]), ['x', 'y'])
    assert frames_only.segments()[1] == dict(label='y', start=16.0, end=32, windows=[1, 1])
    assert '16 frames' in demo.timeline_svg(frames_only)


def test_axis_ticks_are_round():
    assert demo._ticks(0, 12) == [0, 2, 4, 6, 8, 10, 12]
    assert demo._ticks(3, 1000) == [200, 400, 600, 800, 1000]
    assert [round(t, 6) for t in demo._ticks(0, 0.9)] == [0, 0.2, 0.4, 0.6, 0.8]


def test_examples_are_small_playable_clips(tmp_path):
    two, one = demo.write_examples(tmp_path)
    assert [p.name for p in (two, one)] == ['two_scenes.webm', 'one_scene.webm']
    for path, frames in ((two, 96), (one, 64)):
        assert path.stat().st_size < 300_000
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
        assert len(decoded) == frames
    with av.open(str(two)) as container:
        means = [f.to_ndarray(format='rgb24').mean(axis=(0, 1)) for f in container.decode(video=0)]
    assert means[0].argmax() == 0 and means[-1].argmax() == 2  # red, then blue
    mtime = two.stat().st_mtime_ns
    demo.write_examples(tmp_path)
    assert two.stat().st_mtime_ns == mtime  # kept, not rewritten


def test_model_source_names_where_weights_come_from(two_scene_model, tmp_path):
    def source(name, checkpoint=None):
        return demo.model_source(csst_zoo.create_model(name, num_frames=4), name, checkpoint)
    assert source('c2d_resnet18') == 'the csst-zoo architecture `c2d_resnet18`, untrained (random weights)'
    assert 'with the weights of `w.pth`' in source('c2d_resnet18', 'w.pth')
    csst_zoo.save_pretrained(two_scene_model, tmp_path / 'plain')
    assert source(f'local-dir:{tmp_path / "plain"}') == f'the checkpoint folder `{tmp_path / "plain"}`'
    origin = dict(repository='mit-han-lab/temporal-shift-module', file='TSM_something_RGB.pth', release='x')
    csst_zoo.save_pretrained(two_scene_model, tmp_path / 'converted', converted_from=origin)
    assert source(f'local-dir:{tmp_path / "converted"}').endswith(
        "converted by csst-zoo convert from TSM_something_RGB.pth "
        '(https://github.com/mit-han-lab/temporal-shift-module)')


def test_page_messages_for_bad_videos_and_unnamed_classes(two_scene_model, tmp_path):
    bad = tmp_path / 'notes.mp4'
    bad.write_text('not a video')
    with pytest.raises(gr.Error, match=r'notes.mp4 is not a video this page can read \(cannot decode video notes.mp4'):
        demo._classify(gr, two_scene_model, str(bad), '2s', '1s')
    short = write_video(tmp_path / 'short.mp4', scene_frames(0, 3, 0))
    with pytest.raises(gr.Error, match='short.mp4 is too short: it has 3 frames, and the model samples 4 per clip'):
        demo._classify(gr, two_scene_model, str(short), '2s', '1s')
    assert demo._classify(gr, two_scene_model, None, '2s', '1s') == (None, '')
    assert 'have no names' not in demo._describe(two_scene_model, 'x')
    unnamed = csst_zoo.create_model('c2d_resnet18', num_classes=3, num_frames=4)
    assert "This checkpoint's classes have no names" in demo._describe(unnamed, 'x')
    assert demo._class_list(unnamed) == '0. 0\n1. 1\n2. 2'


def test_an_upload_is_opened_once_and_answered_as_predict_does(two_scene_model, two_scene_video, monkeypatch):
    opened, init = [], VideoFile.__init__

    def counted(self, path, *limits):
        opened.append(path)
        init(self, path, *limits)
    monkeypatch.setattr(VideoFile, '__init__', counted)
    top, svg = demo._classify(gr, two_scene_model, str(two_scene_video), '2s', '1s')
    assert len(opened) == 1  # opening reads every packet of the file: once
    assert list(top.items()) == predict_video(two_scene_model, two_scene_video, topk=5)
    assert svg == demo.timeline_svg(predict_timeline(two_scene_model, two_scene_video, '2s', '1s'))


def test_a_timeline_over_the_time_limit_is_a_message(two_scene_model, two_scene_video):
    with pytest.raises(gr.Error, match=r'two_scenes.mp4 takes this page longer than its limit of 1e-06 s per video'):
        demo._classify(gr, two_scene_model, str(two_scene_video), '2s', '1s', time_limit=1e-6)
    with pytest.raises(TimeoutError, match=r'stopped after 1e-06 s \(its time limit\), 0 of \d+ windows done'):
        predict_timeline(two_scene_model, two_scene_video, '2s', '1s', time_limit=1e-6)
    with pytest.raises(ValueError, match='time_limit must be a positive number of seconds, got 0'):
        predict_timeline(two_scene_model, two_scene_video, time_limit=0)


def test_build_app_checks_its_arguments(two_scene_model, tmp_path):
    app = demo.build_app(two_scene_model, window='1s', stride='0.5s', max_upload_mb=5, examples_dir=tmp_path)
    assert isinstance(app, gr.Blocks) and app.max_upload_mb == 5
    assert (app._queue.default_concurrency_limit, app._queue.max_size) == (1, demo.DEFAULT_QUEUE_SIZE)  # the CPU's
    app = demo.build_app(two_scene_model, concurrency=3, queue_size=5, examples_dir=tmp_path)
    assert (app._queue.default_concurrency_limit, app._queue.max_size) == (3, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['one_scene.webm', 'two_scenes.webm']
    for kwargs, error, message in (
            (dict(max_upload_mb=0), ValueError, 'max_upload_mb must be a positive number of megabytes, got 0'),
            (dict(time_limit=-1), ValueError, 'time_limit must be a positive number of seconds, got -1'),
            (dict(concurrency=0), ValueError, 'concurrency must be a positive integer, got 0'),
            (dict(queue_size=0), ValueError, 'queue_size must be a positive integer, got 0'),
            (dict(window='two'), ValueError, r"window must be a positive length in seconds \('2', '1.5s'\)"),
            (dict(checkpoint='w.pth'), ValueError, 'checkpoint and model arguments apply to a model name')):
        with pytest.raises(error, match=message):
            demo.build_app(two_scene_model, examples_dir=tmp_path, **kwargs)
    with pytest.raises(TypeError, match=r"model must be a model name \('csst_resnet50', 'hf-hub:ORG/REPO'"):
        demo.build_app(torch.nn.Linear(2, 2))


def test_without_gradio_the_demo_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'gradio', None)
    with pytest.raises(ImportError, match=r"the demo needs gradio: pip install 'csst-zoo\[demo\]'"):
        demo.build_app('c2d_resnet18')
    assert cli_main(['demo', 'c2d_resnet18']) == 2
    assert "pip install 'csst-zoo[demo]'" in capsys.readouterr().err
    assert cli_main(['demo', 'c2d_resnet18', '--port', '0']) == 2
    assert '--port must be in 1..65535, got 0' in capsys.readouterr().err


def test_space_files(tmp_path, capsys):
    from huggingface_hub import SpaceCard
    assert cli_main(['space', 'hf-hub:me/csst-r50-sthv1@v1', '-o', str(tmp_path / 'space')]) == 0
    folder = tmp_path / 'space'
    assert sorted(p.name for p in folder.iterdir()) == ['README.md', 'app.py', 'requirements.txt']
    card = SpaceCard.load(folder / 'README.md')
    assert card.data.sdk == 'gradio' and card.data.app_file == 'app.py' and card.data.models == ['me/csst-r50-sthv1']
    app = (folder / 'app.py').read_text()
    compile(app, 'app.py', 'exec')
    assert "build_app('hf-hub:me/csst-r50-sthv1@v1')" in app and 'host="0.0.0.0"' in app
    assert (folder / 'requirements.txt').read_text() == f'csst-zoo[demo]=={csst_zoo.__version__}\n'
    demo.write_space(tmp_path / 'zoo', 'csst_resnet50', requirement='csst-zoo[demo] @ git+https://example.org/csst')
    assert 'models:' not in (tmp_path / 'zoo' / 'README.md').read_text()
    for model in (f'local-dir:{tmp_path}', 'no_such_model'):
        assert cli_main(['space', model, '-o', str(tmp_path / 'refused')]) == 2
        assert "model must be 'hf-hub:ORG/REPO' or a registered name" in capsys.readouterr().err
    assert not (tmp_path / 'refused').exists()


def _switch_points(windows):
    """Where the top class of a predict timeline's windows changes: halfway between the centres."""
    centres = [(w['start'] + w['end']) / 2 for w in windows]
    leaders = [w['top'][0]['label'] for w in windows]
    return [(centres[k - 1] + centres[k]) / 2 for k in range(1, len(windows)) if leaders[k] != leaders[k - 1]]


def _predict(*argv):
    run = subprocess.run([sys.executable, '-m', 'csst_zoo', 'predict', *argv, '--no-progress'], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_the_page_in_a_real_browser(two_scene_model, two_scene_video, tmp_path):
    """csst-zoo demo in a subprocess, driven in headless Chromium: the page's answer equals
    csst-zoo predict's; a text file named .mp4 gets the page's message and the next video works."""
    if shutil.which('chromium') is None:
        message = 'the demo test needs a browser: apt-get install chromium'
        pytest.fail(message) if os.environ.get('CI') else pytest.skip(message)
    driver = load_benchmark('demo_screenshot')
    csst_zoo.save_pretrained(two_scene_model, tmp_path / 'model', labels=SCENES)
    model = f'local-dir:{tmp_path / "model"}'
    _predict(model, str(two_scene_video), '--window', '2s', '--stride', '1s', '-o', str(tmp_path / 't.json'))
    windows = json.loads((tmp_path / 't.json').read_text())['windows']
    top = _predict(model, str(two_scene_video), '--topk', '1').split('%', 1)[1].strip()
    text = tmp_path / 'notes.mp4'
    text.write_text('these are notes, not a video\n')
    with driver.serve(model, '--window', '2s', '--stride', '1s') as demo, driver.browser_page() as page:
        page.goto(demo.url)
        answer = driver.upload(page, two_scene_video)
        assert answer['top'] == top
        assert answer['switches'] == pytest.approx(_switch_points(windows), abs=1e-4) and len(answer['switches']) == 1
        assert answer['segments'] == SCENES
        page.locator('#demo-timeline rect.tl-window').nth(9).hover()
        assert page.locator('#demo-timeline .tl-tip').inner_text().splitlines()[1].endswith(SCENES[1])
        page.locator('#demo-timeline rect.tl-window').nth(9).click()  # plays from the window's start
        assert page.evaluate("document.querySelector('#demo-video video').currentTime") >= 9
        page.screenshot(path=str(tmp_path / 'page.png'), full_page=True)

        driver.clear(page)
        page.locator('#demo-video input[type=file]').set_input_files(str(text))
        page.get_by_text('notes.mp4 is not a video this page can read').wait_for(timeout=60_000)
        driver.clear(page)
        assert driver.upload(page, two_scene_video)['top'] == top  # the server survived
    from PIL import Image
    shot = np.asarray(Image.open(tmp_path / 'page.png').convert('RGB'))
    assert shot.shape[0] > 800 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 100  # a drawn page, not blank


def test_launch_passes_the_upload_limit_and_says_what_a_public_host_exposes(capsys):
    class App:
        max_upload_mb = 2.5

        def launch(self, **kwargs):
            self.kwargs = kwargs

    app = App()
    demo.launch(app)
    assert app.kwargs['server_name'] == '127.0.0.1' and app.kwargs['max_file_size'] == int(2.5 * 2 ** 20)
    assert capsys.readouterr().out == ''
    demo.launch(app, host='0.0.0.0', port=8000)
    assert 'serving on 0.0.0.0:8000: anyone who can reach this machine there can upload videos (up to 2.5 MB each)' \
        in capsys.readouterr().out


def test_page_refuses_files_over_its_limits_with_a_message(two_scene_model, tmp_path):
    """The page's own limits are lower than predict's: 4K frames, 10 minutes (demo.PAGE_LIMITS)."""
    long = write_video(tmp_path / 'long.mp4', scene_frames(0, 6, 0), pts_ms=[0, 1, 2, 3, 4, 11 * 60 * 1000])
    with pytest.raises(gr.Error, match=r'long.mp4 is not a video this page can read \(long.mp4 lasts 11.0 minutes, '
                                       r'over the limit of 10.0 minutes'):
        demo._classify(gr, two_scene_model, str(long), '2s', '1s')
    big = write_video(tmp_path / 'big.mkv', np.zeros((1, 2200, 3900, 3), np.uint8), rate=1, codec='mjpeg',
                      pix_fmt='yuvj420p')
    with pytest.raises(gr.Error, match=r'big.mkv has frames of 3900x2200 \(8.6 megapixels\), over the limit of 8.3'):
        demo._classify(gr, two_scene_model, str(big), '2s', '1s')
