"""The docs quote results/ and results/ is what the benchmarks write: figures cannot drift."""
import shutil
from pathlib import Path

from conftest import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
sync_docs = load_benchmark('sync_docs')


def test_readme_is_short_and_opens_with_the_two_commands():
    lines = (ROOT / 'README.md').read_text().splitlines()
    assert len(lines) < 200
    block = lines[lines.index('```bash') + 1:lines.index('```bash') + 3]
    assert block[0].endswith('python benchmarks/flops.py') and block[1] == 'python -m pytest -q'
    assert (ROOT / '.ci' / 'run').read_text().count('python -m pytest -q') == 1


def test_every_quoted_block_equals_its_results_file():
    documents = sync_docs.documents()
    assert len(documents) > 5  # README and the docs pages
    quoted = [m.group(2) for d in documents for m in sync_docs.QUOTE.finditer(d.read_text())]
    assert {'results/flops.md', 'results/speed.md', 'results/dataload.md'} <= set(quoted)
    stale = [name for d in documents for name, _, _ in sync_docs.stale_blocks(d)]
    assert not stale, f'run python benchmarks/sync_docs.py; stale blocks: {stale}'


def test_results_flops_is_what_flops_py_writes(paper_tables):
    flops = load_benchmark('flops')
    assert (ROOT / 'results' / 'flops.md').read_text() == flops.to_markdown(paper_tables), (
        'regenerate: python benchmarks/flops.py --tables 1,2,3,4,5,models --out results/flops.md '
        '&& python benchmarks/sync_docs.py')


def test_a_figure_edited_by_hand_is_caught(tmp_path, monkeypatch):
    shutil.copytree(ROOT / 'results', tmp_path / 'results')
    (tmp_path / 'docs').mkdir()
    readme = (ROOT / 'README.md').read_text()
    figure = '27.32M / 37.43G'  # CSST-ResNet50 in the models table
    assert figure in readme
    (tmp_path / 'README.md').write_text(readme.replace(figure, '27.34M / 37.69G', 1))
    monkeypatch.setattr(sync_docs, 'ROOT', tmp_path)
    stale = sync_docs.stale_blocks(tmp_path / 'README.md')
    assert [name for name, _, _ in stale] == ['README.md: results/flops.md "Models"']
    assert sync_docs.sync(tmp_path / 'README.md') and not sync_docs.stale_blocks(tmp_path / 'README.md')
    assert figure in (tmp_path / 'README.md').read_text()
