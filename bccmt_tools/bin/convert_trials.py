"""Convert a trial list between the VoxCeleb, Kaldi and plain formats."""

import click

from bccmt_tools.io.trials import FORMATS, read_trials_with_format, write_trials


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--to", "fmt", type=click.Choice(FORMATS), required=True,
              help="kaldi: 'enroll test target|nontarget'; voxceleb: '1|0 enroll test'; plain: 'enroll test'.")
@click.option("--map-voxceleb-paths", is_flag=True,
              help="Turn VoxCeleb paths (id10270/5r0dWxy17C8/00001.wav) into utterance ids (id10270-5r0dWxy17C8-00001).")
@click.argument("in_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("out_file", type=click.Path(dir_okay=False, allow_dash=True, writable=True))
def cli(fmt, map_voxceleb_paths, in_file, out_file):
    """Read the trial list IN_FILE (format detected) and write it to OUT_FILE in format --to.

    Use - for stdin/stdout.

    \b
    Examples:
      bccmt convert-trials --to kaldi --map-voxceleb-paths voxceleb1/veri_test2.txt data/trials/vox1_O
      bccmt convert-trials --to plain data/trials/vox1_O -
    """
    trials, source_fmt = read_trials_with_format(in_file, map_voxceleb_paths=map_voxceleb_paths)
    write_trials(out_file, trials, fmt)
    click.echo(f"{out_file}: {len(trials)} trials ({source_fmt} -> {fmt})", err=True)
