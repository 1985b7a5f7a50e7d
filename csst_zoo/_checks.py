"""Argument checks shared by the layers, models, data and tools, and the check of timm's version
(run when csst_zoo is imported)."""
import timm

__all__ = ['check_positive_int', 'check_timm_version', 'MIN_TIMM']

# timm 1.0.31 is the first with adapt_input_conv(..., base_chans=) and a load_pretrained that
# leaves an already adapted stem alone; before it, in_chans != 3 loads a random first conv.
MIN_TIMM = '1.0.31'


def check_positive_int(name: str, value) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int >= 1 (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')


def check_timm_version(version: str) -> None:
    """Raise ImportError unless timm ``version`` is at least :data:`MIN_TIMM`."""
    from packaging.version import InvalidVersion, Version
    try:
        too_old = Version(version) < Version(MIN_TIMM)
    except InvalidVersion:
        too_old = False  # a source build with an odd version string: trust it
    if too_old:
        raise ImportError(f"csst-zoo needs timm >= {MIN_TIMM}, found timm {version} (older versions load a random "
                          f"first conv for in_chans != 3): pip install -U 'timm>={MIN_TIMM}'")


check_timm_version(timm.__version__)
