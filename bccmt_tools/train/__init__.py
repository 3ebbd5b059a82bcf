"""Training: resolved configs, the trainer loop, checkpoints, schedulers, optimisers, DDP setup."""
