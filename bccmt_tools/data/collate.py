"""Batch collation for fixed-length training crops."""

import torch


def collate_crops(items):
    """``[(feats [T, F], label)]`` -> dict with ``feats [B, T, F]``, ``lengths [B]``, ``labels [B]``.

    >>> batch = collate_crops([(torch.zeros(5, 2), 1), (torch.ones(5, 2), 0)])
    >>> batch["feats"].shape, batch["lengths"].tolist(), batch["labels"].tolist()
    (torch.Size([2, 5, 2]), [5, 5], [1, 0])
    """
    feats = torch.stack([item[0] for item in items])
    lengths = torch.full((len(items),), feats.shape[1], dtype=torch.long)
    labels = torch.tensor([int(item[1]) for item in items], dtype=torch.long)
    return {"feats": feats, "lengths": lengths, "labels": labels}
