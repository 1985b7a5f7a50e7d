"""A demo page: drop in a video, see its top classes and what happens when (a Gradio app).

    csst-zoo demo local-dir:out/ --window 2s --stride 1s     # http://127.0.0.1:7860
    csst-zoo space hf-hub:me/csst-r50-sthv1 -o space/         # app.py, requirements.txt, README.md of a Space

    from csst_zoo.demo import build_app
    build_app('hf-hub:me/csst-r50-sthv1').launch()

The page classifies an uploaded video twice, as ``csst-zoo predict`` does: the whole video (the
top-5 as a bar chart) and a timeline of windows, decoded in one streaming pass (bounded memory,
a progress bar on the page). The timeline is an SVG drawn here: hovering a window shows its
top-5, clicking it plays the video from the window's start. Needs the ``demo`` extra (gradio).
"""
import html
import json
import math
import os
import tempfile
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from ._checks import check_positive_int
from ._io import staged_files
from .data.readers import VideoLimits
from .data.writers import write_video
from .engine import Timeline, class_names, inference_device, predict_timeline, predict_video, untrained_notice
from .engine.timeline import parse_span
from .models import VideoResNet
from .models._factory import create_named_model

__all__ = ['build_app', 'default_concurrency', 'launch', 'model_source', 'timeline_svg', 'write_examples', 'write_space']

DEFAULT_MAX_UPLOAD_MB = 100
DEFAULT_TIME_LIMIT = 120  # seconds a request's timeline may take before the page gives up on it
DEFAULT_QUEUE_SIZE = 64  # requests waiting for the model; one more is refused with a message
# A public page takes less than predict does: frames up to 4K UHD and 10 minutes, read from the
# file's headers and packets before any frame is decoded (data.VideoLimits).
PAGE_LIMITS = VideoLimits(max_pixels=3840 * 2160, max_seconds=10 * 60)
VIDEO_ID = 'demo-video'  # the player the timeline's clicks seek
COLOURS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd')

# Clicks on anything with data-time seek the page's player there; hovering a window shows its
# top-5 (data-top) in the tooltip. Delegated from the component's root, so it survives re-renders.
_TIMELINE_JS = """
const tip = () => element.querySelector('.tl-tip');
element.addEventListener('click', (event) => {
  const target = event.target.closest('[data-time]');
  const video = document.querySelector('#%s video');
  if (!target || !video) return;
  video.currentTime = parseFloat(target.dataset.time);
  video.play().catch(() => {});
});
element.addEventListener('mouseover', (event) => {
  const target = event.target.closest('[data-top]');
  const box = tip();
  if (!target || !box) return;
  box.textContent = '';
  const head = document.createElement('b');
  head.textContent = target.dataset.span;
  box.appendChild(head);
  for (const [label, p] of JSON.parse(target.dataset.top)) {
    const row = document.createElement('div');
    row.textContent = (100 * p).toFixed(1) + '%%  ' + label;
    box.appendChild(row);
  }
  box.style.display = 'block';
});
element.addEventListener('mouseout', (event) => {
  if (event.target.closest('[data-top]') && tip()) tip().style.display = 'none';
});
""" % VIDEO_ID

_CSS = """
.tl-plot { width: 100%; height: auto; }
.tl-window { fill: transparent; cursor: pointer; }
.tl-window:hover { fill: rgba(0, 0, 0, 0.08); }
.tl-switch { stroke: #444; stroke-dasharray: 4 3; }
.tl-tip { display: none; position: absolute; right: 8px; top: 8px; padding: 6px 10px; background: white;
          border: 1px solid #bbb; border-radius: 4px; font: 12px monospace; white-space: pre; pointer-events: none; }
.tl-segments li { cursor: pointer; }
"""


def _gradio():
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # the page must not call home
    try:
        import gradio
    except ImportError:
        raise ImportError("the demo needs gradio: pip install 'csst-zoo[demo]'") from None
    return gradio


def model_source(model: VideoResNet, name: str, checkpoint: Optional[str] = None) -> str:
    """Where the weights of ``model = create_named_model(name, checkpoint_path=checkpoint)`` come from, in words."""
    from timm.models import parse_model_name, split_model_name_tag
    source, ref = parse_model_name(name)
    if not source and split_model_name_tag(ref)[1] and not checkpoint:
        cfg = model.pretrained_cfg
        return f"the pretrained tag `{ref}` ({cfg.get('description')}, {cfg.get('origin_url')})"
    if not source:
        where = f'the csst-zoo architecture `{ref}`'
        return where + (f' with the weights of `{checkpoint}`' if checkpoint else ', untrained (random weights)')
    where = f'the Hugging Face Hub repo `{ref}`' if source == 'hf-hub' else f'the checkpoint folder `{ref}`'
    cfg = model.pretrained_cfg
    if cfg.get('origin_url'):  # a converted checkpoint's, set when it was read
        where += f", {cfg['description']} ({cfg['origin_url']})"
    return where


