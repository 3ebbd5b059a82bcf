"""Cepstral (here: filterbank) mean normalisation per utterance.

>>> import numpy as np
>>> feats = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
>>> mean_normalize(feats)
array([[-1., -2.],
       [ 1.,  2.]], dtype=float32)
"""

import numpy as np


def mean_normalize(feats, lengths=None):
    """Subtract the mean over time from each utterance; numpy arrays or torch tensors.

    ``feats`` is ``[T, F]`` or a padded batch ``[B, T, F]``. For a batch, ``lengths`` (``[B]``)
    gives the valid frames: the mean is taken over those only and padded frames come back as 0.
    The result has the input's type, dtype and device.
    """
    if feats.ndim not in (2, 3):
        raise ValueError(f"mean_normalize: expected [T, F] or [B, T, F], got shape {tuple(feats.shape)}")
    if lengths is None or feats.ndim == 2:
        return feats - feats.mean(axis=-2, keepdims=True) if isinstance(feats, np.ndarray) else \
            feats - feats.mean(dim=-2, keepdim=True)
    if isinstance(feats, np.ndarray):
        lengths = np.asarray(lengths)
        mask = (np.arange(feats.shape[1])[None, :] < lengths[:, None])[..., None].astype(feats.dtype)
        mean = (feats * mask).sum(axis=1, keepdims=True) / np.maximum(lengths, 1)[:, None, None].astype(feats.dtype)
        return (feats - mean) * mask
    import torch

    lengths = torch.as_tensor(lengths, device=feats.device)
    mask = (torch.arange(feats.shape[1], device=feats.device)[None, :] < lengths[:, None]).unsqueeze(-1).to(feats.dtype)
    mean = (feats * mask).sum(dim=1, keepdim=True) / lengths.clamp(min=1)[:, None, None].to(feats.dtype)
    return (feats - mean) * mask
