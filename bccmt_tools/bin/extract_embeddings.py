"""Extract speaker embeddings (x-vector style Kaldi vectors) from features or audio."""

import click

from bccmt_tools.bin._options import audio_input_options
from bccmt_tools.embed.extract import ExtractionOptions


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--exp", "exp_dir", type=click.Path(file_okay=False), default=None,
              help="Experiment directory (config.yaml + checkpoint).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint to load (default: EXP/avg_model.pt, else the newest EXP/checkpoints/epoch_*.pt).")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), default=None,
              help="Run an exported ONNX model with onnxruntime instead of torch (features config from --exp if given).")
@click.option("--input-type", type=click.Choice(["feats", "wav"]), default="feats", show_default=True,
              help="feats: fbank matrices (feats.scp); wav: audio (wav.scp), fbank computed with the exp's config, dither 0.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto (cuda when available).")
@click.option("--batch-size", type=int, default=ExtractionOptions.batch_size, show_default=True,
              help="Utterances (or chunks) per batch; batches group similar lengths.")
@click.option("--max-chunk-frames", type=int, default=ExtractionOptions.max_chunk_frames, show_default=True,
              help="Longer utterances are embedded in near-equal chunks, averaged weighted by length (0: never; "
                   "then utterances over 2 minutes are refused). Recordings over a minute (--input-type wav) "
                   "stream from disk in bounded memory.")
@click.option("--sort-window", type=int, default=ExtractionOptions.sort_window, show_default=True,
              help="Utterances read ahead and sorted by length before batching (memory vs padding).")
@click.option("--skip-bad", is_flag=True,
              help="Skip unreadable/empty/NaN utterances and audio with too little speech (listed on stderr) "
                   "instead of stopping.")
@click.option("--num-threads", type=int, default=1, show_default=True, help="Torch CPU threads.")
@audio_input_options
@click.argument("rspec")
@click.argument("wspec")
def cli(exp_dir, checkpoint, onnx_path, input_type, device, batch_size, max_chunk_frames, sort_window, skip_bad,
        num_threads, resample, channel, min_speech, vad_trim, rspec, wspec):
    """Embed every utterance of RSPEC and write float32 vectors to WSPEC.

    Features get per-utterance mean normalisation when the experiment's config says
    'cmn: true' (as in training). Batched extraction gives the same embeddings as one
    utterance at a time (padding is masked).

    \b
    Examples:
      bccmt extract-embeddings --exp exp/bccmt_tiny scp:data/test/feats.scp \\
          ark,scp:exp/bccmt_tiny/emb/test/xvector.ark,exp/bccmt_tiny/emb/test/xvector.scp
      bccmt extract-embeddings --exp exp/bccmt_tiny --input-type wav --device cuda \\
          scp:my/wav.scp ark,t:-
      bccmt compute-fbank scp:wav.scp ark:- | bccmt extract-embeddings --exp exp/x ark:- ark,t:emb.txt

    With --input-type wav, audio with less than --min-speech seconds of speech (silence, a
    near-empty clip) is an error naming its key, or skipped with --skip-bad.
    """
    from bccmt_tools.embed.extract import Progress, extract_embeddings
    from bccmt_tools.embed.extract_io import count_entries, load_embedder, read_inputs, resolve_device
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.io.kaldi_table import TableWriter

    options = ExtractionOptions(batch_size, max_chunk_frames, sort_window)
    if onnx_path:  # onnxruntime and the numpy fbank: no torch import
        embedder, fbank, options.cmn = load_embedder(exp_dir, checkpoint, device, onnx_path,
                                                     num_threads=max(1, num_threads))
        frontend = "numpy"
    else:
        import torch

        torch.set_num_threads(max(1, num_threads))
        embedder, fbank, options.cmn = load_embedder(exp_dir, checkpoint, resolve_device(device), onnx_path)
        frontend = "torchaudio"
    skipped = []

    def skip(key, error):
        skipped.append(key)
        click.echo(f"extract-embeddings: skipped {key}: {error.message}", err=True)

    on_error = skip if skip_bad else None
    progress = Progress("extract-embeddings", total=count_entries(rspec))
    done = 0
    try:
        with TableWriter(wspec) as writer:
            items = None
            if input_type == "wav":  # recordings over a minute stream from disk in bounded memory
                from bccmt_tools.embed.long_audio import wav_scp_items

                items = wav_scp_items(rspec, fbank, on_error, frontend, min_speech, vad_trim, resample, channel)
            if items is None:
                items = read_inputs(rspec, input_type, fbank, on_error, frontend=frontend, min_speech=min_speech,
                                    vad_trim=vad_trim, resample=resample, channel=channel)
            for key, embedding in extract_embeddings(items, embedder, options, fbank.feature_dim, rspec,
                                                     on_error, progress):
                writer[key] = embedding
                done += 1
            if done == 0:
                raise BccmtError(f"{rspec}: no embedding written ({len(skipped)} utterances skipped)")
    finally:
        progress.close()
    click.echo(f"extract-embeddings: {done} embeddings written, {len(skipped)} skipped", err=True)


if __name__ == "__main__":
    cli()
