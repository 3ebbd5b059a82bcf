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
