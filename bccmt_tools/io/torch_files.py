"""Load ``.pt`` checkpoints as data, never as a program.

``torch.load`` with ``weights_only=False`` unpickles arbitrary objects, and a pickle can call any
function while it loads (``os.system`` included): a model file from elsewhere would run code.
:func:`load_torch_file` always uses ``weights_only=True``, which accepts tensors and plain Python
data (dicts, lists, tuples, strings, numbers) only. Checkpoints of earlier bccmt versions also hold
numpy's RNG state (a ``uint32`` array); numeric numpy arrays are allowed for them, nothing else.

>>> load_torch_file("missing.pt")
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: missing.pt: checkpoint not found
"""

import re
from pathlib import Path

from bccmt_tools.errors import BccmtError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _numpy_array_globals():
    """What unpickling a numeric numpy array needs: the array rebuilder, ndarray, dtype and the
    dtype classes of booleans, integers and floats (no object arrays)."""
    import numpy as np

    rebuild = np.zeros(1).__reduce__()[0]  # numpy.core / numpy._core .multiarray._reconstruct
    kinds = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
             np.float16, np.float32, np.float64]
    return [rebuild, np.ndarray, np.dtype] + [type(np.dtype(kind)) for kind in kinds]


def _reason(error):
    """One line for a failed weights-only load."""
    text = " ".join(str(error).split())
    found = _GLOBAL.search(text)
    if found:
        return (f"refused: loading it would call or import {found.group(1)}, and a bccmt checkpoint holds "
                "only tensors and plain data (this file may be malicious; it was not run)")
    if "Weights only load failed" in text or "Unsupported operand" in text:
        return ("refused: not a plain-data checkpoint (the weights-only loader cannot read it; "
                "it was not run)")
    return f"cannot read checkpoint: {text or type(error).__name__}"


def load_torch_file(path, map_location="cpu"):
    """``torch.load(path, weights_only=True)``; a missing, corrupt or code-carrying file is a
    one-line :class:`BccmtError` naming ``path``."""
    path = Path(path)
    if not path.is_file():
        raise BccmtError(f"{path}: checkpoint not found")
    import torch

    import warnings

    try:
        with torch.serialization.safe_globals(_numpy_array_globals()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # plain pickles: refused anyway
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # pickle.UnpicklingError, RuntimeError (bad zip), EOFError, ...
        raise BccmtError(f"{path}: {_reason(error)}") from None
