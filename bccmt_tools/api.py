"""Speaker verification from Python: ``SpeakerVerifier`` embeds, enrols, scores and decides.

It runs the code of the command-line tools (``bccmt verify``, ``extract-embeddings``): the same
audio reading, fbank, batching, cosine scoring and calibration, so it gives the numbers the tools
give. ``from_onnx`` needs no torch (numpy fbank + onnxruntime).

>>> verifier = SpeakerVerifier.from_exp("exp/student_tiny_kd_mini")               # doctest: +SKIP
>>> verifier = SpeakerVerifier.from_onnx("exp/student_tiny_kd_mini/model.onnx",   # doctest: +SKIP
...                                      calibration="exp/student_tiny_kd_mini/calibration/cosine.json")
>>> verifier.enroll("alice", ["alice_1.wav", "alice_2.wav"])                      # doctest: +SKIP
>>> verifier.verify("alice", "unknown.wav", p_target=0.01)                       # doctest: +SKIP
Verification(score=0.6215..., llr=5.103..., accept=True, threshold=4.595...)

Any embedding model fits; here a toy one (the mean log-Mel spectrum, centred) on synthetic tones:

>>> import numpy as np
>>> def toy_model(feats, lengths):
...     spectrum = feats.sum(axis=1) / lengths[:, None]
...     return spectrum - spectrum.mean(axis=1, keepdims=True)
>>> rng = np.random.default_rng(0)
>>> def tone(hz):  # 1 s at 16 kHz, a little noise
...     return 0.3 * np.sin(2 * np.pi * hz * np.arange(16000) / 16000) + 0.01 * rng.standard_normal(16000)
>>> verifier = SpeakerVerifier(toy_model, cmn=False)
>>> verifier.enroll("low", [tone(200), tone(210)])
>>> round(verifier.score("low", tone(205)), 2), round(verifier.score("low", tone(3000)), 2)
(1.0, 0.54)
>>> result = verifier.verify("low", tone(3000), threshold=0.9)
>>> result.accept, result.llr
(False, None)
"""

from collections import namedtuple
from pathlib import Path

import numpy as np

from bccmt_tools.errors import BccmtError

Verification = namedtuple("Verification", "score llr accept threshold")
Verification.__doc__ = ("Result of :meth:`SpeakerVerifier.verify`: the cosine score, the calibrated LLR (None "
                        "without a calibration), the decision and the threshold it was taken at (on the LLR "
                        "when calibrated).")