def _ticks(t0: float, t1: float, most: int = 8) -> List[float]:
    """Round axis marks from t0 to t1: a step of 1, 2 or 5 times a power of ten, at most ``most`` marks."""
    raw = max(t1 - t0, 1e-9) / (most - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(t0 / step - 1e-9)
    return [k * step for k in range(first, math.floor(t1 / step + 1e-9) + 1)]


def timeline_svg(timeline: Timeline, classes: int = 5, width: int = 760, height: int = 240) -> str:
    """The timeline as HTML: an SVG of the probability over time of the ``classes`` leading
    classes, one hover/click target per window (``data-time``: its start, ``data-top``: its
    top-5), dashed lines where the top class switches, and the list of runs of one top class."""
    left, right, top, bottom = 40, 10, 10, 28
    spans, centres = timeline.times or timeline.frames, timeline.centres()
    unit = 's' if timeline.times else ' frames'
    t0, t1 = spans[0][0], spans[-1][1]
    scale = (width - left - right) / ((t1 - t0) or 1)

    def x(t):
        return left + (t - t0) * scale

    def y(p):
        return top + (1 - p) * (height - top - bottom)

    def seconds(t):  # where the player goes: a frame index has no time without timestamps
        return t if timeline.times else 0.0

    parts = [f'<svg class="tl-plot" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
             f'font-size="11" font-family="sans-serif">']
    for p in (0, 0.5, 1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y(p) + 4:.1f}" text-anchor="end">{p:g}</text>')
    for t in _ticks(t0, t1):
        parts.append(f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="middle">{t:g}{unit}</text>')
    legend = []
    for n, c in enumerate(timeline.leading_classes(classes)):
        colour = COLOURS[n % len(COLOURS)]
        points = ' '.join(f'{x(t):.1f},{y(p):.1f}' for t, p in zip(centres, timeline.probs[:, c].tolist()))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        legend.append(f'<span style="color:{colour}">&#9632; {html.escape(timeline.class_names[c])}</span>')
    segments = timeline.segments()
    for s in segments[1:]:
        parts.append(f'<line class="tl-switch" data-switch="{s["start"]:.6g}" x1="{x(s["start"]):.1f}" '
                     f'x2="{x(s["start"]):.1f}" y1="{top}" y2="{height - bottom}"/>')
    # one target per window, from halfway to its neighbours' centres, so targets tile the axis
    edges = [t0] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [t1]
    for (a, b), top5, lo, hi in zip(spans, timeline.top(5), edges, edges[1:]):
        data = html.escape(json.dumps([[name, round(p, 4)] for name, p in top5]), quote=True)
        parts.append(f'<rect class="tl-window" data-time="{seconds(a):.6g}" data-span="{a:.3g}-{b:.3g}{unit}" '
                     f'data-top="{data}" x="{x(lo):.1f}" y="{top}" width="{max(x(hi) - x(lo), 1):.1f}" '
                     f'height="{height - top - bottom}"/>')
    parts.append('</svg>')
    runs = ''.join(f'<li data-time="{seconds(s["start"]):.6g}" data-label="{html.escape(s["label"], quote=True)}">'
                   f'{s["start"]:.2f}-{s["end"]:.2f}{unit}: <b>{html.escape(s["label"])}</b></li>' for s in segments)
    return (f'<div class="tl" style="position:relative"><div class="tl-tip"></div>{"".join(parts)}'
            f'<div class="tl-legend">{" &nbsp; ".join(legend)}</div>'
            f'<p>Top class by time (click to play from there):</p><ol class="tl-segments">{runs}</ol></div>')


def _scene(colour: int, n: int, size: int, seed: int) -> np.ndarray:
    """``n`` frames (size x size) of a noisy picture tinted red, green or blue (``colour``), drifting right."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 70, (size, size + 2 * n, 3)).astype(np.uint8)
    base[..., colour] += 170
    return np.stack([base[:, 2 * i:2 * i + size] for i in range(n)])


def write_examples(folder) -> List[Path]:
    """Write the page's two example clips to ``folder`` (WebM/VP8, which every browser plays, a
    few hundred KB): ``two_scenes.webm`` (6 s red, then 6 s blue) and ``one_scene.webm`` (8 s
    green). Files already there are kept."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    examples = {'two_scenes.webm': np.concatenate([_scene(0, 48, 96, 1), _scene(2, 48, 96, 2)]),
                'one_scene.webm': _scene(1, 64, 96, 3)}
    for name, frames in examples.items():
        if not (folder / name).exists():
            write_video(folder / name, frames, rate=8, codec='libvpx', bit_rate=400_000)
    return [folder / name for name in examples]


