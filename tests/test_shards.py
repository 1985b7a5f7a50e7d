"""predict and prepare under torchrun (gloo, 2 processes on the CPU): disjoint shares merged into the
output one process writes; a job stopped by SIGINT or by a killed rank finishes with --resume,
every video in it once."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import frames_of, write_video
from csst_zoo.cli import main as cli_main
from test_collection import model, saved_model  # noqa: F401  (the fixtures: a small model whose answers vary)


def torchrun(processes: int, *argv) -> list:
    return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', str(processes),
            '-m', 'csst_zoo', *map(str, argv)]


def run(command, timeout=300):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def read_rows(path: Path) -> list:
    if path.suffix == '.jsonl':
        return [json.loads(line) for line in path.read_text().splitlines()]
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def answers(path: Path) -> list:
    """Each row without its timing, in file order."""
    return [{k: v for k, v in row.items() if k != 'seconds'} for row in read_rows(path)]


@pytest.fixture(scope='module')
def many(tmp_path_factory):
    """A CSV list of 160 videos of varying brightness, each 6 s at 10 fps, 96x128: long enough that
    2 ranks take seconds over them, for a stop to land halfway."""
    root = tmp_path_factory.mktemp('many')
    for k in range(8):
        write_video(root / 'v' / f'{k}.mp4', frames_of(60, 96, 128, label=30 * k), rate=10)
    names = [f'v/{k:03d}.mp4' for k in range(160)]
    for k, name in enumerate(names):
        shutil.copy(root / 'v' / f'{k % 8}.mp4', root / name)
    (root / 'list.csv').write_text('path\n' + '\n'.join(names) + '\n')
    return root / 'list.csv'


def test_two_ranks_write_what_one_process_writes(saved_model, many, tmp_path):  # noqa: F811
    one, two = tmp_path / 'one.csv', tmp_path / 'two.csv'
    assert cli_main(['predict', saved_model, str(many), '-o', str(one), '--workers', '0', '--no-progress']) == 0
    done = run(torchrun(2, 'predict', saved_model, many, '-o', two, '--workers', '0', '--no-progress'))
    assert answers(two) == answers(one)  # the same rows, in the order of the list
    assert not (tmp_path / 'two.csv.parts').exists()
    assert 'rank 0 of 2' in done.stderr and 'rank 1 of 2' in done.stderr
    seconds = [float(r['seconds']) for r in read_rows(two)]
    assert all(s > 0 for s in seconds)


def test_ranks_with_different_random_models_are_refused(many, tmp_path):
    result = subprocess.run(torchrun(2, 'predict', 'c2d_resnet18', many, '-o', tmp_path / 'p.csv', '--no-progress'),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and 'the ranks of this job built different models' in result.stderr
    assert not (tmp_path / 'p.csv').exists() and not (tmp_path / 'p.csv.parts').exists()


def worker_pids(agent: int) -> list:
    """The processes torchrun's agent started (its children)."""
    children = Path(f'/proc/{agent}/task/{agent}/children').read_text().split()
    return [int(pid) for pid in children]


def rows_in(parts: Path) -> int:
    return sum(f.read_text().count('\n') - (f.suffix == '.csv') for f in parts.glob('rank-*')) if parts.is_dir() else 0


@pytest.mark.parametrize('command', ['predict', 'prepare'])
@pytest.mark.parametrize('stop', ['sigint', 'kill_one_rank'])
def test_a_stopped_job_resumes_with_every_video_once(saved_model, many, tmp_path, command, stop):  # noqa: F811
    if command == 'predict':
        output = tmp_path / 'p.jsonl'
        argv = ['predict', saved_model, many, '-o', output, '--workers', '0', '--batch-size', '1', '--no-progress']
        parts, key = tmp_path / 'p.jsonl.parts', 'path'
    else:
        output = tmp_path / 'prepared' / 'prepare.csv'
        argv = ['prepare', many, tmp_path / 'prepared', '--short-side', '64', '--workers', '1', '--no-progress']
        parts, key = tmp_path / 'prepared' / 'prepare.csv.parts', 'source'
    job = subprocess.Popen(torchrun(2, *argv), stderr=subprocess.PIPE, text=True, start_new_session=True,
                           env={**os.environ, 'OMP_NUM_THREADS': '1'},
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while rows_in(parts) < 10 and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.01)
    if stop == 'sigint':
        os.killpg(job.pid, signal.SIGINT)  # Ctrl-C: torchrun and every rank
    else:
        os.kill(worker_pids(job.pid)[1], signal.SIGKILL)  # one rank dies; torchrun stops the other
    assert job.wait(120) != 0, job.stderr.read()[-3000:]
    first = rows_in(parts)
    assert 10 <= first < 160 and not output.exists()
    run(torchrun(2, *argv, '--resume'))
    keys = [row[key] for row in read_rows(output)]
    assert len(keys) == 160 and len(set(keys)) == 160 and not parts.exists()
    if command == 'prepare':
        assert len(read_rows(tmp_path / 'prepared' / 'videos.csv')) == 160
