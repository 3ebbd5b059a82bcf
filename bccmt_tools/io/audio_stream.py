"""Recordings read block by block (and more than once), for long audio in bounded memory.

:func:`open_stream` returns an :class:`AudioStream` for a ``wav.scp`` entry that names a file
libsndfile reads (wav, flac, ...) at the expected sample rate, with one channel or a chosen
``channel``; anything else (pipes, archive entries, m4a/mp3, other rates) returns None, and the
caller reads the whole recording as before. Each pass over :meth:`AudioStream.blocks` reads the
file again from its start, so a two-pass computation (the mean of the features first, then the
features) never holds more than one block of samples. Samples are float32 in [-1, 1], checked
block by block as :func:`bccmt_tools.io.audio.check_samples` checks whole recordings.

>>> import numpy as np, soundfile, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
>>> soundfile.write(path, np.zeros(40000, dtype=np.int16), 16000)
>>> stream = open_stream(path, 16000)
>>> stream.num_samples, [block.size for block in stream.blocks(16000)]
(40000, [16000, 16000, 8000])
>>> open_stream(path, 8000) is None  # another rate: read (and resampled) the usual way
True
"""

import os

import numpy as np

from bccmt_tools.errors import BccmtError

DEFAULT_BLOCK_SAMPLES = 16000 * 10  # 10 s at 16 kHz


class AudioStream:
    """A mono recording on disk (``path``, ``channel``), read in blocks."""

    def __init__(self, path, sample_rate, num_samples, channels, channel=None, where=""):
        self.path = path
        self.sample_rate = sample_rate
        self.num_samples = num_samples
        self.channels = channels
        self.channel = 0 if channel is None else channel
        self.where = where

    @property
    def seconds(self):
        return self.num_samples / self.sample_rate

    def blocks(self, block_samples=DEFAULT_BLOCK_SAMPLES):
        """Yield float32 1-D blocks of ``block_samples`` samples (the last one shorter), from the
        start of the file; unreadable or corrupt data is a BccmtError naming ``where``."""
        import soundfile

        from bccmt_tools.io.audio import check_samples

        prefix = f"{self.where}: " if self.where else ""
        try:
            handle = soundfile.SoundFile(self.path)
        except Exception as exc:  # libsndfile errors
            raise BccmtError(f"{prefix}cannot read audio {self.path}: {' '.join(str(exc).split())}") from None
        with handle:
            position = 0
            while True:
                try:
                    data = handle.read(block_samples, dtype="float32", always_2d=True)
                except Exception as exc:
                    raise BccmtError(f"{prefix}cannot read audio {self.path} after {position} samples: "
                                     f"{' '.join(str(exc).split())}") from None
                if data.shape[0] == 0:
                    return
                block = np.ascontiguousarray(data[:, self.channel])
                check_samples(block, self.sample_rate, self.path, self.where)
                position += block.size
                yield block


class ArrayStream:
    """The same interface over samples already in memory (pipes, archives, decoded m4a)."""

    def __init__(self, samples, sample_rate, where=""):
        self.samples = np.asarray(samples, dtype=np.float32).ravel()
        self.sample_rate = sample_rate
        self.num_samples = self.samples.size
        self.where = where

    @property
    def seconds(self):
        return self.num_samples / self.sample_rate

    def blocks(self, block_samples=DEFAULT_BLOCK_SAMPLES):
        for start in range(0, self.num_samples, block_samples):
            yield self.samples[start:start + block_samples]


def open_stream(entry, sample_rate=16000, where="", channel=None):
    """An :class:`AudioStream` for ``entry`` (a ``wav.scp`` value), or None when it is not a
    file libsndfile reads at ``sample_rate`` with a usable channel (the caller then reads it whole,
    which also reports the problem)."""
    from bccmt_tools.io.compressed import is_compressed

    entry = entry.strip()
    if not entry or entry.endswith("|") or is_compressed(entry) or not os.path.isfile(entry):
        return None
    import soundfile

    try:
        info = soundfile.info(entry)
    except Exception:  # not a libsndfile format (or an archive path): the whole-file reader decides
        return None
    if info.samplerate != sample_rate or info.frames <= 0:
        return None
    if channel is None and info.channels != 1:
        return None
    if channel is not None and not 0 <= channel < info.channels:
        return None
    return AudioStream(entry, sample_rate, int(info.frames), info.channels, channel, where)
