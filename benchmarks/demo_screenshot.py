"""The screenshot of the demo page in docs/demo.md, taken in a real headless Chromium.

    python benchmarks/demo_screenshot.py                  # writes docs/demo.png
    python benchmarks/demo_screenshot.py -o /tmp/page.png

It trains a C2D-ResNet18 for a few seconds to tell the red scene of the page's example clip
from the blue one, saves it as a checkpoint folder, starts `csst-zoo demo` on it, uploads the
example `two_scenes.webm` and screenshots the page with the tooltip of a window shown. Needs the
demo and test extras (gradio, playwright) and Debian's chromium (`apt-get install chromium`).
The helpers here (serving the demo from _demo_server, driving the browser) are the ones
tests/test_demo.py uses.
"""
import argparse
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from _demo_server import serve
from _scenes import scene_classifier

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = '/usr/bin/chromium'
# headless as root, and nothing that reaches out to Google's servers (closed networks refuse it)
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']


@contextlib.contextmanager
def browser_page(width: int = 1200, height: int = 1000):
    """A page of a headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which('chromium') or CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={'width': width, 'height': height})
        finally:
            browser.close()


def upload(page, video, timeout_ms: int = 120_000) -> dict:
    """Upload ``video`` on the demo page and wait for its answer: the page's top class, the times
    where its timeline's top class switches and its runs of one class."""
    page.locator('#demo-video input[type=file]').set_input_files(str(video))
    page.wait_for_selector('#demo-timeline .tl-segments li', state='attached', timeout=timeout_ms)
    return dict(top=page.locator('#demo-top5 [data-testid="label-output-value"]').inner_text().strip(),
                switches=[float(s.get_attribute('data-switch'))
                          for s in page.locator('#demo-timeline [data-switch]').all()],
                segments=[s.get_attribute('data-label') for s in page.locator('#demo-timeline .tl-segments li').all()])


def clear(page, timeout_s: float = 30):
    """Press the player's clear button until the upload box is back (twice after an unplayable
    file), then wait for the page to drop the last answer."""
    deadline = time.monotonic() + timeout_s
    while not page.locator('#demo-video input[type=file]').count():
        if time.monotonic() > deadline:
            raise TimeoutError('the video box did not return to its upload state')
        # dispatched to the button itself: after an unplayable file the player's icon can lie over
        # the button for a while on a busy machine, and a pointer click would land on the icon
        page.locator('#demo-video').get_by_role('button', name='Clear').first.dispatch_event('click')
        page.wait_for_timeout(300)
    page.wait_for_selector('#demo-timeline .tl-segments li', state='detached', timeout=timeout_s * 1000)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-o', '--output', default=str(ROOT / 'docs' / 'demo.png'))
    args = p.parse_args(argv)
    import csst_zoo
    from csst_zoo._io import write_atomic
    from csst_zoo.demo import _scene, write_examples
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = scene_classifier({'red scene': np.concatenate([_scene(0, 16, 96, s) for s in (5, 6)]),
                                  'blue scene': np.concatenate([_scene(2, 16, 96, s) for s in (7, 8)])})
        csst_zoo.save_pretrained(model, tmp / 'model')
        two_scenes = write_examples(tmp / 'examples')[0]
        with serve(f'local-dir:{tmp / "model"}', '--window', '2s', '--stride', '1s') as demo, browser_page() as page:
            page.goto(demo.url)
            answer = upload(page, two_scenes)
            page.locator('#demo-timeline rect.tl-window').nth(8).hover()
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp / 'page.png'), full_page=True)
        write_atomic(args.output, (tmp / 'page.png').read_bytes())
    print(f"wrote {args.output}: top class {answer['top']!r}, the timeline switches at "
          f"{', '.join(f'{t:g} s' for t in answer['switches'])}")


if __name__ == '__main__':
    main()
