"""Training losses: AAM-softmax (with a margin schedule) and knowledge-distillation terms."""
