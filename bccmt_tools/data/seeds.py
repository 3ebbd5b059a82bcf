"""Per-sample seeds: every training item draws its randomness from its own seed.

>>> sample_seed(1234, 1, 0) == sample_seed(1234, 1, 0) != sample_seed(1234, 1, 1)
True
"""

import numpy as np


def sample_seed(base_seed, epoch, position):
    """A per-sample seed from (run seed, epoch, position): independent of workers and resume."""
    return int(np.random.SeedSequence([int(base_seed), int(epoch), int(position)]).generate_state(1)[0])
