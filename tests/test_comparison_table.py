"""The comparison study's table maker (egs/voxceleb/compare/comparison_table.py) on synthetic results."""

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "egs" / "voxceleb" / "compare" / "comparison_table.py"


@pytest.fixture(scope="module")
def table_module():
    return load_script(SCRIPT, "comparison_table")


def make_exp(root, name, eer_o, eer_e, epochs=2, wall=120.0, kd_weight=None, model_conf=None):
    """An exp dir with metrics JSONs, train.log, wall_seconds, run.log and config.yaml."""
    exp = root / name
    (exp / "scores").mkdir(parents=True)
    (exp / "log").mkdir()
    for trials, eer in (("vox1_O", eer_o), ("vox1_E", eer_e)):
        metrics = {"eer_percent": eer, "eer": eer / 100,
                   "min_dcf": {"0.01": {"min_dcf": eer / 40}, "0.05": {"min_dcf": eer / 50}}}
        (exp / "scores" / f"{trials}.cosine.json").write_text(json.dumps(metrics))
    lines = ["2026-01-01 00:00:00 model bccmt: 1 parameters"]
    for epoch in range(1, epochs + 1):
        lines.append(f"2026-01-01 00:00:0{epoch} epoch {epoch}/{epochs} loss {10 - epoch:.4f} aam 9.0 "
                     f"acc 0.{epoch}000 lr 1.0e-03 margin 0.200 samples/s 50.0 time 30.0s checkpoint x")
    (exp / "log" / "train.log").write_text("\n".join(lines) + "\n")
    (exp / "log" / "wall_seconds").write_text(f"{wall}\n")
    (exp / "log" / "run.log").write_text("averaged epoch_0001.pt, epoch_0002.pt -> avg_model.pt\n")
    config = {"model": "bccmt", "data": {"crop_frames": 100, "batch_size": 64},
              "trainer": {"epochs": epochs, "max_steps_per_epoch": 30}, "optim": {"name": "adam", "lr": 0.002}}
    if model_conf is not None:
        config["model_conf"] = model_conf
    if kd_weight is not None:
        config["kd"] = {"attention": {"weight": kd_weight, "kind": "mse", "last_only": True}}
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    return exp


def scored_trials(tmp_path, num_speakers):
    """A vox1_O trial list of ``num_speakers`` enrolment speakers x 10 trials (every other one a
    target) with its utt2spk: ``(trials_dir, utt2spk, lines, labels)``."""
    import numpy as np

    trials_dir = tmp_path / "trials"
    trials_dir.mkdir()
    lines = [f"s{spk}-e{k} t{spk}-{k} {'target' if k % 2 == 0 else 'nontarget'}"
             for spk in range(num_speakers) for k in range(10)]
    (trials_dir / "vox1_O").write_text("\n".join(lines) + "\n")
    utt2spk = tmp_path / "utt2spk"
    utt2spk.write_text("".join(f"s{spk}-e{k} s{spk}\n" for spk in range(num_speakers) for k in range(10)))
    return trials_dir, utt2spk, lines, np.array([1 if line.endswith(" target") else 0 for line in lines])


def exp_with_scores(tmp_path, name, lines, labels, noise, rng, model_conf=None):
    """make_exp plus a vox1_O cosine score file: the label plus Gaussian noise of std ``noise``."""
    exp = make_exp(tmp_path, name, 10.0, 12.0, model_conf=model_conf)
    scores = labels + rng.normal(0, noise, labels.size)
    (exp / "scores" / "vox1_O.cosine").write_text(
        "".join(f"{line.rsplit(' ', 1)[0]} {score:.6f}\n" for line, score in zip(lines, scores)))
    return exp