def _describe(model: VideoResNet, source: str) -> str:
    cfg = model.pretrained_cfg
    text = (f"**{cfg.get('architecture', type(model).__name__)}**: {model.num_classes} classes, clips of "
            f"{model.num_frames} frames at {cfg['input_size'][-1]} px. Weights: {source}.")
    notice = untrained_notice(model)
    if notice:
        text += f'\n\n**{notice[0].upper()}{notice[1:]}.**'
    if not cfg.get('label_names'):  # class_names falls back to the indices
        text += ("\n\n*This checkpoint's classes have no names, so classes are shown by their index. "
                 "Save it with `csst_zoo.save_pretrained(model, folder, labels=[...])` to name them.*")
    return text


def _class_list(model: VideoResNet) -> str:
    return '\n'.join(f'{i}. {html.escape(n)}' for i, n in enumerate(class_names(model)))


def default_concurrency() -> int:
    """Requests the model works on at once: one on the CPU, where the model takes every core; two
    on a GPU, so that one request's decoding (on the CPU) overlaps the other's forward passes."""
    return 2 if inference_device().type == 'cuda' else 1


def _classify(gr, model: VideoResNet, path: Optional[str], window, stride, time_limit: Optional[float] = None):
    """The page's answer for the uploaded file ``path``: top-5 and timeline, or a gr.Error naming the trouble."""
    from .data import VideoReadError, open_video
    if path is None:
        return None, ''
    name = Path(path).name
    try:
        reader = open_video(path, limits=PAGE_LIMITS)
    except VideoReadError as e:
        raise gr.Error(f'{name} is not a video this page can read ({str(e).replace(str(path), name)}).') from None
    if reader.num_frames < model.num_frames:
        raise gr.Error(f'{name} is too short: it has {reader.num_frames} frames, and the model samples '
                       f'{model.num_frames} per clip.')
    try:
        top = predict_video(model, reader, topk=5)  # the reader: the file's packets are read once
        timeline = predict_timeline(model, reader, window, stride, progress=True, time_limit=time_limit)
    except TimeoutError:
        raise gr.Error(f'{name} takes this page longer than its limit of {time_limit:g} s per video: try a shorter '
                       'one, or csst-zoo predict --window on your machine.') from None
    except (VideoReadError, ValueError) as e:
        raise gr.Error(f'{name}: {str(e).replace(str(path), name)}') from None
    return {label: p for label, p in top}, timeline_svg(timeline)


