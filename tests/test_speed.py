"""benchmarks/speed.py: its output structure and its argument checks (no timing is asserted)."""
import json
import subprocess
import sys
from pathlib import Path

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
    assert set(rows) == {'c2d_resnet18', 'csst_resnet18'}
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