class SpeakerVerifier:
    """Embed audio, enrol speakers, score and verify pairs with one embedding model.

    ``embedder(feats [B, T, F] float32, lengths [B] int64) -> [B, D]`` is what
    ``from_exp`` / ``from_onnx`` build (``embed.extract.TorchEmbedder`` / ``OnnxEmbedder``);
    ``fbank`` (a ``FbankConfig``, default the toolkit's) and ``cmn`` are the model's features.
    ``calibration`` (a path or ``backend.calibration.Calibration``) turns scores into LLRs;
    ``mean_vector`` (a path written by ``mean-embeddings --global-mean-out`` or an array) is
    subtracted before cosine scoring, as ``verify --mean-vector`` does. ``p_target`` (with
    ``c_miss``, ``c_fa``) is the default prior of :meth:`verify` when calibrated.
    Audio checks as in ``verify``: ``min_speech`` seconds of speech (energy VAD) are required
    (0 turns the check off), ``vad_trim`` embeds voiced frames only, ``resample`` converts files
    at other sample rates, ``channel`` picks one of a multi-channel file.
    """

    def __init__(self, embedder, fbank=None, cmn=True, *, frontend="numpy", calibration=None, mean_vector=None,
                 p_target=0.01, c_miss=1.0, c_fa=1.0, batch_size=16, min_speech=None, vad_trim=False,
                 resample=False, channel=None):
        from bccmt_tools.embed.extract import ExtractionOptions
        from bccmt_tools.features.vad import DEFAULT_MIN_SPEECH

        if fbank is None:
            from bccmt_tools.features.fbank import FbankConfig

            fbank = FbankConfig()
        self.embedder = embedder
        self.fbank = fbank
        self.frontend = frontend
        self.options = ExtractionOptions(batch_size=batch_size, cmn=cmn)
        self.calibration = self._load_calibration(calibration)
        self.mean_vector = self._load_mean_vector(mean_vector)
        self.p_target, self.c_miss, self.c_fa = p_target, c_miss, c_fa
        self.audio_options = {"min_speech": DEFAULT_MIN_SPEECH if min_speech is None else float(min_speech),
                              "vad_trim": bool(vad_trim)}
        self.read_options = {"resample": bool(resample), "channel": channel}
        self.speakers = {}     # name -> list of utterance embeddings (float32 [D])
        self._durations = {}   # name -> list of utterance durations (seconds)
        self._count = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_exp(cls, exp_dir, checkpoint=None, device="cpu", **options):
        """A verifier with the torch model of an experiment directory (``config.yaml`` + checkpoint,
        default ``avg_model.pt``), torchaudio fbank as ``verify --exp``. ``options`` go to the
        constructor (``calibration``, ``mean_vector``, ``p_target``, ...)."""
        try:
            import torch  # noqa: F401
        except ImportError:
            raise BccmtError("SpeakerVerifier.from_exp needs torch; without torch use from_onnx") from None
        from bccmt_tools.embed.extract_io import load_embedder, resolve_device

        embedder, fbank, cmn = load_embedder(str(exp_dir), checkpoint, resolve_device(device))
        options.setdefault("frontend", "torchaudio")
        return cls(embedder, fbank, cmn, **options)

    @classmethod
    def from_onnx(cls, path, fbank_config=None, num_threads=1, device="cpu", **options):
        """A verifier with a model exported by ``bccmt export`` (onnxruntime, numpy fbank: no torch),
        as ``verify --onnx``; features from the file's metadata or ``fbank_config`` (YAML)."""
        from bccmt_tools.embed.extract_io import load_embedder

        embedder, fbank, cmn = load_embedder(onnx_path=str(path), fbank_config_path=fbank_config, device=device,
                                             require_features=True, num_threads=num_threads)
        options.setdefault("frontend", "numpy")
        return cls(embedder, fbank, cmn, **options)

    @staticmethod
    def _load_calibration(calibration):
        if calibration is None:
            return None
        from bccmt_tools.backend.calibration import Calibration

        return calibration if isinstance(calibration, Calibration) else Calibration.load(calibration)

    @staticmethod
    def _load_mean_vector(mean_vector):
        if mean_vector is None:
            return None
        if isinstance(mean_vector, (str, Path)):
            from bccmt_tools.backend.embeddings import read_vector

            return read_vector(str(mean_vector))
        return np.asarray(mean_vector, dtype=np.float64).ravel()

    # ------------------------------------------------------------------ embeddings
    def _embed_many(self, items):
        """``([embedding float32 [D]], [seconds])`` of audio items (paths, wav.scp entries or sample
        arrays), through the tools' extraction code."""
        from bccmt_tools.embed.trial_audio import embed_audio

        keys = [f"input{i}" for i in range(len(items))]
        entries, arrays = [], []
        for key, item in zip(keys, items):
            if isinstance(item, (str, Path)):
                entries.append((key, str(item)))
            else:
                arrays.append((key, item))
        durations, vectors = {}, {}
        if entries:
            table = embed_audio(entries, self.embedder, self.fbank, self.options, "SpeakerVerifier", self.frontend,
                                durations=durations, **self.audio_options, **self.read_options)
            vectors.update(zip(table.keys, table.matrix))
        if arrays:
            vectors.update(self._embed_arrays(arrays, durations))
        return [vectors[key].astype(np.float32) for key in keys], [durations[key] for key in keys]

    def _embed_arrays(self, arrays, durations):
        """``key -> embedding`` of ``[(key, samples)]``: the speech check, fbank and extraction of
        ``embed_audio`` (embed.speech / embed.extract), on samples instead of files."""
        from bccmt_tools.embed.extract import extract_embeddings
        from bccmt_tools.embed.speech import speech_features

        for key, samples in arrays:
            durations[key] = len(samples) / self.fbank.sample_rate
        features = speech_features(arrays, self.fbank, "SpeakerVerifier", frontend=self.frontend,
                                   **self.audio_options)
        return dict(extract_embeddings(features, self.embedder, self.options, self.fbank.feature_dim,
                                       "SpeakerVerifier"))

    def _check_array(self, samples, sample_rate):
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise BccmtError(f"SpeakerVerifier: audio arrays must be 1-D (mono samples), got shape {samples.shape}")
        rate = self.fbank.sample_rate if sample_rate is None else int(sample_rate)
        if rate != self.fbank.sample_rate:
            from bccmt_tools.io.audio import resample_audio

            samples = resample_audio(samples, rate, self.fbank.sample_rate).astype(np.float32)
        return samples

    def embed(self, audio, sample_rate=None):
        """Embedding (float32 [D]) of one utterance: a path (or any wav.scp entry) or an array of
        float samples in [-1, 1] at ``sample_rate`` (default the model's; others are resampled)."""
        item = audio if isinstance(audio, (str, Path)) else self._check_array(audio, sample_rate)
        vectors, _ = self._embed_many([item])
        return vectors[0]

    def enroll(self, name, audios, sample_rate=None):
        """Enrol speaker ``name`` from a list of utterances (paths or arrays); their embeddings are
        averaged in scoring as ``verify --enroll-spk2utt`` does. Enrolling a name again adds to it."""
        if isinstance(audios, (str, Path)) or (isinstance(audios, np.ndarray) and audios.ndim == 1):
            raise BccmtError(f"SpeakerVerifier.enroll({name!r}, ...): give a list of utterances")
        items = [a if isinstance(a, (str, Path)) else self._check_array(a, sample_rate) for a in audios]
        if not items:
            raise BccmtError(f"SpeakerVerifier.enroll({name!r}, ...): no utterances")
        vectors, durations = self._embed_many(items)
        self.speakers.setdefault(name, []).extend(vectors)
        self._durations.setdefault(name, []).extend(durations)

    # ------------------------------------------------------------------ scoring
    def _side(self, value, sample_rate, rows, durations):
        """Register one side of a trial; returns ``(key, utterance keys or None)``."""
        if isinstance(value, str) and value in self.speakers:
            keys = []
            for vector, seconds in zip(self.speakers[value], self._durations[value]):
                keys.append(self._add(vector, seconds, rows, durations))
            return keys
        if isinstance(value, (str, Path)):
            vectors, seconds = self._embed_many([value])
        else:
            vectors, seconds = self._embed_many([self._check_array(value, sample_rate)])
        return [self._add(vectors[0], seconds[0], rows, durations)]

    def _add(self, vector, seconds, rows, durations):
        key = f"u{len(rows)}"
        rows.append((key, vector))
        durations[key] = seconds
        return key

    def _scored(self, a, b, sample_rate):
        from bccmt_tools.backend.embeddings import EmbeddingTable
        from bccmt_tools.backend.scoring import score_trials

        rows, durations = [], {}
        enroll_utts = self._side(a, sample_rate, rows, durations)
        test_keys = self._side(b, sample_rate, rows, durations)
        if len(test_keys) != 1:
            raise BccmtError(f"SpeakerVerifier: the test side {b!r} is an enrolled speaker; test one utterance")
        table = EmbeddingTable([k for k, _ in rows], np.stack([v for _, v in rows]), where="SpeakerVerifier")
        spk2utt = {"enroll": enroll_utts}
        scored = score_trials([("enroll", test_keys[0], None)], table, table, "cosine",
                              trials_where="SpeakerVerifier", mean_vector=self.mean_vector, enroll_spk2utt=spk2utt)
        return scored, table, durations, spk2utt

    def score(self, a, b, sample_rate=None):
        """Cosine score of ``a`` (an enrolled name, a path or samples) against ``b`` (a path or samples)."""
        scored, _, _, _ = self._scored(a, b, sample_rate)
        return float(scored.scores[0])

    def verify(self, a, b, p_target=None, threshold=None, sample_rate=None):
        """:class:`Verification` of ``a`` (enrolled name, path or samples) against ``b``.

        Calibrated: the LLR is compared with the Bayes threshold of ``p_target`` (default the
        verifier's), or with ``threshold`` when given. Without calibration ``threshold`` (on the
        score) is required.
        """
        from bccmt_tools.backend.decisions import accepts, calibrated_llrs, llr_threshold

        scored, table, durations, spk2utt = self._scored(a, b, sample_rate)
        score = float(scored.scores[0])
        if self.calibration is None:
            if threshold is None:
                raise BccmtError("SpeakerVerifier.verify: no calibration loaded; give threshold=... (on the score) "
                                 "or build the verifier with calibration=FILE (bccmt train-calibration)")
            return Verification(score, None, bool(accepts(score, threshold)), float(threshold))
        threshold = llr_threshold(threshold, p_target, self.c_miss, self.c_fa, default_p_target=self.p_target,
                                  where="SpeakerVerifier.verify: ", names=("threshold", "p_target"))
        llr = float(calibrated_llrs(self.calibration, scored, table, durations, spk2utt, "SpeakerVerifier")[0])
        return Verification(score, llr, bool(accepts(llr, threshold)), float(threshold))
