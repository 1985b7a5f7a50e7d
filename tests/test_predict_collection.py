"""benchmarks/predict_collection.py: the acceptance run of `csst-zoo predict` over a collection, at
toy sizes, and checks that fail when the output is wrong (no timing is asserted)."""
import pytest

from conftest import load_benchmark

predict_collection = load_benchmark('predict_collection')


def test_a_small_collection_is_predicted_once_per_video_through_a_deletion_and_a_stop(tmp_path, capsys):
    predict_collection.main(['--videos', '24', '--profile', 'sthv1-jpeg-100p', '--corrupt', '0.05', '--workers', '1',
                             '--batch', '2', '--frames', '2', '--reference-clips', '4', '--workdir', str(tmp_path)])
    text = capsys.readouterr().out
    assert '24 videos like sthv1-jpeg-100p (frames 100p, 3-4 s at 12 frames/s), 1 of them 4 KiB of zeros' in text
    assert '| the test loader (dataload.py\'s measurement) | 4 |' in text
    assert '--workers 1 --batch-size 2`, the last video deleted during the run | 24 |' in text
    assert 'every video is in the output once: 22 answered, 1 corrupt and the deleted one' in text
    assert 'leaves every one of the 24 videos in it once' in text
    # the generated videos are kept whole: the corrupt and deleted ones were links in the run's folder
    videos = tmp_path / 'sthv1-jpeg-100p-videos'
    assert len(list(videos.iterdir())) == 24 and predict_collection.corrupt_indices(24, 1) == {11}
    assert all(f.read_bytes()[:2] == b'\xff\xd8' for v in ('0011', '0023') for f in (videos / v).iterdir())  # JPEG


def test_check_once_fails_on_a_missing_a_repeated_or_a_wrong_error_row():
    videos, failing = ['a', 'b', 'c'], ['c']
    good = [dict(path='a', error=''), dict(path='b', error=''), dict(path='c', error='RuntimeError: x')]
    predict_collection.check_once(good, videos, failing, 'run')
    for rows in (good[:2], good + good[:1], [good[0], dict(good[1], error='OSError: y'), good[2]],
                 [good[0], good[1], dict(good[2], error='')]):
        with pytest.raises(RuntimeError, match='run: '):
            predict_collection.check_once(rows, videos, failing, 'run')


def test_corrupt_videos_are_spread_and_spare_the_last():
    assert predict_collection.corrupt_indices(500, 5) == {49, 149, 249, 349, 449}
    assert predict_collection.corrupt_indices(10, 0) == set()
    assert 9 not in predict_collection.corrupt_indices(10, 9)


@pytest.mark.parametrize('argv, message', [
    (['--profile', 'kinetics'], '--profile takes one of sthv1-jpeg-100p'),
    (['--corrupt', '1'], '--corrupt is a share of the videos in [0, 1)'),
    (['--videos', '5', '--corrupt', '0.5'], 'leaves 3 readable videos; at least 4'),
    (['--workers', '0'], '--workers must be >= 1'),
    (['--reference-clips', '0'], '--reference-clips must be >= 1'),
])
def test_bad_arguments_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit):
        predict_collection.parse_args(argv)
    assert message in capsys.readouterr().err
