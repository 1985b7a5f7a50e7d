"""The package as users install it: the wheel and sdist that `python -m build` makes hold every
file and pass twine's check, and the wheel, installed (not editable) into a fresh environment,
runs the quick start from outside the source tree.

The fresh environment takes csst-zoo from the wheel alone; its dependencies, already resolved
from the same metadata by the editable install under test, are shared with it through a .pth
file rather than downloaded again (a .pth line adds a folder to the path without running the
editable install's own .pth hooks there, so the checkout is never imported)."""
import email
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'csst_zoo'


def run(*args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    command = ' '.join(map(str, args))
    assert result.returncode == 0, f'{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}'
    return result.stdout


@pytest.fixture(scope='module')
def dist(tmp_path_factory):
    """(wheel, sdist) built from the checkout as a release would be, in an isolated build environment."""
    out = tmp_path_factory.mktemp('dist')
    run(sys.executable, '-m', 'build', '--outdir', out, ROOT, cwd=ROOT)
    (wheel,), (sdist,) = out.glob('*.whl'), out.glob('*.tar.gz')
    return wheel, sdist


def source_files():
    """Every file of the package in the checkout (code and data), relative to the checkout."""
    return {str(p.relative_to(ROOT)) for p in PACKAGE.rglob('*')
            if p.is_file() and '__pycache__' not in p.parts}


def test_wheel_and_sdist_hold_every_file_and_the_license(dist):
    wheel, sdist = dist
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = source_files() - names
    assert not missing, f'the wheel lacks {sorted(missing)}: declare them in [tool.setuptools.package-data]'
    dist_info = next(n.split('/')[0] for n in names if n.endswith('.dist-info/METADATA'))
    assert f'{dist_info}/licenses/LICENSE' in names
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split('/')[0]
        in_sdist = {n.split('/', 1)[1] for n in tar.getnames() if '/' in n}
    assert {'LICENSE', 'CITATION.cff', 'README.md', 'pyproject.toml'} <= in_sdist, top
    assert not source_files() - in_sdist
    metadata = email.message_from_bytes(zipfile.ZipFile(wheel).read(f'{dist_info}/METADATA'))
    assert metadata['License-Expression'] == 'Apache-2.0'
    assert {u.split(',')[0] for u in metadata.get_all('Project-URL')} >= {'Homepage', 'Documentation', 'Issues'}
    assert any(c.startswith('Programming Language :: Python :: 3.11') for c in metadata.get_all('Classifier'))


def test_twine_check_passes(dist):
    out = run(sys.executable, '-m', 'twine', 'check', '--strict', *dist)
    assert out.count('PASSED') == 2


SMOKE = '''
import json, subprocess, sys, tempfile
from pathlib import Path
import torch
import csst_zoo
where = Path(csst_zoo.__file__).resolve()
assert where.is_relative_to(Path(sys.prefix).resolve()), f'csst_zoo imported from {where}, not the wheel'
model = csst_zoo.create_model('csst_resnet18', num_classes=3, num_frames=2).eval()
with tempfile.TemporaryDirectory() as tmp:
    csst_zoo.save_pretrained(model, tmp, labels=['a', 'b', 'c'])   # the card comes from package data
    again = csst_zoo.create_model('local-dir:' + tmp).eval()
    clip = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(clip), again(clip))
    assert 'csst_resnet18' in (Path(tmp) / 'README.md').read_text()
from csst_zoo.mmaction2 import label_names
assert len(label_names('k400')) == 400 and len(label_names('sthv2')) == 174   # package data
hub = torch.hub.load(sys.argv[1], 'csst_resnet18', source='local', num_classes=3)
print(json.dumps(dict(file=str(where), hub_classes=hub.num_classes)))
'''


def test_installed_wheel_runs_outside_the_source_tree(dist, tmp_path):
    env = tmp_path / 'env'
    venv.create(env, with_pip=False)
    python = env / 'bin' / 'python'
    site = Path(run(python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])').strip())
    (site / 'csst_zoo_test_dependencies.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    run(sys.executable, '-m', 'pip', '--python', python, 'install', '-q', '--no-deps', dist[0])
    out = run(python, '-c', SMOKE, ROOT, cwd=tmp_path)
    assert '"hub_classes": 3' in out and str(env) in out
    assert 'usage: csst-zoo' in run(env / 'bin' / 'csst-zoo', '--help', cwd=tmp_path)
    assert 'usage: csst-zoo' in run(python, '-m', 'csst_zoo', '--help', cwd=tmp_path)


def test_citation_file_names_this_version_and_the_paper():
    import yaml
    import csst_zoo
    cff = yaml.safe_load((ROOT / 'CITATION.cff').read_text(encoding='utf-8'))
    assert cff['cff-version'] == '1.2.0' and cff['type'] == 'software' and cff['license'] == 'Apache-2.0'
    assert str(cff['version']) == csst_zoo.__version__, 'CITATION.cff names another version than csst_zoo.version'
    paper = cff['preferred-citation']
    assert paper['doi'] in csst_zoo.families.csst.PAPER and paper['year'] == 2023
    assert [a['family-names'] for a in paper['authors']] == ['Zhou', 'Ma', 'Yi']
