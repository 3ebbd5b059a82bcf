"""bccmt-tools: lightweight speaker verification with BC-CMT (Choi, Yang and Chang, TASLP 2024).

``from bccmt_tools import SpeakerVerifier`` gives the Python API (:mod:`bccmt_tools.api`); it is
imported on first use, so ``import bccmt_tools`` stays light (no numpy, no torch).
"""

__version__ = "0.2.0"
__all__ = ["SpeakerVerifier", "Verification", "__version__"]
_API_NAMES = ("SpeakerVerifier", "Verification")


def __getattr__(name):
    if name in _API_NAMES:
        from bccmt_tools import api

        return getattr(api, name)
    raise AttributeError(f"module 'bccmt_tools' has no attribute {name!r}")
