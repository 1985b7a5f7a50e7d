"""What `import csst_zoo` and `torch.hub.load` need: optional parts load lazily, and hubconf's
`dependencies` names every package the imported code imports at module level."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAZY = ('fvcore', 'av', 'matplotlib', 'onnx', 'onnxruntime', 'openvino', 'csst_zoo.data', 'csst_zoo.engine',
        'csst_zoo.export', 'csst_zoo.convert', 'gradio', 'csst_zoo.demo')


def _after_importing(module: str) -> dict:
    code = (f'import sys, json; import {module}; '
            f'print(json.dumps({{"modules": sorted(sys.modules), "files": {{n: getattr(m, "__file__", None) '
            f'for n, m in sys.modules.items() if n == "hubconf" or n.startswith("csst_zoo")}}}}))')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def _module_level_imports(path: str) -> set:
    """Top-level package names imported by a file outside any function or class."""
    names = set()
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split('.')[0])
    return names


def test_import_leaves_optional_parts_unloaded():
    loaded = _after_importing('csst_zoo')['modules']
    assert not [m for m in loaded if m.split('.')[0] in LAZY or m.startswith(LAZY)]


def test_hubconf_dependencies_name_what_it_imports():
    sys.path.insert(0, str(ROOT))
    try:
        import hubconf
    finally:
        sys.path.remove(str(ROOT))
    state = _after_importing('hubconf')
    imported = set().union(*(_module_level_imports(f) for f in state['files'].values() if f))
    third_party = {n for n in imported if n not in sys.stdlib_module_names and n not in ('csst_zoo', 'hubconf')}
    assert third_party <= set(hubconf.dependencies), third_party - set(hubconf.dependencies)
    # torch.hub.load checks exactly this: every listed package must be importable
    from torch.hub import _check_dependencies
    _check_dependencies(hubconf)


def test_an_old_timm_fails_loudly_at_import():
    code = "import timm; timm.__version__ = '1.0.20'; import csst_zoo"
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode != 0
    assert "ImportError: csst-zoo needs timm >= 1.0.31, found timm 1.0.20" in run.stderr
    assert "pip install -U 'timm>=1.0.31'" in run.stderr
    from csst_zoo._checks import MIN_TIMM, check_timm_version
    for ok in (MIN_TIMM, '1.0.32.dev0', '2.0'):
        check_timm_version(ok)
    pyproject = (ROOT / 'pyproject.toml').read_text()
    assert f'"timm>={MIN_TIMM}"' in pyproject  # the pin and the check agree
