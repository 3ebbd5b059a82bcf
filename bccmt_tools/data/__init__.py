"""Training data: augmentation (MUSAN noise, music, babble, RIR reverberation), datasets, samplers."""
