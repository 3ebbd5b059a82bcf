"""Back-end: embedding extraction, cosine / AS-norm / LDA+PLDA scoring, metrics (EER, minDCF, DET)."""
