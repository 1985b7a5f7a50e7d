"""benchmarks/dataload.py: the loader table's measurement and rendering, and its argument checks
(no timing is asserted)."""
import pytest
import torch

from conftest import load_benchmark, load_helpers

dataload = load_benchmark('dataload')
_scenes = load_helpers('_scenes')


def test_loader_measures_both_samplings_the_peak_predict_and_the_model_alone(tmp_path):
    paths = [str(_scenes.write_scene(tmp_path / f'v{seed}.mp4', 32, 12, 8, seed)) for seed in range(2)]
    result = dataload.measure_loader(paths, frames=2, clips=5, workers=2, batch=2, predict_model='c2d_resnet18')
    # decoding on the device is for JPEG folders
    assert set(result) == {'device', 'train', 'test', 'peak', 'predict', 'model'}
    assert all(result[k] > 0 for k in result if k != 'device')
    args = dataload.parse_args(['--profiles', 'kinetics-mp4-340p', '--loader-workers', '2', '--formats', ''])
    row = dict(profile=dataload.PROFILES['kinetics-mp4-340p'], workers=2, needed=3, **result)
    text = dataload.render([], [row], args, step_rate=4.0, device='cpu')
    assert '| kinetics-mp4-340p | mp4 340p, 10 s at 30 frames/s | 2 |' in text
    assert text.rstrip().endswith('| 3 |') and 'on the device' not in text
    cpu_rate = 1 / (1 / result['test'] + 1 / result['model'])  # the workers and the model share the cores
    assert result['device'] == 'cpu' and 'predict / expected' in text
    assert f"| {result['predict']:.2f} | {result['model']:.2f} | {result['predict'] / cpu_rate:.2f} |" in text
    assert dataload.expected_predict_rate(dict(result, device='cuda')) == min(result['test'], result['model'])
    assert '(c2d_resnet18, batch 4)' in text


def test_predict_flags_reach_the_model_in_predict_and_alone(tmp_path, monkeypatch):
    """--predict-amp and --predict-channels-last run both predict columns as `csst-zoo predict
    --amp --channels-last` does: every forward under autocast, on channels_last_3d clips."""
    import csst_zoo
    seen, create = [], csst_zoo.create_model

    def create_watched(*args, **kwargs):
        model = create(*args, **kwargs)
        model.register_forward_pre_hook(lambda _, inputs: seen.append(
            (torch.is_autocast_enabled('cpu'), inputs[0].is_contiguous(memory_format=torch.channels_last_3d))))
        return model

    monkeypatch.setattr(csst_zoo, 'create_model', create_watched)
    paths = [str(_scenes.write_scene(tmp_path / 'v.mp4', 32, 12, 8))]
    dataload.measure_loader(paths, frames=2, clips=2, workers=1, batch=2, predict_model='c2d_resnet18',
                            amp=True, channels_last=True)
    assert len(seen) == 3 and set(seen) == {(True, True)}  # warm-up, one timed batch, predict's batch
    args = dataload.parse_args(['--predict-amp', '--predict-channels-last'])
    row = dict(profile=dataload.PROFILES['kinetics-mp4-340p'], workers=1, needed=1, train=1, test=1, peak=0, predict=1,
               model=1, device='cpu')
    text = dataload.render([], [row], args, step_rate=1.0, device='cpu')
    assert '(c2d_resnet18, batch 4, --amp, --channels-last)' in text


def test_a_fresh_process_starts_loader_workers_as_its_caller_does():
    """A spawned interpreter would start its DataLoader workers by spawning too, each importing
    torch: a start-up that the caller's own loaders (fork on Linux) never pay, and that would
    sink every rate of the loader table."""
    import multiprocessing

    from _measure import in_fresh_process
    assert in_fresh_process(multiprocessing.get_start_method) == multiprocessing.get_start_method()


