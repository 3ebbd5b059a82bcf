"""Verify a trial list over your own audio in one go: fbank, embeddings, scores, decisions."""

import click

from bccmt_tools.backend.backends import backend_names
from bccmt_tools.backend.score_norm import DEFAULT_TOP_N
from bccmt_tools.bin._options import audio_input_options
from bccmt_tools.embed.extract import ExtractionOptions
from bccmt_tools.features.frontend import FBANK_FRONTENDS


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--exp", "exp_dir", type=click.Path(file_okay=False), default=None,
              help="Experiment directory (config.yaml + checkpoint).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None, help="Checkpoint (default: EXP/avg_model.pt).")
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), default=None,
              help="Model exported by `bccmt export`, run with onnxruntime and the numpy fbank: no torch needed. "
                   "Features config from the file's metadata (else --fbank-config or --exp).")
@click.option("--fbank-config", type=click.Path(dir_okay=False), default=None,
              help="With --onnx: YAML of fbank options (as egs/voxceleb/conf/fbank.yaml, may add 'cmn: false'); "
                   "overrides the model's metadata; needed for ONNX files without it.")
@click.option("--fbank-frontend", type=click.Choice(("auto",) + FBANK_FRONTENDS), default="auto",
              show_default=True,
              help="Fbank implementation; auto: numpy with --onnx (no torch), torchaudio with --exp.")
@click.option("--wav-scp", type=click.Path(dir_okay=False), required=True, help="utterance id -> audio (path or 'cmd |').")
@click.option("--trials", type=click.Path(dir_okay=False), required=True,
              help="Trial list: 'enroll test', 'enroll test target|nontarget' or '1|0 enroll test'.")
@click.option("--method", type=click.Choice(backend_names()), default="cosine", show_default=True, help="Back-end.")
@click.option("--mean-vector", type=click.Path(dir_okay=False), default=None, help="Cosine/AS-norm: vector to subtract.")
@click.option("--cohort", "cohort_rspec", metavar="RSPEC", default=None, help="AS-norm cohort embeddings.")
@click.option("--top-n", type=int, default=DEFAULT_TOP_N, show_default=True, help="AS-norm top-N.")
@click.option("--plda", "plda_path", type=click.Path(dir_okay=False), default=None, help="PLDA model for --method plda.")
@click.option("--enroll-spk2utt", type=click.Path(dir_okay=False), default=None,
              help="Enrolment ids are speakers whose utterances (in wav.scp) are averaged.")
@click.option("--threshold", type=float, default=None, help="Accept when score >= THRESHOLD.")
@click.option("--calibrate-on", type=click.Path(dir_okay=False), default=None,
              help="Labelled score file (same model and back-end) whose operating point gives the threshold.")
@click.option("--operating-point", default="eer", show_default=True,
              help="With --calibrate-on: eer, mindcf0.01, mindcf0.05 (any mindcf<P_target>).")
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False), default=None,
              help="Calibration JSON (bccmt train-calibration, same model and back-end): print "
                   "'enroll test score llr', and decisions with --p-target (or --threshold on the LLR).")
@click.option("--p-target", type=float, default=None,
              help="With --calibration: prior of a target trial; accept when llr >= "
                   "log((1 - P) / P * C_fa / C_miss), the Bayes threshold (4.595 at 0.01).")
@click.option("--c-miss", type=float, default=1.0, show_default=True, help="With --p-target: cost of a miss.")
@click.option("--c-fa", type=float, default=1.0, show_default=True, help="With --p-target: cost of a false alarm.")
@click.option("--voxceleb-paths", is_flag=True, help="Trial keys are VoxCeleb paths; map them to utterance ids.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--batch-size", type=int, default=ExtractionOptions.batch_size, show_default=True)
@click.option("--num-threads", type=int, default=1, show_default=True, help="CPU threads (torch or onnxruntime).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write decisions here instead of stdout.")
@click.option("--skip-bad", is_flag=True,
              help="Leave out audio that cannot be used (unreadable, corrupt, too little speech; each named on "
                   "stderr) and drop the trials that need it (counted), instead of stopping.")
