"""Check a Kaldi data dir: sorted unique keys, consistent files, readable entries (lists every problem)."""

import click

from bccmt_tools.errors import BccmtError
from bccmt_tools.io.datadir_validate import validate_data_dir


def _print_grouped(problems, label, max_shown):
    """Print problems, at most ``max_shown`` of each (file, kind) group (0 = all), then a count."""
    shown, hidden = {}, {}
    for problem in problems:
        group = (problem.file, problem.kind)
        shown[group] = shown.get(group, 0) + 1
        if max_shown and shown[group] > max_shown:
            hidden[group] = hidden.get(group, 0) + 1
            continue
        click.echo(f"{label}: {problem.message}")
    for (file, kind), count in hidden.items():
        click.echo(f"{label}: ... and {count} more '{kind}' in {file} (see all with --max-shown 0)")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--no-check-entries", is_flag=True, help="Do not check that wav.scp/feats.scp entries exist.")
@click.option("--max-shown", type=click.IntRange(min=0), default=20, show_default=True,
              help="Print at most this many problems of one kind per file (0 = all); all are counted.")
@click.option("--no-pipes", is_flag=True,
              help="Report every wav.scp/feats.scp entry that is a shell command ('cmd |') as an error "
                   "(also when BCCMT_NO_PIPES=1 is set): check a data dir from elsewhere before using it.")
@click.argument("data_dir", type=click.Path(file_okay=False))
def cli(no_check_entries, max_shown, no_pipes, data_dir):
    """Validate the data dir DATA_DIR and report every problem, each naming its file and key.

    Checks that every file is sorted (LC_ALL=C) without repeated keys, that utt2spk and spk2utt
    agree, that wav.scp, utt2spk, feats.scp, utt2num_frames and utt2dur have the same keys,
    that frame counts and durations are positive, and that wav.scp/feats.scp entries point at
    existing files (audio paths, arks, files named in pipe commands). Utterance ids that do not
    start with their speaker id are warnings. Exits 1 when there are problems.

    Untrusted data: a wav.scp (or feats.scp) value ending in '|' is a shell command, as in Kaldi
    ('sox a.wav -t wav - |'); every tool that reads the entry runs it through /bin/sh, so a data
    dir from elsewhere can run any command on your machine. Check with --no-pipes, and read such
    data with BCCMT_NO_PIPES=1 (or the tools' --no-pipes), which makes pipe entries errors.

    \b
    Examples:
      bccmt validate-data-dir data/voxceleb1_test
      bccmt validate-data-dir --no-check-entries data/train
      bccmt validate-data-dir --no-pipes downloaded/data/test
    """
    report = validate_data_dir(data_dir, check_entries=not no_check_entries, refuse_pipes=no_pipes or None)
    _print_grouped(report.warnings, "warning", max_shown)
    _print_grouped(report.errors, "error", max_shown)
    if not report.ok:
        files = len({problem.file for problem in report.errors})
        raise BccmtError(f"{data_dir}: {len(report.errors)} problem(s) in {files} file(s)"
                         + (f", {len(report.warnings)} warning(s)" if report.warnings else ""))
    warned = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    click.echo(f"{data_dir}: OK ({report.num_utts} utterances, {report.num_spks} speakers{warned})")
