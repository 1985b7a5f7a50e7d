"""timm's own model tests on the zoo: ``tests/test_models.py`` of the installed timm's source
distribution (downloaded from the package index once, not kept in this repository) run on one
model of every family, in this process (pytester), so that a planted bug reaches them too.

The tests run are timm's forward, backward, default-cfg (head, pooling, classifier and first-conv
names, factory arguments, meta-device creation), feature-extraction and torch.fx forward and
backward tests, every assertion as timm wrote it except the few that assume images, adapted in
ADAPTATIONS below, each with its reason. A change of timm's file that moves one of those lines
fails here, naming it, rather than testing something else."""
import fnmatch
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import timm

from csst_zoo._io import write_atomic
from csst_zoo.families import FAMILIES

MODELS = [f'{name}_resnet{min(family.depths)}' for name, family in FAMILIES.items()]
TESTS = ('test_model_forward', 'test_model_backward', 'test_model_default_cfgs', 'test_model_forward_features',
         'test_model_forward_fx', 'test_model_backward_fx')

# (timm's text, ours, how many times it occurs, why)
ADAPTATIONS = (
    ('    spatial_axis = get_spatial_dim(output_fmt)\n', '    spatial_axis = (3, 4)\n', 4,
     "timm's maps are NCHW, with H and W at dims 2 and 3; a clip's are (N, C, T, H, W), with H and W at 3 and 4"),
    ("    pool_size = cfg['pool_size']\n", "    pool_size = cfg['pool_size'][-2:]\n", 1,
     "a video model's pool_size is (T, h, w): its spatial size is the last two"),
    ('assert len(outputs.shape) == 4', 'assert len(outputs.shape) == 5', 2,
     'an unpooled feature map of clips is (N, C, T, h, w): 5-D where an image\'s is 4-D'),
)


def timm_test_source(cache: Path) -> str:
    """tests/test_models.py of the installed timm's sdist, downloaded by pip into ``cache`` once."""
    kept = cache / f'timm-{timm.__version__}-test_models.py'
    if not kept.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', f'timm=={timm.__version__}', '--no-binary', ':all:',
                        '--no-deps', '-q', '-d', str(cache)], check=True, timeout=600)
        with tarfile.open(cache / f'timm-{timm.__version__}.tar.gz') as sdist:
            member = sdist.extractfile(f'timm-{timm.__version__}/tests/test_models.py')
            write_atomic(kept, member.read().decode('utf-8'))
    return kept.read_text(encoding='utf-8')


def adapted(source: str) -> str:
    for theirs, ours, count, why in ADAPTATIONS:
        found = source.count(theirs)
        if found != count:
            raise AssertionError(f'timm {timm.__version__}\'s test_models.py holds {theirs.strip()!r} {found} times, '
                                 f'not {count}: review the adaptation ({why})')
        source = source.replace(theirs, ours)
    return source


def zoo_models(filter='', module='', pretrained=False, exclude_filters='', name_matches_cfg=False,
               include_tags=None):
    """timm.list_models, over one model of every family: those of ``filter`` and not of
    ``exclude_filters``; none for a ``module`` (timm's own families) or with ``pretrained``."""
    if module or pretrained:
        return []
    wanted = [f for f in ([filter] if isinstance(filter, str) else filter) if f]
    unwanted = [f for f in ([exclude_filters] if isinstance(exclude_filters, str) else exclude_filters) if f]
    return [m for m in MODELS if (not wanted or any(fnmatch.fnmatch(m, f) for f in wanted))
            and not any(fnmatch.fnmatch(m, f) for f in unwanted)]


@pytest.fixture(scope='session')
def timm_tests(pytestconfig) -> str:
    return adapted(timm_test_source(Path(pytestconfig.cache.mkdir('timm-sdist'))))


def run_timm_tests(pytester, monkeypatch, source: str, tests=TESTS):
    """timm's ``tests`` over the zoo's models, in this process: the outcome of each."""
    monkeypatch.setattr(timm, 'list_models', zoo_models)  # its module binds the name when imported
    pytester.makepyfile(timm_test_models=source)
    return pytester.runpytest_inprocess(*[f'timm_test_models.py::{t}' for t in tests], '-q', '-p', 'no:cacheprovider',
                                        '-W', 'ignore::pytest.PytestUnknownMarkWarning')


def test_timm_model_tests_pass_on_every_family(pytester, monkeypatch, timm_tests):
    result = run_timm_tests(pytester, monkeypatch, timm_tests)
    result.assert_outcomes(passed=len(TESTS) * len(MODELS))  # nothing skipped: every test ran on every family


def test_an_adaptation_that_no_longer_fits_is_an_error():
    with pytest.raises(AssertionError, match=r"holds 'spatial_axis = get_spatial_dim\(output_fmt\)' 0 times, not 4"):
        adapted('def test(): pass\n')
