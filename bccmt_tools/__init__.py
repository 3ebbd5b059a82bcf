"""bccmt-tools: lightweight speaker verification with BC-CMT (Choi, Yang and Chang, TASLP 2024)."""

__version__ = "0.1.0"
