"""Kaldi-style I/O: data directories, rspecifier/wspecifier tables, trials and audio."""