def test_reproduced_direction_and_relative_changes(tmp_path, table_module):
    exps = [make_exp(tmp_path, "tiny_conventional_s1", 10.0, 12.0), make_exp(tmp_path, "tiny_conventional_s2", 12.0, 14.0),
            make_exp(tmp_path, "tiny_s1", 9.0, 11.0), make_exp(tmp_path, "tiny_s2", 9.0, 11.0),
            make_exp(tmp_path, "tiny_kd_s1", 7.0, 8.0), make_exp(tmp_path, "tiny_kd_s2", 8.0, 9.0),
            make_exp(tmp_path, "base_s1", 5.0, 6.0)]
    cost = {"models": {"tiny": {"parameters": 271982, "macs": {"1": 24_300_000, "10": 284_100_000},
                                "latency_ms": {"1": {"median": 5.0, "p10": 4.5, "p90": 6.0},
                                               "10": {"median": 40.0, "p10": 38.0, "p90": 45.0}}}},
            "meta": {"threads": 1, "runs": 30, "warmup": 3, "torch": "2.x", "seconds_taken": 12.0}}
    text = table_module.make_table(table_module.collect(exps), cost, machine="2 CPU cores")
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| (")}
    # mean (min-max) over seeds; one seed alone prints just the value
    assert "| 11.00 (10.00-12.00) |" in rows["| (a) conventional BC-CMT-Tiny (2D SA)"]
    assert "| 5.00 | " in rows["| (d) proposed BC-CMT-Base (teacher)"]
    assert "0.272 M | 24.3 | 5.0 (4.5-6.0) | 40.0 (38.0-45.0)" in rows["| (b) proposed BC-CMT-Tiny (1D SA)"]
    assert "| 1.0 / 1.0 |" in rows["| (b) proposed BC-CMT-Tiny (1D SA)"]  # train minutes per seed (epoch times)
    # 9 vs 11 on O: -18.2%; 11 vs 13 on E: -15.4%; KD: 7.5 vs 9 = -16.7%, 8.5 vs 11 = -22.7%
    assert "| proposed Tiny vs conventional Tiny | -9.3% | -18.2% | -15.4% |" in text
    assert "| KD Tiny vs proposed Tiny (no KD) | -15.5% | -16.7% | -22.7% |" in text
    assert "proposed Tiny vs conventional Tiny: our measurement reproduces the paper's direction" in text
    # conventional 10-12 overlaps proposed 9-9? no: ranges [9,9] and [10,12] do not overlap
    assert "within seed-to-seed variation" not in text.split("KD Tiny vs")[0].split("## The paper's claims")[1]


def test_not_reproduced_and_overlapping_seeds_are_said_plainly(tmp_path, table_module):
    exps = [make_exp(tmp_path, "tiny_s1", 9.0, 11.0), make_exp(tmp_path, "tiny_s2", 11.0, 12.0),
            make_exp(tmp_path, "tiny_kd_s1", 10.5, 13.0), make_exp(tmp_path, "tiny_kd_s2", 10.0, 12.5)]
    text = table_module.make_table(table_module.collect(exps), {})
    assert "KD Tiny vs proposed Tiny (no KD): our measurement does not reproduce the paper's direction" in text
    assert "within seed-to-seed variation" in text
    assert "proposed Tiny vs conventional Tiny: not measured (missing tiny_conventional)" in text


def test_ablation_label_and_recipe_disagreement(tmp_path, table_module):
    exps = [make_exp(tmp_path, "tiny_s1", 9.0, 11.0, epochs=2),
            make_exp(tmp_path, "tiny_kd_lambda10_s1", 8.0, 10.0, epochs=3, kd_weight=10)]
    text = table_module.make_table(table_module.collect(exps), {})
    assert "(c') KD ablation 'lambda10' (weight=10, kind=mse, last_only=True)" in text
    emb = make_exp(tmp_path, "tiny_kd_ecapa_emb_s1", 8.0, 10.0)
    config = yaml.safe_load((emb / "config.yaml").read_text())
    config["kd"] = {"teacher": "exp/compare/ecapa_c512_s1", "attention": {"weight": 0, "kind": "kl"},
                    "embedding": {"weight": 1.0}, "logit": {"weight": 0.0}}
    (emb / "config.yaml").write_text(yaml.safe_dump(config))
    assert ("(c') KD ablation 'ecapa_emb' (teacher=ecapa_c512_s1, no map KD, embedding KD weight=1.0)"
            in table_module.make_table(table_module.collect([emb]), {}))
    assert "`trainer.epochs`: 2 (NOT the same in every run!)" in text
    assert "averaged checkpoints: epoch_0001.pt, epoch_0002.pt" in text


def test_cli_writes_table_and_rejects_bad_names(tmp_path, table_module, capsys):
    exp = make_exp(tmp_path, "tiny_s1", 9.0, 11.0)
    out = tmp_path / "table.md"
    assert table_module.main(["table", "--out", str(out), str(exp)]) == 0
    assert out.read_text().startswith("# Comparison study")
    bad = make_exp(tmp_path, "tiny_seed1", 9.0, 11.0)
    assert table_module.main(["table", "--out", str(tmp_path / "x.md"), str(bad)]) == 1
    assert "must end in _s<seed>" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_broken_metrics_json_names_the_file(tmp_path, table_module):
    exp = make_exp(tmp_path, "tiny_s1", 9.0, 11.0)
    (exp / "scores" / "vox1_E.cosine.json").write_text("{\"eer\": 1}")
    with pytest.raises(table_module.TableError, match="vox1_E.cosine.json"):
        table_module.read_metrics(exp)


def test_profile_interleaves_and_counts(tmp_path, table_module):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from bccmt_tools.models import build_model

    config = {"model": "bccmt", "model_conf": {"size": "tiny"}, "features": {"num_mel_bins": 80}}
    exp = tmp_path / "tiny_s1"
    (exp / "checkpoints").mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"model": build_model(config).state_dict()}, exp / "checkpoints" / "epoch_0001.pt")
    cost = table_module.profile_variants([exp], seconds=(0.5,), runs=3, warmup=1)
    entry = cost["models"]["tiny"]
    assert entry["parameters"] > 200_000
    assert entry["macs"]["0.5"] > 0
    latency = entry["latency_ms"]["0.5"]
    assert 0 < latency["p10"] <= latency["median"] <= latency["p90"]


