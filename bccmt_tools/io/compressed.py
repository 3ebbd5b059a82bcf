"""Decode compressed audio (m4a/aac, mp3, ogg/opus, ...) in-process with PyAV.

PyAV's wheels carry their own FFmpeg libraries, so VoxCeleb2's m4a files decode without an
``ffmpeg`` binary on the PATH. Samples come back as the codec's float output clipped to [-1, 1], at
the file's own rate and channel count, in the ``(frames, channels)`` layout that ``soundfile`` gives for wav;
the caller picks a channel and checks the rate exactly as for wav files.

>>> is_compressed("/data/id00012/21Uxsk56VDQ/00001.m4a")
True
>>> is_compressed("a.wav")
False
>>> decode_compressed("missing.m4a")
Traceback (most recent call last):
...
bccmt_tools.errors.BccmtError: cannot decode missing.m4a: file not found
"""

import os

import numpy as np

from bccmt_tools.errors import BccmtError

#: File name endings decoded by :func:`decode_compressed` instead of libsndfile.
COMPRESSED_EXTENSIONS = (".m4a", ".aac", ".mp4", ".mp3", ".ogg", ".opus", ".webm", ".wma")


def is_compressed(path):
    """True when ``path`` names a format that :func:`decode_compressed` reads."""
    return path.lower().endswith(COMPRESSED_EXTENSIONS)


def decode_compressed(path):
    """Return ``(samples, rate)``: float32 samples of shape (frames, channels) and the file's rate.

    Every failure (missing file, no audio stream, a corrupt packet) is one :class:`BccmtError`
    line naming the file.
    """
    if not os.path.isfile(path):
        raise BccmtError(f"cannot decode {path}: file not found")
    try:
        import av
    except ImportError:
        raise BccmtError(f"cannot decode {path}: PyAV is not installed (pip install av)") from None
    try:
        with av.open(path, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise BccmtError(f"cannot decode {path}: no audio stream")
            stream = container.streams.audio[0]
            chunks = [_frame_samples(frame) for frame in container.decode(stream)]
            rate = stream.codec_context.sample_rate
            expected = _stream_frames(stream, rate)
    except BccmtError:
        raise
    except Exception as exc:  # av.error.* (corrupt data, unknown container), OSError
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise BccmtError(f"cannot decode {path}: {reason}") from None
    if not chunks:
        return np.zeros((0, 1), dtype=np.float32), rate
    # Clipped to [-1, 1] as a conversion to 16-bit PCM (ffmpeg's `-f wav`) does: AAC decoders
    # can overshoot full scale.
    samples = np.clip(np.concatenate(chunks, axis=0), -1.0, 1.0)
    # The last AAC frame is padded to 1024 samples; the container's duration says where the
    # audio ends (ffmpeg's command line trims there too).
    return (samples[:expected] if expected else samples), rate


def _stream_frames(stream, rate):
    """Samples the container says the stream holds (None when it does not say)."""
    if stream.duration is None or stream.time_base is None or not rate:
        return None
    return int(round(float(stream.duration * stream.time_base) * rate)) or None


def _frame_samples(frame):
    """One decoded frame as float32 (frames, channels), whatever the codec's sample format."""
    data = frame.to_ndarray()
    planar = frame.format.is_planar
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    else:
        data = data.astype(np.float32, copy=False)
    if planar:  # (channels, frames)
        return data.T
    channels = len(frame.layout.channels)
    return data.reshape(-1, channels)  # packed: (1, frames * channels)