@audio_input_options
def cli(skip_bad, resample, channel, min_speech, vad_trim, exp_dir, checkpoint, onnx_path, fbank_config, fbank_frontend, wav_scp, trials, method, mean_vector,
        cohort_rspec, top_n, plda_path, enroll_spk2utt, threshold, calibrate_on, operating_point, calibration_path,
        p_target, c_miss, c_fa, voxceleb_paths, device, batch_size, num_threads, out):
    """Print 'enroll test score accept|reject' for every trial of --trials, from the audio in
    --wav-scp. Without --threshold or --calibrate-on, the scores are printed without decisions.

    \b
    Examples:
      bccmt verify --exp exp/bccmt_tiny --wav-scp my/wav.scp --trials my/trials --threshold 0.45
      bccmt verify --exp exp/bccmt_tiny --wav-scp my/wav.scp --trials my/trials \\
          --calibrate-on exp/bccmt_tiny/scores/vox1_O.cosine --operating-point mindcf0.01 --out decisions.txt
      bccmt verify --onnx exp/bccmt_tiny/model.onnx --wav-scp my/wav.scp --trials my/trials --threshold 0.45
      bccmt verify --exp exp/bccmt_tiny --wav-scp my/wav.scp --trials my/trials \\
          --calibration exp/bccmt_tiny/calibration/cosine.json --p-target 0.01

    With --calibration the scores become log-likelihood ratios and --p-target picks the decision
    threshold from the prior and the costs (no threshold to tune): lines are
    'enroll test score llr accept|reject'.

    With --onnx nothing imports torch (onnxruntime, numpy, scipy, soundfile, kaldiio and click suffice).

    Audio with less than --min-speech seconds of speech (digital silence, a 50 ms clip) is
    refused with its key named, never scored: an embedding of no speech can look like anybody.
    --skip-bad leaves such audio and its trials out instead.
    """
    from bccmt_tools.backend.decisions import (accepts, calibrated_llrs, decision_lines, decision_setup,
                                               threshold_from_scores)
    from bccmt_tools.backend.embeddings import load_embeddings, read_vector
    from bccmt_tools.backend.scoring import score_trials
    from bccmt_tools.embed.extract_io import load_embedder, resolve_device
    from bccmt_tools.embed.trial_audio import audio_trials, embed_audio, needed_audio
    from bccmt_tools.errors import BccmtError
    from bccmt_tools.io.atomic import atomic_write
    from bccmt_tools.io.datadir import read_spk2utt
    from bccmt_tools.io.trials import read_trials

    if plda_path:  # scipy comes with the PLDA: imported only when used (start-up time of verify)
        from bccmt_tools.backend.plda import Plda

    if out:  # before any work: a path we cannot write fails now, not after the embeddings
        from bccmt_tools.io.atomic import check_writable

        check_writable(out, "decisions")
    skipped_audio = []

    def skip_audio(key, error):
        skipped_audio.append(key)
        click.echo(f"verify: skipped {key}: {error.message}", err=True)

    threshold, calibration = decision_setup(threshold, calibrate_on, calibration_path, p_target, c_miss, c_fa)
    trial_list = read_trials(trials, map_voxceleb_paths=voxceleb_paths)
    spk2utt = read_spk2utt(enroll_spk2utt) if enroll_spk2utt else None
    audio = audio_trials(trial_list, spk2utt, enroll_spk2utt)
    if calibrate_on:
        threshold = threshold_from_scores(calibrate_on, operating_point)
    if onnx_path:
        embedder, fbank, cmn = load_embedder(exp_dir, checkpoint, device, onnx_path, fbank_config,
                                             require_features=True, num_threads=max(1, num_threads))
    else:
        try:
            import torch
        except ImportError:
            raise BccmtError("--exp needs torch; without torch, verify with an exported model: --onnx FILE") from None
        torch.set_num_threads(max(1, num_threads))
        embedder, fbank, cmn = load_embedder(exp_dir, checkpoint, resolve_device(device),
                                             fbank_config_path=fbank_config)
    if fbank_frontend == "auto":
        fbank_frontend = "numpy" if onnx_path else "torchaudio"
    options = ExtractionOptions(batch_size=batch_size, cmn=cmn)
    durations = {} if calibration is not None else None
    table = embed_audio(needed_audio(audio, wav_scp), embedder, fbank, options, wav_scp, fbank_frontend,
                        durations=durations, on_error=skip_audio if skip_bad else None, min_speech=min_speech,
                        vad_trim=vad_trim, resample=resample, channel=channel)
    scored = score_trials(trial_list, table, table, method, trials_where=trials,
                          mean_vector=read_vector(mean_vector, table.dim) if mean_vector else None,
                          cohort=load_embeddings(cohort_rspec) if cohort_rspec else None, top_n=top_n,
                          plda=Plda.load(plda_path) if plda_path else None, enroll_spk2utt=spk2utt,
                          skip_missing=bool(skipped_audio))
    llrs = None if calibration is None else calibrated_llrs(calibration, scored, table, durations, spk2utt, trials)
    text = decision_lines(scored, threshold, llrs)
    if threshold is not None:
        accepted = int(accepts(scored.scores if llrs is None else llrs, threshold).sum())
        kind = "threshold" if llrs is None else "LLR threshold"
        click.echo(f"verify: {kind} {threshold:.6g}"
                   + (f" (Bayes, P_target {p_target:g})" if p_target is not None else "")
                   + f": {accepted} accepted, {len(scored.scores) - accepted} rejected", err=True)
    if out:
        with atomic_write(out) as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":
    cli()