def test_map_distance_is_zero_for_the_teacher_itself(tmp_path, table_module):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    import numpy as np

    from bccmt_tools.io.kaldi_table import TableWriter
    from bccmt_tools.models import build_model

    def exp_with_random_model(name, size, seed):
        torch.manual_seed(seed)
        config = {"model": "bccmt", "model_conf": {"size": size}, "features": {"num_mel_bins": 80}}
        exp = tmp_path / name
        (exp / "checkpoints").mkdir(parents=True)
        (exp / "config.yaml").write_text(yaml.safe_dump(config))
        torch.save({"model": build_model(config).state_dict()}, exp / "checkpoints" / "epoch_0001.pt")
        return exp

    teacher = exp_with_random_model("base_s1", "tiny", 0)   # a Tiny "teacher" keeps the test fast
    other = exp_with_random_model("tiny_s1", "tiny", 1)
    rng = np.random.default_rng(0)
    with TableWriter(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as writer:
        for i in range(3):
            writer[f"utt{i}"] = rng.standard_normal((60 + i, 80)).astype(np.float32)
    result = table_module.map_distance(teacher, [teacher, other], f"scp:{tmp_path}/f.scp", num_utts=3, batch_size=2)
    assert result["utterances"] == 3 and result["frames"] == 60
    assert result["students"][str(teacher)]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert result["students"][str(other)]["kl"] > 1e-6
    text = table_module.format_map_distance(result)
    assert "| " + str(other) + " |" in text
    assert f"the first 3 utterances of `scp:{tmp_path}/f.scp`, cut to the shortest (60 frames)" in text


def test_profile_and_map_distance_are_reused_only_when_made_from_the_same_inputs(tmp_path, table_module,
                                                                                  monkeypatch):
    """Stage 4 calls both with --reuse: a result made from these models and settings is kept; one
    made before another run finished, or with other settings, is made again (inputs recorded)."""
    made = []
    monkeypatch.setattr(table_module, "profile_variants",
                        lambda exps, *rest: made.append(("profile", list(exps))) or {"models": {}})
    monkeypatch.setattr(table_module, "map_distance",
                        lambda teacher, exps, *rest: made.append(("map", list(exps))) or {"students": {}})
    cost, distance = tmp_path / "cost.json", tmp_path / "map_distance.json"

    def profile(runs, *exps):
        return table_module.main(["profile", "--reuse", "--runs", str(runs), "--out", str(cost), *exps])

    def mapping(*exps):
        return table_module.main(["map-distance", "--reuse", "--teacher", "base_s1", "--feats", "scp:f.scp",
                                  "--out", str(distance), *exps])

    assert profile(5, "tiny_s3", "base_s1") == mapping("tiny_s3") == 0
    assert profile(5, "tiny_s3", "base_s1") == mapping("tiny_s3") == 0          # the same: kept
    assert made == [("profile", ["tiny_s3", "base_s1"]), ("map", ["tiny_s3"])]
    assert profile(5, "tiny_s3", "base_s1", "tiny_kd_s1") == mapping("tiny_s3", "tiny_kd_s1") == 0  # a run finished
    assert profile(30, "tiny_s3", "base_s1", "tiny_kd_s1") == 0                   # other settings
    assert [what for what, _ in made[2:]] == ["profile", "map", "profile"]
    assert json.loads(cost.read_text())["inputs"] == {
        "exp_dirs": ["tiny_s3", "base_s1", "tiny_kd_s1"], "seconds": [1.0, 10.0], "runs": 30, "warmup": 3, "threads": 1}
    assert json.loads(distance.read_text())["inputs"] == {
        "teacher": "base_s1", "exp_dirs": ["tiny_s3", "tiny_kd_s1"], "feats": "scp:f.scp", "num_utts": 128}


def test_intervals_from_score_files(tmp_path, table_module):
    """EER per variant and the claims with bootstrap intervals, from per-seed score files."""
    import numpy as np

    rng = np.random.default_rng(0)
    trials_dir, utt2spk, lines, labels = scored_trials(tmp_path, 20)
    exps = [exp_with_scores(tmp_path, name, lines, labels, noise, rng)
            for name, noise in (("tiny_conventional_s1", 0.9), ("tiny_conventional_s2", 0.9), ("tiny_s1", 0.35),
                                ("tiny_s2", 0.35))]
    groups = table_module.collect(exps)
    changes, intervals = table_module.bootstrap_claims(groups, trials_dir, [str(utt2spk)],
                                                       num_bootstrap=200)
    change = changes[("tiny", "tiny_conventional")]["vox1_O"]
    assert change.high < 0 and "vox1_E" not in changes[("tiny", "tiny_conventional")]
    ci = intervals["tiny"]["vox1_O"]
    assert ci.low <= ci.value <= ci.high
    text = "\n".join(table_module.interval_section(groups, changes, intervals, 200))
    assert "| proposed Tiny vs conventional Tiny | -9.3% | " in text and "reproduced: lower EER" in text
    assert "| KD Tiny vs proposed Tiny (no KD) | -15.5% | - | - | not measured | not measured |" in text
    # one verdict word per trial list in the table, the full sentence below it
    assert "| reproduced | - |" in text
    assert "- proposed Tiny vs conventional Tiny: vox1_O reproduced: lower EER, the whole 95% interval" in text
    change = changes[("tiny", "tiny_conventional")]["vox1_O"]
    inside = "inside" if change.low <= -0.093 <= change.high else "outside"
    assert f"(the paper's -9.3% is {inside} it)" in text


def test_model_ablation_is_labelled_and_compared_with_both_tinies(tmp_path, table_module):
    """tiny_<name>: the label lists the model_conf keys that differ from the proposed Tiny; the
    ablation section compares it with (b) and (a), with intervals from the score files."""
    import numpy as np

    rng = np.random.default_rng(1)
    trials_dir, utt2spk, lines, labels = scored_trials(tmp_path, 20)
    proposed = {"attention": "temporal", "ffn": "broadcast", "kv_group_size": 4}
    runs = [("tiny_conventional", 0.3, dict(proposed, attention="spectro_temporal", ffn="depthwise")),
            ("tiny", 0.9, proposed), ("tiny_ffn_depthwise", 0.3, dict(proposed, ffn="depthwise"))]
    exps = [exp_with_scores(tmp_path, f"{variant}_s{seed}", lines, labels, noise, rng, model_conf)
            for variant, noise, model_conf in runs for seed in (1, 2)]
    groups = table_module.collect(exps)
    label = "(b') proposed Tiny ablation 'ffn_depthwise' (ffn=depthwise)"
    assert label in table_module.make_table(groups, {})
    changes, intervals = table_module.bootstrap_claims(groups, trials_dir, [str(utt2spk)],
                                                       num_bootstrap=200)
    text = "\n".join(table_module.interval_section(groups, changes, intervals, 200))
    assert f"| {label} | 2 | " in text
    ablations = text.split("## Ablations with 95% confidence intervals")[1]
    rows = {line.split(" | ")[0]: line for line in ablations.splitlines() if line.startswith("| ablation")}
    # far less noise than (b), as little as (a): lower EER than (b), unresolved against (a)
    assert "| lower EER | - |" in rows["| ablation 'ffn_depthwise' vs (b) proposed Tiny"]
    assert changes[("tiny_ffn_depthwise", "tiny")]["vox1_O"].high < 0
    assert "| ablation 'ffn_depthwise' vs (a) conventional Tiny" in rows
    pytest.importorskip("matplotlib")
    figure = tmp_path / "intervals.png"
    table_module.plot_intervals(groups, changes, intervals, figure)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob("*.tmp"))