@pytest.mark.parametrize('suffix', ['.mp4', '.webm'])
def test_video_files_have_the_key_frames_asked_for(suffix, tmp_path):
    assert dataload.parse_args(['--key-intervals', 'encoder,0.5']).key_intervals == [None, 0.5]
    dense = _scenes.write_scene(tmp_path / f'dense{suffix}', 32, 40, 10, key_interval=0.5)
    assert _scenes.key_frame_interval(dense, 10) == 0.5
    default = _scenes.write_scene(tmp_path / f'default{suffix}', 32, 40, 10)
    assert _scenes.key_frame_interval(default, 10) == 4.0  # both encoders' defaults exceed 40 frames
    assert _scenes.key_frame_interval(_scenes.write_scene(tmp_path / 'frames', 32, 4, 10), 10) is None


def test_scene_is_not_predicted_for_free_from_the_frame_before(tmp_path):
    """x264's non-key frames of the scene cost a real share of its key frame, as camera footage's do
    (those of a static texture panned by whole pixels cost about 2% of it), and the one-worker table
    gives each file's bit rate."""
    import av
    path = _scenes.write_scene(tmp_path / 'scene.mp4', 64, 30, 30)
    with av.open(str(path)) as container:
        sizes = [(p.is_keyframe, p.size) for p in container.demux(video=0) if p.size]
    key, other = [s for k, s in sizes if k], [s for k, s in sizes if not k]
    assert len(key) == 1 and sum(other) / len(other) > 0.06 * key[0]
    args = dataload.parse_args(['--profiles', ''])
    row = dict(format='mp4', height=64, length=1.0, keys=1.0, mbit_per_s=8e-6 * path.stat().st_size,
               sampling='train', clips_per_s=10.0, ms_per_clip=100.0, peak_mb=3.0, workers=1)
    text = dataload.render([row], [], args, step_rate=4.0, device='cpu')
    assert f"| mp4 | 64p | 1 s | 1.0 s | {row['mbit_per_s']:.2f} | train | 10.00 | 100 | 3 | 1 |" in text


def test_jpeg_folders_are_also_decoded_on_the_device_and_predict_can_be_left_out(tmp_path):
    path = str(_scenes.write_scene(tmp_path / 'frames', 32, 6, 8))
    result = dataload.measure_loader([path], frames=2, clips=2, workers=1, batch=2, predict_model='')
    assert 'predict' not in result and result['train'] > 0
    assert result['on_device'] > 0 and result['device'] == 'cpu'  # no GPU here: decode_clips on the CPU
    args = dataload.parse_args(['--predict-model', '', '--step-rate', '10'])
    row = dict(profile=dataload.PROFILES['sthv1-jpeg-100p'], workers=1, needed=1, **result)
    text = dataload.render([], [row], args, step_rate=10.0, device='cpu')
    body = text.split('\n', 1)[1]  # the header quotes the command line, which may name a file of predict
    assert 'predict' not in body and 'The training step to feed: 10.00 clips/s (--step-rate)' in text
    assert '| train clips/s, decoded on the device |' in text and f"| {result['on_device']:.2f} (cpu) |" in text


@pytest.mark.parametrize('argv, message', [
    (['--loader-workers', '0'], '--loader-workers counts and --loader-clips must be >= 1'),
    (['--loader-workers', 'two'], '--loader-workers is comma-separated worker counts'),
    (['--profiles', 'kinetics'], '--profiles takes names from sthv1-jpeg-100p'),
    (['--step-rate', '0'], '--step-rate must be a positive clips/s'),
    (['--key-intervals', 'encoder,0'], "--key-intervals takes 'encoder' or positive seconds"),
    (['--key-intervals', 'often'], "--key-intervals takes 'encoder' or positive seconds"),
    (['--predict-model', '', '--predict-amp'], "--predict-amp and --predict-channels-last set how the predict"),
])
def test_bad_arguments_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit):
        dataload.parse_args(argv)
    assert message in capsys.readouterr().err
