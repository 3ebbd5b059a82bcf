"""Fbank of a recording read in blocks: the frames of the whole-recording fbank, in bounded memory.

A Kaldi fbank frame depends only on the samples of its own window, so a long recording can be cut
into segments that start at a frame boundary (a multiple of the frame shift) and overlap by
``window - shift`` samples: each segment's frames are the whole recording's frames at those
positions. Without ``snip_edges`` the recording is first extended by Kaldi's mirror reflection at
both ends, and then framed as with ``snip_edges`` (the frame count of the whole recording,
``round(n / shift)``, decides how many frames come out at the end). Memory is one segment (plus a
window of carried-over samples), whatever the length.

>>> import numpy as np
>>> from bccmt_tools.features.fbank import FbankConfig
>>> from bccmt_tools.features.fbank_numpy import compute_fbank_numpy
>>> x = (0.1 * np.sin(np.arange(48000) / 7.0)).astype(np.float32)
>>> blocks = (x[i:i + 7000] for i in range(0, x.size, 7000))
>>> streamed = np.concatenate([feats for feats, _ in fbank_segments(blocks, FbankConfig(), compute_fbank_numpy,
...                                                                  segment_frames=50)])
>>> streamed.shape, bool(np.allclose(streamed, compute_fbank_numpy(x, FbankConfig()), atol=1e-5))
((298, 80), True)
"""

import dataclasses

import numpy as np

from bccmt_tools.errors import BccmtError
from bccmt_tools.features.fbank_numpy import _reflect, frame_geometry
from bccmt_tools.features.framing import frame_count

DEFAULT_SEGMENT_FRAMES = 1000  # 10 s at a 10 ms shift per fbank call


def fbank_segments(blocks, config, compute, segment_frames=DEFAULT_SEGMENT_FRAMES):
    """Yield ``(feats [k, F] float32, samples)`` for consecutive runs of frames of the recording
    whose 1-D float sample blocks ``blocks`` yields in order; ``samples`` are the samples those
    ``k`` frames cover, to be framed with ``snip_edges`` (any reflection already applied). ``compute(samples,
    config)`` is the fbank front end (:func:`~bccmt_tools.features.frontend.fbank_function`);
    ``config.dither`` must be 0 (dither draws would differ from the whole-recording ones).
    """
    if config.dither > 0.0:
        raise BccmtError("streamed fbank needs dither 0 (extraction features are deterministic)")
    if segment_frames < 1:
        raise BccmtError(f"segment_frames must be at least 1, got {segment_frames}")
    window, shift, _fft = frame_geometry(config)
    snipped = dataclasses.replace(config, snip_edges=True)
    left_pad = 0 if config.snip_edges else -frame_count(0, window, shift, False)[1]
    # Reflection needs the ends of the recording; a recording this short is framed in one piece.
    head_needed = max(left_pad, 2 * window)
    pending, pending_size = [], 0  # samples (reflected head included) not yet framed
    head, total, started, done = None, 0, False, 0
    tail = np.zeros(0, dtype=np.float32)  # the last samples seen (for the right reflection)
    for block in blocks:
        block = np.asarray(block, dtype=np.float32).ravel()
        if block.size == 0:
            continue
        total += block.size
        tail = np.concatenate([tail, block[-window:]])[-window:]
        if not started:
            head = block if head is None else np.concatenate([head, block])
            if head.size < head_needed:
                continue
            started = True
            block = head
            head = None
            if left_pad:
                block = np.concatenate([block[:left_pad][::-1], block])
        pending.append(block)
        pending_size += block.size
        if pending_size < (segment_frames - 1) * shift + window:
            continue
        buffer = np.concatenate(pending)
        while buffer.size >= (segment_frames - 1) * shift + window:  # whole segments only
            segment = buffer[:(segment_frames - 1) * shift + window]
            yield compute(segment, snipped), segment
            done += segment_frames
            buffer = buffer[segment_frames * shift:]
        pending, pending_size = [buffer], buffer.size
    if not started:  # short recording: all of it at once, reflected the whole-recording way
        if head is not None and head.size:
            count, first = frame_count(head.size, window, shift, config.snip_edges)
            if count:
                segment = head[_reflect(np.arange(first, first + (count - 1) * shift + window), head.size)]
                yield compute(segment, snipped), segment
        return
    buffer = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    expected = frame_count(total, window, shift, config.snip_edges)[0]
    if not config.snip_edges:
        last_end = (expected - 1) * shift + window  # in reflected coordinates
        right_pad = max(0, last_end - (total + left_pad))
        buffer = np.concatenate([buffer, tail[::-1][:right_pad]])
    remaining = expected - done
    if remaining > 0:
        segment = buffer[:(remaining - 1) * shift + window]
        feats = compute(segment, snipped)
        if feats.shape[0] != remaining:
            raise BccmtError(f"streamed fbank: {feats.shape[0]} frames at the end, expected {remaining}")
        yield feats, segment
