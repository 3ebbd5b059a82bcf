"""Compute Kaldi-compatible log-Mel fbank features from audio (wav.scp or a wav ark)."""

import sys

import click

from bccmt_tools.bin._options import no_pipes_option
from bccmt_tools.errors import BccmtError


def _num_frames_path(wspecifier):
    """The text file of ``--write-num-frames``: ``ark,t:PATH`` or a plain ``PATH``."""
    if ":" in wspecifier and wspecifier.split(":", 1)[0].replace(",", "").isalpha():
        options, path = wspecifier.split(":", 1)
        flags = set(options.split(","))
        if "ark" not in flags or "t" not in flags or not flags <= {"ark", "t", "f", "p"}:
            raise BccmtError(f"--write-num-frames {wspecifier!r}: expected a text table such as ark,t:utt2num_frames")
    else:
        path = wspecifier
    if not path or path.strip() == "-" or path.strip().endswith("|") or path.strip().startswith("|"):
        raise BccmtError(f"--write-num-frames {wspecifier!r}: needs a file path")
    return path


class _Progress:
    """tqdm on stderr when stderr is a terminal; silent otherwise (logs, pipes)."""

    def __init__(self):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(unit="utt", file=sys.stderr, desc="compute-fbank")

    def update(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML fbank options (see egs/voxceleb/conf/fbank.yaml); default: the built-in Kaldi-style "
                   "80-bin setup.")
@click.option("--compress/--no-compress", default=False, show_default=True,
              help="Write Kaldi-compressed matrices (compression method 2, as Kaldi's --compress=true).")
@click.option("--write-num-frames", "num_frames_spec", metavar="WSPEC", default=None,
              help="Also write 'key num_frames' lines (ark,t:utt2num_frames or a plain path), atomically.")
@click.option("--write-config", "record_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every fbank option used (YAML) to this file, atomically, after the features: "
                   "utils/make_fbank.sh keeps it as DATA/conf/fbank.yaml, whence bccmt train takes the features.")
@click.option("--resample", is_flag=True, help="Resample audio whose rate differs from the config's sample_rate.")
@click.option("--channel", type=int, default=None,
              help="Channel (0-based) to use from multi-channel audio; without it such audio is an error.")
@click.option("--skip-bad", is_flag=True,
              help="Skip unreadable, empty, too-short or wrong-rate audio (reported on stderr) instead of stopping.")
@click.option("--num-threads", type=int, default=1, show_default=True, help="Torch CPU threads.")
@no_pipes_option
@click.argument("rspecifier")
@click.argument("wspecifier")
def cli(config_path, compress, num_frames_spec, record_path, resample, channel, skip_bad, num_threads, rspecifier,
        wspecifier):
    """Compute fbank features of every utterance in RSPECIFIER and write them to WSPECIFIER.

    RSPECIFIER is scp:wav.scp (entries: wav/flac paths, 'cmd |' pipes, ark:offset wav
    references) or a wav archive (ark:wav.ark, ark:- for stdin). WSPECIFIER is any Kaldi
    wspecifier. A bad entry (unreadable, empty, NaN or absurd samples) stops the run with its
    key, leaving no output files, unless --skip-bad is given; an empty input is an error. A summary
    goes to stderr.

    \b
    Examples:
      bccmt compute-fbank --config conf/fbank.yaml --compress \\
          --write-num-frames ark,t:data/test/utt2num_frames --write-config data/test/conf/fbank.yaml \\
          scp:data/test/wav.scp ark,scp:fbank/raw_fbank_test.ark,fbank/raw_fbank_test.scp
      bccmt compute-fbank scp:data/test/wav.scp ark:- | \
          python -c "import kaldiio,sys; [print(k, m.shape) for k, m in kaldiio.load_ark(sys.stdin.buffer)]"
    A wav.scp line decoding m4a through ffmpeg:
      id00012-21Uxsk56VDQ-00001 ffmpeg -nostdin -loglevel error -i /data/00001.m4a -f wav -ar 16000 -ac 1 - |
    """
    import torch

    from bccmt_tools.features.fbank import compute_fbank, load_fbank_config, num_frames
    from bccmt_tools.features.record import write_fbank_record
    from bccmt_tools.io.atomic import atomic_write, check_writable
    from bccmt_tools.io.audio import iter_audio_table
    from bccmt_tools.io.kaldi_table import TableWriter

    torch.set_num_threads(max(1, num_threads))
    config = load_fbank_config(config_path)
    num_frames_path = _num_frames_path(num_frames_spec) if num_frames_spec else None
    if num_frames_path:  # written last: check it now, not after all the work
        check_writable(num_frames_path, "--write-num-frames file")
    if record_path:
        check_writable(record_path, "--write-config file")

    skipped = []

    def skip(key, error):
        skipped.append((key, error.message))

    frame_counts = {}
    progress = _Progress()
    try:
        with TableWriter(wspecifier, compression_method=2 if compress else None) as writer:
            audio = iter_audio_table(rspecifier, config.sample_rate, resample, channel, skip if skip_bad else None)
            for key, samples in audio:
                if num_frames(len(samples), config) == 0:
                    error = BccmtError(f"{rspecifier}: key {key!r}: audio too short for one frame "
                                       f"({len(samples)} samples)")
                    if not skip_bad:
                        raise error
                    skip(key, error)
                    continue
                feats = compute_fbank(samples, config)
                writer[key] = feats
                frame_counts[key] = feats.shape[0]
                progress.update()
            if not frame_counts and skipped:
                raise BccmtError(f"{rspecifier}: all {len(skipped)} utterances were bad; nothing written")
            if not frame_counts:
                raise BccmtError(f"{rspecifier}: no utterances (an empty wav.scp or archive); nothing written")
            if num_frames_path:
                with atomic_write(num_frames_path) as handle:
                    handle.writelines(f"{key} {count}\n" for key, count in frame_counts.items())
            if record_path:
                write_fbank_record(config, record_path)
    finally:
        progress.close()
    _report(len(frame_counts), skipped)


def _report(done, skipped):
    click.echo(f"compute-fbank: {done} utterances done, {len(skipped)} skipped", err=True)
    for key, message in skipped:
        click.echo(f"compute-fbank: skipped {key}: {message}", err=True)


if __name__ == "__main__":
    cli()