def test_ecapa_target_meets_misses_and_draws(tmp_path, table_module):
    """(c) against (e): the relative EER change with its interval judged against +20%, and the MACs
    ratio from the cost JSON judged against 1/20."""
    import numpy as np

    rng = np.random.default_rng(2)
    trials_dir, utt2spk, lines, labels = scored_trials(tmp_path, 30)
    exps = [exp_with_scores(tmp_path, name, lines, labels, noise, rng)
            for name, noise in (("tiny_kd_s1", 0.3), ("tiny_kd_s2", 0.3), ("ecapa_c512_s1", 1.2))]
    groups = table_module.collect(exps)
    changes, intervals = table_module.bootstrap_claims(groups, trials_dir, [str(utt2spk)],
                                                       num_bootstrap=200)
    change = changes[("tiny_kd", "ecapa_c512")]["vox1_O"]
    assert change.high < 0  # far less noise than ECAPA: well within 1.2x
    cost = {"models": {"tiny_kd": {"macs": {"1": 24_300_000}}, "ecapa_c512": {"macs": {"1": 508_800_000}}}}
    text = "\n".join(table_module.interval_section(groups, changes, intervals, 200, cost))
    row = next(line for line in text.splitlines() if line.startswith("| (c) KD Tiny within 1.2x"))
    assert row.endswith("| 1/20.9 | met | - |")
    assert "cost: 1/20.9 of the MACs, under 1/20." in text
    # the other way round the same interval misses the target; a model without a cost entry is "not profiled"
    missed = table_module.target_verdict(change._replace(change=0.5, low=0.3, high=0.7), 0.2)
    assert missed.startswith("missed: the whole 95% interval [+30.0%, +70.0%] is above +20%")
    assert "cost: not profiled." in "\n".join(table_module.interval_section(groups, changes, intervals, 200, {}))
    pytest.importorskip("matplotlib")
    figure = tmp_path / "intervals.png"
    table_module.plot_intervals(groups, changes, intervals, figure)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_docstring_examples(table_module):
    """The script lives outside the package, so `--doctest-modules` does not reach it."""
    import doctest

    result = doctest.testmod(table_module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


SO762_LISTS = ("so762_test", "so762_test.short", "so762_test.long", "vox1_O")
SO762_LABELS = ["so762_test.short=so762_test (short, <= 3.10 s)", "so762_test.long=so762_test (long, > 3.10 s)"]


def so762_study(tmp_path, variants, rng):
    """The sentence-level study in small: so762_test (with its halves, each speaker's first and last
    5 trials) and vox1_O, 20 speakers x 10 trials each; every variant of ``{variant: noise}`` with 2
    seeds, score files and metrics JSONs on every list: ``(trials_dir, utt2spk paths, exps)``."""
    import numpy as np

    trials_dir = tmp_path / "trials"
    trials_dir.mkdir()
    lists, utt2spk = {}, []
    for corpus, name in (("so", "so762_test"), ("vx", "vox1_O")):
        lists[name] = [f"{corpus}{spk}-e{k} {corpus}{spk}-t{k} {'target' if k % 2 == 0 else 'nontarget'}"
                       for spk in range(20) for k in range(10)]
        path = tmp_path / f"{corpus}_utt2spk"
        path.write_text("".join(f"{corpus}{spk}-e{k} {corpus}{spk}\n" for spk in range(20) for k in range(10)))
        utt2spk.append(str(path))
    lists["so762_test.short"] = [line for i, line in enumerate(lists["so762_test"]) if i % 10 < 5]
    lists["so762_test.long"] = [line for i, line in enumerate(lists["so762_test"]) if i % 10 >= 5]
    for name, lines in lists.items():
        (trials_dir / name).write_text("\n".join(lines) + "\n")
    exps = []
    for variant, noise in variants.items():
        for seed in (1, 2):
            exp = make_exp(tmp_path, f"{variant}_s{seed}", 10.0, 12.0)
            scored = {}
            for name in ("so762_test", "vox1_O"):
                labels = np.array([1 if line.endswith(" target") else 0 for line in lists[name]])
                scored.update(zip(lists[name], labels + rng.normal(0, noise, labels.size)))
            for number, name in enumerate(SO762_LISTS):
                (exp / "scores" / f"{name}.cosine").write_text(
                    "".join(f"{line.rsplit(' ', 1)[0]} {scored[line]:.6f}\n" for line in lists[name]))
                eer = 20 * noise + number
                (exp / "scores" / f"{name}.cosine.json").write_text(json.dumps(
                    {"eer_percent": eer, "min_dcf": {"0.01": {"min_dcf": eer / 40}, "0.05": {"min_dcf": eer / 50}}}))
            exps.append(exp)
    return trials_dir, utt2spk, exps


def test_custom_trial_lists_halves_b2_and_seed_rule(tmp_path, table_module):
    """`table --trial-lists` with a so762_test-like list, its .short/.long halves (labelled) and
    vox1_O: a column group, claim verdicts and interval per list; (b2) between (b) and (c), compared
    with (b) and (a); the seed rule under the title; vox1_E nowhere."""
    import numpy as np

    rng = np.random.default_rng(3)
    variants = {"tiny_conventional": 0.3, "tiny": 0.9, "tiny_freq_resolved": 0.3, "tiny_kd": 0.6}
    trials_dir, utt2spk, exps = so762_study(tmp_path, variants, rng)
    out = tmp_path / "table.md"
    rule = "5 seeds per Tiny variant, 1 for (d) and (e), fixed on 2027-01-01."
    argv = ["table", "--out", str(out), "--trials-dir", str(trials_dir), "--utt2spk", ",".join(utt2spk),
            "--num-bootstrap", "200", "--trial-lists", " ".join(SO762_LISTS), "--seed-rule", rule]
    for spec in SO762_LABELS:
        argv += ["--list-label", spec]
    assert table_module.main(argv + [str(exp) for exp in exps]) == 0
    text = out.read_text()
    assert text.startswith("# Comparison study on the mini corpus (cosine scoring)\n\n"
                           f"**Seed rule (fixed before any result was seen).** {rule}\n\n| Model |")
    assert "vox1_E" not in text
    header = text.splitlines()[4]
    assert ("| so762_test EER % | so762_test minDCF 0.01 | so762_test minDCF 0.05 | so762_test (short, <= 3.10 s) EER % |"
            in header and "| so762_test (long, > 3.10 s) EER % |" in header and "| vox1_O EER % |" in header)
    rows = [line.split(" | ")[0] for line in text.split("## EER and")[0].splitlines() if line.startswith("| (")]
    assert rows == ["| (a) conventional BC-CMT-Tiny (2D SA)", "| (b) proposed BC-CMT-Tiny (1D SA)",
                    "| (b2) proposed Tiny, frequency-resolved 1D attention (values per frequency bin)",
                    "| (c) proposed Tiny + SA-map KD from (d)"]
    # metrics per list from its own JSON: (b2) noise 0.3 -> 6.00, 7.00, 8.00, 9.00
    b2 = next(line for line in text.splitlines() if line.startswith("| (b2)"))
    cells = b2.split(" | ")
    assert [cells[i].split()[0] for i in (1, 2, 5, 8, 11)] == ["1,2", "6.00", "7.00", "8.00", "9.00"]
    # the paper's claims: a change and a verdict for every list
    claim = next(line for line in text.splitlines() if line.startswith("| proposed Tiny vs conventional Tiny |"))
    assert claim.count("[") == 4 and claim.endswith("| contradicted | contradicted | contradicted | contradicted |")
    assert "- proposed Tiny vs conventional Tiny: so762_test contradicted" in text
    assert "; so762_test (short, <= 3.10 s) contradicted" in text and "; vox1_O contradicted" in text
    # (b2) against (b) and (a) in the comparison section, with intervals and verdicts per list
    ablations = text.split("## Ablations with 95% confidence intervals")[1].split("## Recipe")[0]
    assert "| Comparison (relative EER change) | so762_test [95% CI] | so762_test (short, <= 3.10 s) [95% CI] |" in ablations
    versus_b = next(line for line in ablations.splitlines() if line.startswith("| (b2) frequency-resolved Tiny vs (b) proposed Tiny |"))
    assert versus_b.endswith("| lower EER | lower EER | lower EER | lower EER |")
    assert "| (b2) frequency-resolved Tiny vs (a) conventional Tiny |" in ablations


def test_seed_rule_absent_and_claims_without_intervals_per_list(tmp_path, table_module):
    """No --seed-rule: nothing under the title; without bootstrap the point-estimate claims have a
    column per given list."""
    import numpy as np

    _, _, exps = so762_study(tmp_path, {"tiny_conventional": 0.3, "tiny": 0.6}, np.random.default_rng(4))
    lists = table_module.parse_trial_lists(" ".join(SO762_LISTS), SO762_LABELS)
    text = table_module.make_table(table_module.collect(exps, lists), {}, trial_lists=lists)
    assert text.startswith("# Comparison study on the mini corpus (cosine scoring)\n\n| Model |")
    assert ("| Claim (relative EER change) | Paper | ours so762_test | ours so762_test (short, <= 3.10 s) | "
            "ours so762_test (long, > 3.10 s) | ours vox1_O |\n|---|---|---|---|---|---|") in text
    # EERs 20 x noise + the list's position: 12-15 against 6-9
    assert "| proposed Tiny vs conventional Tiny | -9.3% | +100.0% | +85.7% | +75.0% | +66.7% |" in text


def test_trial_list_options_are_checked(tmp_path, table_module, capsys):
    exp = make_exp(tmp_path, "tiny_s1", 9.0, 11.0)
    out = str(tmp_path / "t.md")
    assert table_module.main(["table", "--out", out, "--trial-lists", "vox1_O", "--list-label", "vox1_E=E", str(exp)]) == 1
    assert "--list-label: 'vox1_E' is not one of --trial-lists (vox1_O)" in capsys.readouterr().err
    assert table_module.main(["table", "--out", out, "--trial-lists", "vox1_O vox1_O", str(exp)]) == 1
    assert "named twice" in capsys.readouterr().err
    assert table_module.main(["table", "--out", out, "--trial-lists", " ", str(exp)]) == 1
    assert "--trial-lists is empty" in capsys.readouterr().err


def test_figure_styles_any_lists(tmp_path, table_module):
    """Markers and colours by position, any number of lists, spread within a row."""
    styles = table_module.list_styles(table_module.parse_trial_lists(" ".join(SO762_LISTS), SO762_LABELS))
    assert [style[:2] for style in styles.values()] == [("o", "C0"), ("s", "C1"), ("^", "C2"), ("D", "C3")]
    shifts = [style[2] for style in styles.values()]
    assert shifts == sorted(shifts) and -0.3 <= shifts[0] and shifts[-1] <= 0.3
    assert styles["so762_test.short"][3] == "so762_test (short, <= 3.10 s)"
    pytest.importorskip("matplotlib")
    import numpy as np

    trials_dir, utt2spk, exps = so762_study(tmp_path, {"tiny": 0.6, "tiny_freq_resolved": 0.3}, np.random.default_rng(5))
    lists = table_module.parse_trial_lists(" ".join(SO762_LISTS), SO762_LABELS)
    groups = table_module.collect(exps, lists)
    changes, intervals = table_module.bootstrap_claims(groups, trials_dir, utt2spk, num_bootstrap=50, trial_lists=lists)
    assert set(changes[("tiny_freq_resolved", "tiny")]) == set(SO762_LISTS)
    figure = tmp_path / "intervals.png"
    table_module.plot_intervals(groups, changes, intervals, figure, lists)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_title_names_the_study_corpus(tmp_path, table_module):
    exps = [make_exp(tmp_path, "tiny_s1", 9.0, 11.0)]
    groups = table_module.collect(exps)
    assert table_module.make_table(groups, {}).startswith("# Comparison study on the mini corpus (cosine scoring)")
    text = table_module.make_table(groups, {}, corpus="mini corpus + speechocean762")
    assert text.startswith("# Comparison study on the mini corpus + speechocean762 (cosine scoring)\n")