def build_app(model: Union[str, VideoResNet], checkpoint: Optional[str] = None, window='2s', stride='1s',
              max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, examples_dir=None, concurrency: Optional[int] = None,
              queue_size: int = DEFAULT_QUEUE_SIZE, time_limit: float = DEFAULT_TIME_LIMIT, **model_kwargs):
    """The demo page (a ``gradio.Blocks``) for ``model``: anything ``csst-zoo predict`` takes (a
    registered name, ``hf-hub:ORG/REPO``, ``local-dir:PATH``, with ``checkpoint`` and model
    arguments) or a model already built. Windows of the timeline are ``window`` long every
    ``stride``; uploads over ``max_upload_mb`` are refused. Requests wait in Gradio's queue (each
    user sees their place in it), ``concurrency`` of them run at once (default:
    :func:`default_concurrency`), at most ``queue_size`` wait (one more is refused with a message),
    and a timeline that takes more than ``time_limit`` seconds is stopped with a message. The
    example clips are written to ``examples_dir`` (default: a temporary folder)."""
    gr = _gradio()
    window, stride = parse_span(window, 'window'), parse_span(stride, 'stride')
    if not (isinstance(max_upload_mb, (int, float)) and max_upload_mb > 0):
        raise ValueError(f'max_upload_mb must be a positive number of megabytes, got {max_upload_mb!r}')
    if not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ValueError(f'time_limit must be a positive number of seconds, got {time_limit!r}')
    concurrency = default_concurrency() if concurrency is None else concurrency
    check_positive_int('concurrency', concurrency)
    check_positive_int('queue_size', queue_size)
    if isinstance(model, str):
        name, model = model, create_named_model(model, checkpoint_path=checkpoint, **model_kwargs)
        source = model_source(model, name, checkpoint)
    elif isinstance(model, VideoResNet):
        if checkpoint or model_kwargs:
            raise ValueError('checkpoint and model arguments apply to a model name, not to a model already built')
        source = 'a model built in Python'
    else:
        raise TypeError(f"model must be a model name ('csst_resnet50', 'hf-hub:ORG/REPO', 'local-dir:PATH') or a "
                        f'csst-zoo VideoResNet, got {type(model).__name__}')
    model.to(inference_device()).eval()
    examples = write_examples(examples_dir or tempfile.mkdtemp(prefix='csst-zoo-demo-'))

    def classify(path, progress=gr.Progress(track_tqdm=True)):  # the timeline's tqdm bar, shown on the page
        return _classify(gr, model, path, window, stride, time_limit)

    with gr.Blocks(title='csst-zoo demo', analytics_enabled=False) as app:
        gr.Markdown('## What happens in this video?')
        gr.Markdown(_describe(model, source), elem_id='demo-model')
        with gr.Row():
            with gr.Column():
                limits = f'{max_upload_mb:g} MB, 4K, {PAGE_LIMITS.max_seconds / 60:g} minutes'
                video = gr.Video(label=f'video (up to {limits})', sources=['upload'], include_audio=True,
                                 elem_id=VIDEO_ID)
                gr.Examples([[str(p)] for p in examples], inputs=[video], label='examples')
            top5 = gr.Label(label='top-5 classes of the whole video', num_top_classes=5, elem_id='demo-top5')
        gr.Markdown(f'### Timeline: windows of {window}, one every {stride}')
        timeline = gr.HTML(elem_id='demo-timeline', css_template=_CSS, js_on_load=_TIMELINE_JS)
        with gr.Accordion(f'the model\'s {model.num_classes} classes', open=False):
            gr.Markdown(_class_list(model))
        video.change(classify, inputs=video, outputs=[top5, timeline])
    app.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    app.max_upload_mb = max_upload_mb  # for launch: gradio refuses larger uploads, in the browser and the server
    return app


def launch(app, host: str = '127.0.0.1', port: int = 7860, **kwargs):
    """Serve ``app`` (from build_app) at ``host:port`` until stopped, with its upload limit."""
    if host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'csst-zoo demo: serving on {host}:{port}: anyone who can reach this machine there can upload videos '
              f'(up to {app.max_upload_mb:g} MB each) and run the model on them', flush=True)
    return app.launch(server_name=host, server_port=port, max_file_size=int(app.max_upload_mb * 2 ** 20),
                      ssr_mode=False, **kwargs)


def write_space(directory, model: str, requirement: Optional[str] = None, title: Optional[str] = None) -> Path:
    """Write the ``app.py``, ``requirements.txt`` and ``README.md`` (Hub metadata: ``sdk: gradio``,
    ``models:``) of a Hugging Face Space that runs the demo for ``model`` (``hf-hub:ORG/REPO`` or a
    registered name), all three or none. ``requirement`` is the pip line that installs csst-zoo
    there (default: this version with the demo extra)."""
    from timm.models import parse_model_name
    from .models import is_model
    from .version import __version__
    source, ref = parse_model_name(model)
    if source != 'hf-hub' and (source or not is_model(ref)):
        raise ValueError(f"model must be 'hf-hub:ORG/REPO' or a registered name for a Space (a Space cannot read "
                         f"this machine's files), got {model!r}")
    requirement = requirement or f'csst-zoo[demo]=={__version__}'
    title = title or f'{ref.split("/")[-1]} demo'
    metadata = ['---', f'title: {json.dumps(title)}', 'sdk: gradio', 'app_file: app.py']
    if source == 'hf-hub':
        metadata += ['models:', f'  - {ref.split("@")[0]}']
    readme = '\n'.join(metadata + ['tags:', '  - video-classification', '  - csst-zoo', '---', '',
                                   f'# {title}', '', f'Upload a video and see what `{model}` makes of it, '
                                   'over the whole video and window by window.', ''])
    app = (f'from csst_zoo.demo import build_app, launch\n\n'
           f'launch(build_app({model!r}), host="0.0.0.0")\n')
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with staged_files(*(directory / n for n in ('app.py', 'requirements.txt', 'README.md'))) as stage:
        (stage / 'app.py').write_text(app, encoding='utf-8')
        (stage / 'requirements.txt').write_text(requirement + '\n', encoding='utf-8')
        (stage / 'README.md').write_text(readme, encoding='utf-8')
    return directory
