"""Back-end: cosine / AS-norm / LDA+PLDA scoring, calibration, metrics (EER, minDCF, DET), decisions."""
