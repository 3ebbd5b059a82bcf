#!/usr/bin/env python3
"""Split a trial list at its median trial length into LIST.short and LIST.long.

A trial's length is the shorter of its two utterances' durations: from utt2dur of the data dir(s)
the list's utterances come from, or utt2num_frames / 100 (10 ms frames) where a data dir has no
utt2dur. Trials at or below the median of those lengths go to LIST.short, the others to LIST.long
(each in the list's own format, the list's order kept). Prints the median and the counts;
--print-median prints only the median (2 decimals) and writes nothing.

Usage: local/split_trials_by_length.py [--out-prefix PREFIX] [--print-median] TRIALS DATA_DIR [DATA_DIR ...]
  e.g. local/split_trials_by_length.py data/trials/so762_test data/so762_test
       local/split_trials_by_length.py data/trials/vox1_E data/voxceleb1_test data/voxceleb1_dev
"""

import argparse
import statistics
import sys
from pathlib import Path

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.datadir import read_utt2dur, read_utt2num_frames
from bccmt_tools.io.trials import read_trials_with_format, write_trials

FRAME_SHIFT = 0.01  # seconds per utt2num_frames frame


def read_durations(data_dirs):
    """``{utt: seconds}`` of the data dirs: utt2dur, else utt2num_frames * FRAME_SHIFT."""
    durations = {}
    for data_dir in map(Path, data_dirs):
        if (data_dir / "utt2dur").is_file():
            durations.update(read_utt2dur(data_dir / "utt2dur"))
        elif (data_dir / "utt2num_frames").is_file():
            frames = read_utt2num_frames(data_dir / "utt2num_frames")
            durations.update({utt: count * FRAME_SHIFT for utt, count in frames.items()})
        else:
            raise BccmtError(f"{data_dir}: neither utt2dur nor utt2num_frames (the durations of the trials' utterances)")
    return durations


def trial_length(trial, durations):
    """The shorter of the trial's two utterance durations (KeyError names a missing utterance).

    >>> from bccmt_tools.io.trials import Trial
    >>> trial_length(Trial("a", "b", 1), {"a": 3.5, "b": 1.25})
    1.25
    """
    return min(durations[trial.enroll], durations[trial.test])


def split_at_median(lengths):
    """``(median, is_short)``: the median of ``lengths`` and, per length, whether it is at or below it.

    >>> split_at_median([1.0, 3.0, 2.0, 4.0])
    (2.5, [True, False, True, False])
    >>> split_at_median([2.0, 2.0, 5.0])
    (2.0, [True, True, False])
    """
    median = statistics.median(lengths)
    return median, [length <= median for length in lengths]


def split_trials(trials_path, data_dirs):
    """``(median, short trials, long trials, format)`` of a trial list (errors name file and key)."""
    trials, fmt = read_trials_with_format(trials_path)
    durations = read_durations(data_dirs)
    lengths = []
    for trial in trials:
        try:
            lengths.append(trial_length(trial, durations))
        except KeyError as exc:
            raise BccmtError(f"{trials_path}: utterance {exc.args[0]!r} has no duration in utt2dur or "
                             f"utt2num_frames of {' '.join(map(str, data_dirs))}") from None
    median, is_short = split_at_median(lengths)
    short = [trial for trial, flag in zip(trials, is_short) if flag]
    long = [trial for trial, flag in zip(trials, is_short) if not flag]
    if not long:
        raise BccmtError(f"{trials_path}: every trial is {median:g} s long: nothing is above the median")
    return median, short, long, fmt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-prefix", help="write PREFIX.short and PREFIX.long (default: TRIALS)")
    parser.add_argument("--print-median", action="store_true", help="print only the median; write nothing")
    parser.add_argument("trials", help="trial list")
    parser.add_argument("data_dirs", nargs="+", help="data dir(s) with utt2dur or utt2num_frames")
    args = parser.parse_args(argv)
    median, short, long, fmt = split_trials(args.trials, args.data_dirs)
    if args.print_median:
        print(f"{median:.2f}")
        return
    prefix = args.out_prefix or args.trials
    write_trials(f"{prefix}.short", short, fmt)
    write_trials(f"{prefix}.long", long, fmt)
    print(f"{args.trials}: median trial length {median:.2f} s (the shorter utterance of each trial); "
          f"{len(short)} trials at or below it -> {prefix}.short, {len(long)} above -> {prefix}.long")


if __name__ == "__main__":
    try:
        main()
    except BccmtError as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {exc}")
