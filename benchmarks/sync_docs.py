"""Copy the tables the benchmarks write to results/ into README.md and docs/*.md.

    python benchmarks/sync_docs.py            # rewrite every quoted block from its file
    python benchmarks/sync_docs.py --check    # exit 1 naming each block that differs

A quoted block is the text between ``<!-- quote results/FILE -->`` (or
``<!-- quote results/FILE "HEADING" -->`` for the section of FILE under the markdown heading
that starts with HEADING, up to the next heading) and ``<!-- end quote -->``. The docs never
hold a figure of their own: tests/test_docs.py fails when a block differs from its file, and
when a deterministic file (results/flops.md) differs from what its command writes now.
"""
import argparse
import re
import sys
from pathlib import Path

from csst_zoo._io import write_atomic

ROOT = Path(__file__).resolve().parents[1]
QUOTE = re.compile(r'(<!-- quote (results/[^\s"]+)(?: "([^"]+)")? -->\n)(.*?)(<!-- end quote -->)', re.DOTALL)


def documents():
    return [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]


def section(path: Path, heading=None) -> str:
    """The text of ``path``, or of its section under the heading that starts with ``heading``."""
    text = path.read_text(encoding='utf-8')
    if heading is None:
        return text.rstrip('\n') + '\n'
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r'#+ ', line)
                  and line.lstrip('#').strip().startswith(heading)), None)
    if start is None:
        raise KeyError(f'{path.relative_to(ROOT)} has no heading starting with {heading!r}')
    end = next((i for i in range(start + 1, len(lines)) if re.match(r'#+ ', lines[i])), len(lines))
    return ''.join(lines[start:end]).rstrip('\n') + '\n'


def stale_blocks(document: Path):
    """``(name, quoted, current)`` of every block of ``document`` that differs from its source."""
    out = []
    for match in QUOTE.finditer(document.read_text(encoding='utf-8')):
        _, source, heading, quoted, _ = match.groups()
        current = section(ROOT / source, heading)
        if quoted != current:
            out.append((f'{document.relative_to(ROOT)}: {source}' + (f' "{heading}"' if heading else ''),
                        quoted, current))
    return out


def sync(document: Path) -> bool:
    """Rewrite the quoted blocks of ``document``; True if anything changed."""
    text = document.read_text(encoding='utf-8')
    new = QUOTE.sub(lambda m: m.group(1) + section(ROOT / m.group(2), m.group(3)) + m.group(5), text)
    if new != text:
        write_atomic(document, new)
    return new != text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--check', action='store_true', help='only report blocks that differ (exit 1 if any)')
    args = p.parse_args(argv)
    if args.check:
        stale = [name for d in documents() for name, _, _ in stale_blocks(d)]
        for name in stale:
            print(f'stale: {name}', file=sys.stderr)
        return 1 if stale else 0
    for d in documents():
        if sync(d):
            print(f'updated {d.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
