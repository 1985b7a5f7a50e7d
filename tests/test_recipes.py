"""One source for the training recipe: train's options come from TrainConfig's fields, a recipe file
(--config) sets any of them, the command line overrides it, and every run writes its own recipe."""
import dataclasses
from pathlib import Path

import pytest

from csst_zoo.cli import main, parser, train_config
from csst_zoo.engine import TrainConfig
from csst_zoo.engine.train import CONFIG_NAME, read_recipe

RECIPES = Path(__file__).resolve().parents[1] / 'recipes'

# Each shipped recipe, and the command line that says the same.
COMMAND_LINES = {
    'sthv1-csst-r50.yaml': [
        'csst_resnet50', '--dataset', 'sthv1', '--num-frames', '8', '--sampling', 'segments', '--epochs', '70',
        '--warmup-epochs', '10', '--batch-size', '8', '--momentum', '0.9', '--weight-decay', '5e-4',
        '--drop-rate', '0.3'],
    'kinetics-finetune-tsm-r50.yaml': [
        'tsm_resnet50.k400_mmaction2_dense_8f', '--dataset', 'folder', '--num-frames', '8', '--sampling', 'dense',
        '--frame-interval', '8', '--epochs', '20', '--warmup-epochs', '2', '--batch-size', '8', '--lr', '1e-3',
        '--momentum', '0.9', '--weight-decay', '1e-4', '--drop-rate', '0.5'],
}
WHERE = ['--data-root', '/data/x', '--output', 'runs/x']


def config_of(args) -> TrainConfig:
    return train_config(parser().parse_args(['train', *args]))


def test_every_recipe_is_its_command_line():
    assert sorted(p.name for p in RECIPES.glob('*.yaml')) == sorted(COMMAND_LINES)
    for name, command_line in COMMAND_LINES.items():
        assert config_of(['--config', str(RECIPES / name), *WHERE]) == config_of([*command_line, *WHERE]), name


def test_defaults_live_in_the_dataclass_alone():
    assert config_of(['c2d_resnet18', '--dataset', 'jester', *WHERE]) == TrainConfig(
        model='c2d_resnet18', dataset='jester', data_root='/data/x', output='runs/x')
    options = {a.dest for a in parser()._subparsers._group_actions[0].choices['train']._actions}
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= options


def test_the_command_line_overrides_the_recipe(tmp_path):
    recipe = tmp_path / 'r.json'
    recipe.write_text('{"model": "csst_resnet18", "dataset": "jester", "epochs": 5, "flip": false, "lr": "1e-3"}')
    cfg = config_of(['--config', str(recipe), '--epochs', '3', 'c3d_resnet18', *WHERE])
    assert (cfg.model, cfg.epochs, cfg.flip, cfg.warmup_epochs, cfg.lr) == ('c3d_resnet18', 3, False, 10, 1e-3)


def test_bad_recipes_say_what_is_wrong(tmp_path, capsys):
    cases = {'epochz: 3\nmodel: x': 'sets epochz, which train does not take; accepted: model, dataset',
             '- a list': 'must hold a mapping (a JSON object), got a list',
             'dataset: jester': r'train needs model: give model on the command line or in the --config recipe',
             'epochs: ten': "epochs is 'ten'; accepted: int",
             'lr: true': 'lr is True; accepted: float or NoneType',
             'sampling: tsn': "sampling is 'tsn'; accepted: segments, dense"}
    for text, message in cases.items():
        recipe = tmp_path / 'bad.yaml'
        recipe.write_text(text)
        assert main(['train', '--config', str(recipe), *WHERE]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize('name', sorted(COMMAND_LINES))
def test_a_recipe_trains_and_the_run_writes_its_own(name, tmp_path, capsys):
    """A step of each recipe (on synthetic clips, small, random init), and the run's config.yaml reads
    back as the config it ran with."""
    out = tmp_path / 'run'
    small = ['--dataset', 'synthetic', '--synthetic-clips', '2', '--batch-size', '2', '--epochs', '1',
             '--warmup-epochs', '0', '--num-frames', '2', '--size', '32', '--frame-interval', '1', '--no-pretrained',
             '--workers', '0', '--no-progress', '--output', str(out)]
    assert main(['train', '--config', str(RECIPES / name), *small]) == 0, capsys.readouterr().err
    ran = config_of(['--config', str(RECIPES / name), *small])
    assert (out / 'last.pth').is_file() and read_recipe(out / CONFIG_NAME) == dataclasses.asdict(ran)
    assert config_of(['--config', str(out / CONFIG_NAME)]) == ran
