"""Speed perturbation (Ko et al., Interspeech 2015): audio played faster or slower, tempo and pitch
together, as sox's ``speed`` effect and Kaldi's ``perturb_data_dir_speed.sh`` do.

A factor ``f`` treats the samples as if recorded at ``f * rate`` and resamples them to ``rate``: the
result is ``1 / f`` times as long. Each factor other than 1 is a new speaker (its speaker ids get
the prefix ``sp<f>-``), which is how WeSpeaker, 3D-Speaker and ESPnet triple a corpus's speakers.

>>> import numpy as np
>>> speed_perturb(np.zeros(16000, dtype=np.float32), 1.1).shape
(14546,)
>>> speed_perturb(np.zeros(16000, dtype=np.float32), 0.9).shape
(17778,)
>>> speed_prefix(0.9), speed_prefix(1.1)
('sp0.9-', 'sp1.1-')
"""

from fractions import Fraction

import numpy as np

from bccmt_tools.errors import BccmtError

#: The factors of the usual three-way perturbation (Kaldi, WeSpeaker, ESPnet).
DEFAULT_FACTORS = (0.9, 1.0, 1.1)


def check_factor(factor):
    """``factor`` as a float in (0.5, 2]; anything else is a BccmtError.

    >>> check_factor("1.1")
    1.1
    >>> check_factor(0)
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: speed factor 0: must be a number in (0.5, 2], e.g. 0.9 or 1.1
    """
    try:
        value = float(factor)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.5 < value <= 2.0:
        raise BccmtError(f"speed factor {factor!r}: must be a number in (0.5, 2], e.g. 0.9 or 1.1")
    return value


def check_speed_factors(factors, where="data.speed_perturb"):
    """The factors of online speed perturbation as a tuple of floats (checked); ``()`` when off.

    ``factors`` is a list of speed factors (each as :func:`check_factor` accepts) that holds 1.0
    (the original audio) and no factor twice; ``[]`` or None turns perturbation off. ``where``
    starts the one-line error.

    >>> check_speed_factors([0.9, 1, "1.1"])
    (0.9, 1.0, 1.1)
    >>> check_speed_factors(None)
    ()
    >>> check_speed_factors([0.9, 1.1])
    Traceback (most recent call last):
    ...
    bccmt_tools.errors.BccmtError: data.speed_perturb: [0.9, 1.1] must contain 1.0 (the original speed), e.g. [0.9, 1.0, 1.1]
    """
    if factors is None:
        return ()
    if not isinstance(factors, (list, tuple)):
        raise BccmtError(f"{where}: expected a list of speed factors such as [0.9, 1.0, 1.1] (or [] for none), "
                         f"got {factors!r}")
    values = []
    for factor in factors:
        try:
            value = check_factor(factor)
        except BccmtError as exc:
            raise BccmtError(f"{where}: {exc.message}") from None
        if value in values:
            raise BccmtError(f"{where}: {list(factors)!r} has the factor {value:g} twice")
        values.append(value)
    if values and 1.0 not in values:
        raise BccmtError(f"{where}: {list(factors)!r} must contain 1.0 (the original speed), e.g. [0.9, 1.0, 1.1]")
    return tuple(values)


def speed_spk2id(spk2id, factors):
    """The speaker map of training with speed perturbation ``factors``: ``spk2id`` (ids 0..N-1) for
    factor 1.0, then, for each other factor in the order given, the speakers ``sp<f>-<spk>`` as a
    block of N more ids (``id + block * N``), as WeSpeaker's ``spk + speed_index * num_spk``.

    >>> speed_spk2id({"a": 0, "b": 1}, (0.9, 1.0, 1.1))
    {'a': 0, 'b': 1, 'sp0.9-a': 2, 'sp0.9-b': 3, 'sp1.1-a': 4, 'sp1.1-b': 5}
    """
    count = len(spk2id)
    if sorted(spk2id.values()) != list(range(count)):
        raise BccmtError(f"speed perturbation needs speaker ids 0..{count - 1}, got {sorted(spk2id.values())[:5]}...")
    result = dict(spk2id)
    others = [factor for factor in factors if check_factor(factor) != 1.0]
    for block, factor in enumerate(others, 1):
        prefix = speed_prefix(factor)
        for spk, index in spk2id.items():
            if prefix + spk in spk2id:
                raise BccmtError(f"speaker {prefix + spk!r} is in the data already (speed-perturbed offline, e.g. by "
                                 f"run.sh --speed-perturb true): online speed perturbation would make it again from "
                                 f"{spk!r}; use one of the two, not both")
            result[prefix + spk] = index + block * count
    return result


def speed_prefix(factor):
    """The key prefix of a factor's utterances and speakers (``sp0.9-``); empty for 1.0."""
    factor = check_factor(factor)
    return "" if factor == 1.0 else f"sp{factor:g}-"


def speed_perturb(samples, factor):
    """``samples`` (1-D float) played ``factor`` times as fast, at the same sample rate.

    Band-limited resampling (``torchaudio.functional.resample``) from ``factor * rate`` to ``rate``, with both rates reduced to small integers (0.9: 9 -> 10), so the filter is
    short whatever the rate.
    """
    factor = check_factor(factor)
    samples = np.asarray(samples, dtype=np.float32)
    if factor == 1.0 or samples.size == 0:
        return samples
    ratio = Fraction(factor).limit_denominator(100)  # orig / new rate: 1.1 -> 11 / 10
    import torch
    import torchaudio

    tensor = torch.from_numpy(np.ascontiguousarray(samples))
    return torchaudio.functional.resample(tensor, ratio.numerator, ratio.denominator).numpy()
