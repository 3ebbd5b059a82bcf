#!/usr/bin/env python3
"""Cost profile and markdown table of the comparison study (./run_compare.sh).

Three commands:

  profile  parameters, MACs and batch-1 CPU latency of one trained model per variant, all in this
           one process; latency runs are interleaved round-robin over the models (BatchNorm folded,
           eager, --threads threads), so a load change on a shared machine hits every model alike.
  table    the markdown table: EER / minDCF(0.01) / minDCF(0.05) on each trial list of --trial-lists
           (default vox1_O and vox1_E; mean and min-max over seeds), cost, training time, the paper's
           two relative-EER claims, the comparisons of (b2) and of the ablations, and the study's
           cost-accuracy target, with bootstrap intervals.
  map-distance  how close each student's self-attention maps are to the teacher's (KL and MSE).

Experiment dirs are named <variant>_s<seed> (tiny_conventional_s1, tiny_kd_s2, ...); seeds of one
variant are grouped. Metrics come from <exp>/scores/<trials>.cosine.json (bccmt compute-metrics).

Example:
  python compare/comparison_table.py profile --out exp/compare/cost.json exp/compare/*_s1
  python compare/comparison_table.py table --cost exp/compare/cost.json --out RESULTS_comparison.md \\
      exp/compare/*_s[0-9]*
  python compare/comparison_table.py table --trial-lists "so762_test so762_test.short vox1_O" \\
      --list-label "so762_test.short=so762_test (short, <= 3.10 s)" \\
      --utt2spk data/so762_test/utt2spk,data/voxceleb1_test/utt2spk --out exp/compare_so762/RESULTS.md exp/compare_so762/*_s[0-9]*
"""

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import yaml

DEFAULT_TRIAL_LISTS = ("vox1_O", "vox1_E")  # table --trial-lists; every function takes its own lists
DEFAULT_CORPUS = "mini corpus"  # table --corpus: the study's data in the titles
VOX1_TEST_FEATS = "scp:data/voxceleb1_test/feats.scp"  # map-distance --feats (and what older JSONs used)
METRICS = (("eer", "EER %"), ("dcf01", "minDCF 0.01"), ("dcf05", "minDCF 0.05"))

# Known variants: label in the table and the paper's letter.
VARIANT_LABELS = {
    "tiny_conventional": "(a) conventional BC-CMT-Tiny (2D SA)",
    "tiny": "(b) proposed BC-CMT-Tiny (1D SA)",
    "tiny_freq_resolved": "(b2) proposed Tiny, frequency-resolved 1D attention (values per frequency bin)",
    "tiny_kd": "(c) proposed Tiny + SA-map KD from (d)",
    "base": "(d) proposed BC-CMT-Base (teacher)",
    "ecapa_c512": "(e) ECAPA-TDNN C=512",
}
VARIANT_ORDER = list(VARIANT_LABELS)

# The paper's claims (TASLP 2024): relative EER change of `new` against `old`.
PAPER_CLAIMS = (
    ("tiny", "tiny_conventional", -9.3, "proposed Tiny vs conventional Tiny"),
    ("tiny_kd", "tiny", -15.5, "KD Tiny vs proposed Tiny (no KD)"),
)

# Comparisons of a known variant with others (the ablation section): (new, old, what).
VARIANT_COMPARISONS = (
    ("tiny_freq_resolved", "tiny", "(b2) frequency-resolved Tiny vs (b) proposed Tiny"),
    ("tiny_freq_resolved", "tiny_conventional", "(b2) frequency-resolved Tiny vs (a) conventional Tiny"),
)

# The study's cost-accuracy target (issue 14): (new, reference, the largest relative EER change of
# new against reference that meets it, the largest ratio of new's MACs to reference's, what).
TARGETS = (
    ("tiny_kd", "ecapa_c512", 0.20, 1 / 20, "(c) KD Tiny within 1.2x of (e) ECAPA-TDNN's EER at < 1/20 of its MACs"),
)

EXP_NAME = re.compile(r"^(?P<variant>.+)_s(?P<seed>\d+)$")
EPOCH_LINE = re.compile(r"epoch (?P<epoch>\d+)/(?P<epochs>\d+) loss (?P<loss>[\d.]+).* acc (?P<acc>[\d.]+)"
                        r".* time (?P<time>[\d.]+)s")


class TableError(Exception):
    """A missing or malformed input, named by its file."""


def trial_list_labels(trial_lists=None):
    """``{name: label}`` of trial lists given as names (label = name) or as such a mapping already;
    None: DEFAULT_TRIAL_LISTS. The name picks the files, the label is what the table prints.

    >>> trial_list_labels(["so762_test", "vox1_O"])
    {'so762_test': 'so762_test', 'vox1_O': 'vox1_O'}
    """
    if trial_lists is None:
        trial_lists = DEFAULT_TRIAL_LISTS
    if isinstance(trial_lists, dict):
        return dict(trial_lists)
    return {name: name for name in trial_lists}


def parse_trial_lists(names, label_specs=()):
    """The table's ``--trial-lists "A B"`` and ``--list-label NAME=LABEL`` options as ``{name: label}``.

    >>> parse_trial_lists("so762_test so762_test.short", ["so762_test.short=so762_test (short, <= 3.10 s)"])
    {'so762_test': 'so762_test', 'so762_test.short': 'so762_test (short, <= 3.10 s)'}
    """
    lists = names.split()
    if not lists:
        raise TableError("--trial-lists is empty")
    if len(set(lists)) != len(lists):
        raise TableError(f"--trial-lists: a list is named twice in {names!r}")
    labels = trial_list_labels(lists)
    for spec in label_specs:
        name, sep, label = spec.partition("=")
        if not sep or not label.strip():
            raise TableError(f"--list-label: {spec!r} is not LIST=LABEL")
        if name not in labels:
            raise TableError(f"--list-label: {name!r} is not one of --trial-lists ({' '.join(lists)})")
        labels[name] = label.strip()
    return labels


def split_exp_name(exp_dir):
    """``exp/compare/tiny_kd_s2`` -> ``("tiny_kd", 2)``.

    >>> split_exp_name("exp/compare/tiny_conventional_s1")
    ('tiny_conventional', 1)
    """
    match = EXP_NAME.match(Path(exp_dir).name)
    if not match:
        raise TableError(f"{exp_dir}: experiment dir name must end in _s<seed>")
    return match["variant"], int(match["seed"])


def read_metrics(exp_dir, trial_lists=None):
    """``{trials: {"eer": %, "dcf01": .., "dcf05": ..}}`` from the cosine metrics JSONs present."""
    result = {}
    for trials in trial_list_labels(trial_lists):
        path = Path(exp_dir) / "scores" / f"{trials}.cosine.json"
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
            result[trials] = {"eer": float(data["eer_percent"]),
                              "dcf01": float(data["min_dcf"]["0.01"]["min_dcf"]),
                              "dcf05": float(data["min_dcf"]["0.05"]["min_dcf"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise TableError(f"{path}: not a compute-metrics JSON ({exc!r})") from None
    return result


def read_training(exp_dir):
    """Epochs done, summed epoch times, wall time, last loss/accuracy and averaged checkpoints."""
    exp_dir = Path(exp_dir)
    info = {"epochs_done": 0, "train_seconds": None, "wall_seconds": None, "final_loss": None,
            "final_acc": None, "averaged": None}
    log = exp_dir / "log" / "train.log"
    if log.is_file():
        per_epoch = {}
        for line in log.read_text().splitlines():
            match = EPOCH_LINE.search(line)
            if match:  # a resumed run may repeat an epoch: keep the last
                per_epoch[int(match["epoch"])] = match
        if per_epoch:
            last = per_epoch[max(per_epoch)]
            info.update(epochs_done=len(per_epoch), train_seconds=sum(float(m["time"]) for m in per_epoch.values()),
                        final_loss=float(last["loss"]), final_acc=float(last["acc"]))
    wall = exp_dir / "log" / "wall_seconds"
    if wall.is_file():
        info["wall_seconds"] = sum(float(x) for x in wall.read_text().split())
    run_log = exp_dir / "log" / "run.log"
    if run_log.is_file():
        for line in run_log.read_text().splitlines():
            if line.startswith("averaged "):
                info["averaged"] = line[len("averaged "):].split(" -> ")[0]
    return info


def read_recipe(exp_dir):
    """The resolved training config of an experiment (its config.yaml), or {} when absent."""
    path = Path(exp_dir) / "config.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def collect(exp_dirs, trial_lists=None):
    """Group experiment dirs by variant: ``{variant: [{"seed", "exp", "metrics", "training"}]}``
    (metrics of ``trial_lists``)."""
    groups = {}
    for exp_dir in exp_dirs:
        variant, seed = split_exp_name(exp_dir)
        groups.setdefault(variant, []).append({"seed": seed, "exp": str(exp_dir),
                                               "metrics": read_metrics(exp_dir, trial_lists),
                                               "training": read_training(exp_dir), "config": read_recipe(exp_dir)})
    for runs in groups.values():
        runs.sort(key=lambda run: run["seed"])
    return dict(sorted(groups.items(), key=lambda kv: _variant_rank(kv[0])))


def _variant_rank(variant):
    return (VARIANT_ORDER.index(variant), "") if variant in VARIANT_ORDER else (len(VARIANT_ORDER), variant)


def summarize(values):
    """``(mean, min, max, n)`` of a list (None when empty)."""
    if not values:
        return None
    return statistics.fmean(values), min(values), max(values), len(values)


def metric_values(runs, trials, key):
    return [run["metrics"][trials][key] for run in runs if trials in run["metrics"]]


def format_stat(values, digits):
    """``mean (min-max)`` over seeds, just the value for one seed, ``-`` for none.

    >>> format_stat([2.0, 3.0], 2)
    '2.50 (2.00-3.00)'
    """
    stat = summarize(values)
    if stat is None:
        return "-"
    mean, low, high, n = stat
    if n == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def relative_change(new, old):
    """Relative change of ``new`` against ``old`` in percent.

    >>> round(relative_change(9.07, 10.0), 1)
    -9.3
    """
    return 100.0 * (new - old) / old


def ablation_of(variant):
    """``(is_kd, name)`` of an ablation variant: ``tiny_kd_<name>`` (a KD ablation, run_compare.sh
    --kd-ablations) or ``tiny_<name>`` (a model ablation, --model-ablations).

    >>> ablation_of("tiny_kd_mse"), ablation_of("tiny_ffn_depthwise")
    ((True, 'mse'), (False, 'ffn_depthwise'))
    """
    for prefix, is_kd in (("tiny_kd_", True), ("tiny_", False)):
        if variant.startswith(prefix):
            return is_kd, variant[len(prefix):]
    return False, variant


def kd_settings(config):
    """What a KD run distilled, from its resolved config: the teacher (when recorded), the map KD
    settings, and the embedding and logit KD weights when used.

    >>> kd_settings({"kd": {"teacher": "exp/compare/ecapa_c512_s1", "attention": {"weight": 0},
    ...                     "embedding": {"weight": 1.0}}})
    'teacher=ecapa_c512_s1, no map KD, embedding KD weight=1.0'
    """
    kd = config.get("kd") or {}
    attention = kd.get("attention") or {}
    parts = [f"teacher={Path(kd['teacher']).name}"] if kd.get("teacher") else []
    if attention.get("weight"):
        parts += [f"{key}={attention[key]}" for key in ("weight", "kind", "last_only") if key in attention]
    else:
        parts.append("no map KD")
    parts += [f"{kind} KD weight={weight}" for kind in ("embedding", "logit") if (weight := (kd.get(kind) or {}).get("weight"))]
    return ", ".join(parts)


def variant_label(variant, runs, reference_runs=None):
    """The table's name of a variant; an ablation names what it changed.

    A KD ablation (``tiny_kd_<name>``) lists its KD settings (``kd_settings``); any other unknown
    variant is an ablation of the proposed Tiny (``tiny_<name>``, run_compare.sh
    --model-ablations) and lists the ``model_conf`` keys that differ from ``reference_runs``
    (the proposed Tiny's runs).
    """
    if variant in VARIANT_LABELS:
        return VARIANT_LABELS[variant]
    is_kd, name = ablation_of(variant)
    if is_kd:
        return f"(c') KD ablation '{name}'" + (f" ({settings})" if (settings := kd_settings(runs[0]["config"])) else "")
    settings = ""
    if reference_runs:
        ours = runs[0]["config"].get("model_conf") or {}
        theirs = reference_runs[0]["config"].get("model_conf") or {}
        settings = ", ".join(f"{key}={ours.get(key)}" for key in sorted(set(ours) | set(theirs))
                             if ours.get(key) != theirs.get(key))
    return f"(b') proposed Tiny ablation '{name}'" + (f" ({settings})" if settings else "")


def ablation_comparisons(groups):
    """``(new, old, what)`` for VARIANT_COMPARISONS and every ablation in ``groups``: (b2) against
    the proposed and the conventional Tiny; a KD ablation against the proposed Tiny without KD; a
    model ablation against the proposed Tiny and against the conventional Tiny (which of the two it
    moves towards says which change matters).

    >>> ablation_comparisons({"tiny_conventional": [], "tiny": [], "tiny_ffn_depthwise": []})
    [('tiny_ffn_depthwise', 'tiny', "ablation 'ffn_depthwise' vs (b) proposed Tiny"), ('tiny_ffn_depthwise', 'tiny_conventional', "ablation 'ffn_depthwise' vs (a) conventional Tiny")]
    >>> [c[:2] for c in ablation_comparisons({"tiny": [], "tiny_freq_resolved": []})]
    [('tiny_freq_resolved', 'tiny')]
    """
    comparisons = [c for c in VARIANT_COMPARISONS if c[0] in groups]
    for variant in groups:
        if variant in VARIANT_LABELS:
            continue
        is_kd, name = ablation_of(variant)
        comparisons.append((variant, "tiny", f"ablation '{name}' vs (b) proposed Tiny"))
        if not is_kd:
            comparisons.append((variant, "tiny_conventional", f"ablation '{name}' vs (a) conventional Tiny"))
    return [(new, old, what) for new, old, what in comparisons if old in groups]


def all_comparisons(groups):
    """``(new, old, what, paper, limit)`` of every comparison the table makes: the paper's claims
    (``paper``: its relative change in %), the ablations, and the targets (``limit``: the largest
    relative change that meets it); the other field is None.

    >>> [c[:2] for c in all_comparisons({"tiny": [], "tiny_ffn_depthwise": []})]
    [('tiny', 'tiny_conventional'), ('tiny_kd', 'tiny'), ('tiny_ffn_depthwise', 'tiny'), ('tiny_kd', 'ecapa_c512')]
    """
    return ([(new, old, what, paper, None) for new, old, paper, what in PAPER_CLAIMS]
            + [(new, old, what, None, None) for new, old, what in ablation_comparisons(groups)]
            + [(new, old, what, None, limit) for new, old, limit, _macs, what in TARGETS])


def format_change(change):
    """``+12.0% [-5.5%, +39.3%]``: a relative change with its interval; ``-`` for None."""
    return "-" if change is None else f"{change.change:+.1%} [{change.low:+.1%}, {change.high:+.1%}]"


def claim_sentences(groups, trial_lists=None):
    """One row per paper claim (ours on each trial list vs the paper) and a plain sentence."""
    labels = trial_list_labels(trial_lists)
    rows, sentences = [], []
    for new, old, paper, what in PAPER_CLAIMS:
        if new not in groups or old not in groups:
            sentences.append(f"- {what}: not measured (missing {new if new not in groups else old}).")
            continue
        changes = {}
        for trials in labels:
            new_eer = metric_values(groups[new], trials, "eer")
            old_eer = metric_values(groups[old], trials, "eer")
            if new_eer and old_eer:
                changes[trials] = (relative_change(statistics.fmean(new_eer), statistics.fmean(old_eer)),
                                   _spread_overlap(new_eer, old_eer))
        if not changes:
            sentences.append(f"- {what}: no metrics yet.")
            continue
        cells = [f"{changes[t][0]:+.1f}%" if t in changes else "-" for t in labels]
        rows.append(f"| {what} | {paper:+.1f}% | " + " | ".join(cells) + " |")
        same = [labels[t] for t, (change, _) in changes.items() if change < 0]
        overlap = [labels[t] for t, (_, overlaps) in changes.items() if overlaps]
        if len(same) == len(changes):
            verdict = "reproduces the paper's direction (lower EER)"
        elif same:
            verdict = f"reproduces the paper's direction only on {', '.join(same)}"
        else:
            verdict = "does not reproduce the paper's direction (EER is not lower)"
        sentence = f"- {what}: our measurement {verdict}"
        if overlap:
            sentence += (f"; on {', '.join(overlap)} the seed ranges of the two models overlap, so the difference "
                         "is within seed-to-seed variation")
        sentences.append(sentence + ".")
    return rows, sentences


def _aligned_runs(runs, trials_name, trials):
    """Cosine scores of every seed of a variant, in the order of ``trials`` (None when a seed has no
    score file or misses a trial)."""
    import numpy as np

    from bccmt_tools.backend.scoring import read_scores

    arrays = []
    for run in runs:
        path = Path(run["exp"]) / "scores" / f"{trials_name}.cosine"
        if not path.is_file():
            return None
        scored = read_scores(str(path))
        by_pair = dict(zip(zip(scored.enroll, scored.test), scored.scores.tolist()))
        try:
            arrays.append(np.array([by_pair[(t.enroll, t.test)] for t in trials]))
        except KeyError:
            return None
    return arrays


def bootstrap_claims(groups, trials_dir, utt2spk_paths, num_bootstrap=2000, seed=0, trial_lists=None):
    """``{(new, old): {trials: Change}}`` (the paper's claims, the ablations, the targets) and
    ``{variant: {trials: Interval}}`` for each of ``trial_lists`` (files in ``trials_dir``):
    relative EER changes and EERs with 95% intervals from a bootstrap over the trial list's
    speakers and the seeds (bccmt_tools/backend/significance.py)."""
    import numpy as np

    from bccmt_tools.backend.significance import eer_interval, relative_eer_change
    from bccmt_tools.io.datadir import read_utt2spk
    from bccmt_tools.io.trials import read_trials

    spk_of = {}
    for path in utt2spk_paths:
        if Path(path).is_file():
            spk_of.update(read_utt2spk(path))
    changes, intervals = {}, {}
    for trials_name in trial_list_labels(trial_lists):
        path = Path(trials_dir) / trials_name
        if not path.is_file():
            continue
        trials = read_trials(str(path))
        if any(t.enroll not in spk_of for t in trials):
            continue
        labels = np.array([t.label for t in trials])
        speakers = np.array([spk_of[t.enroll] for t in trials])
        scores = {variant: _aligned_runs(runs, trials_name, trials) for variant, runs in groups.items()}
        for variant, runs in scores.items():
            if runs:
                intervals.setdefault(variant, {})[trials_name] = eer_interval(
                    runs, labels, speakers, num_bootstrap=num_bootstrap, seed=seed)
        for new, old, *_ in all_comparisons(groups):
            if scores.get(new) and scores.get(old):
                changes.setdefault((new, old), {})[trials_name] = relative_eer_change(
                    scores[new], scores[old], labels, speakers, num_bootstrap=num_bootstrap, seed=seed)
    return changes, intervals


def target_verdict(change, limit):
    """Whether a relative EER change meets a target "at most ``limit``" (0.2: within 1.2x).

    >>> from bccmt_tools.backend.significance import Change
    >>> target_verdict(Change(0.05, -0.02, 0.12, 0.95, 1000, 0.105, 0.1), 0.2)
    'met: the whole 95% interval [-2.0%, +12.0%] is at or below +20%'
    >>> target_verdict(Change(0.15, 0.08, 0.26, 0.95, 1000, 0.115, 0.1), 0.2).split(":")[0]
    'unresolved'
    """
    level = f"{round(change.confidence * 100)}%"
    span = f"[{change.low:+.1%}, {change.high:+.1%}]"
    if change.high <= limit:
        return f"met: the whole {level} interval {span} is at or below {limit:+.0%}"
    if change.low > limit:
        return f"missed: the whole {level} interval {span} is above {limit:+.0%}"
    return f"unresolved: the {level} interval {span} contains {limit:+.0%}"


def macs_ratio(cost, new, old):
    """MACs of ``new`` over those of ``old`` at 1 s (None when either is not profiled)."""
    models = cost.get("models", {})
    try:
        return models[new]["macs"]["1"] / models[old]["macs"]["1"]
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def target_section(changes, cost, trial_lists=None):
    """Markdown: each target of TARGETS that both models were measured for, with its verdicts."""
    labels = trial_list_labels(trial_lists)
    rows = [target for target in TARGETS if changes.get(target[:2])]
    if not rows:
        return []
    lines = ["## Targets", "",
             "| Target | " + " | ".join(f"EER change {t} [95% CI]" for t in labels.values()) + " | MACs ratio 1 s | "
             + " | ".join(f"Verdict {t}" for t in labels.values()) + " |",
             "|---|" + "---|" * (2 * len(labels) + 1)]
    sentences = []
    for new, old, limit, max_macs, what in rows:
        found = changes[(new, old)]
        ratio = macs_ratio(cost, new, old)
        cells = [format_change(found.get(t)) for t in labels]
        verdicts = {t: target_verdict(c, limit) for t in labels if (c := found.get(t))}
        cost_met = ratio is not None and ratio < max_macs
        words = [verdicts[t].split(":")[0] if t in verdicts else "-" for t in labels]
        lines.append(f"| {what} | " + " | ".join(cells) + f" | {'-' if ratio is None else f'1/{1 / ratio:.1f}'} | "
                     + " | ".join(words) + " |")
        cost_words = ("not profiled" if ratio is None else
                      f"1/{1 / ratio:.1f} of the MACs, {'under' if cost_met else 'not under'} 1/{1 / max_macs:.0f}")
        sentences.append(f"- {what}: " + "; ".join(f"{labels[t]} {text}" for t, text in verdicts.items())
                         + f"; cost: {cost_words}.")
    return lines + [""] + sentences + [""]


def interval_section(groups, changes, intervals, num_bootstrap, cost=None, trial_lists=None):
    """Markdown: EER per variant and the paper's claims as relative changes with 95% intervals on
    each trial list; the ablations and the targets (TARGETS) when their models are in ``groups``."""
    from bccmt_tools.backend.significance import verdict

    labels = trial_list_labels(trial_lists)
    lines = ["## EER and the paper's claims with 95% confidence intervals", "",
             f"Intervals: percentile bootstrap ({num_bootstrap} replicates) that resamples the trial list's "
             "enrolment speakers and each model's training seeds together "
             "(`bccmt compare-systems` computes the same for any two systems).", "",
             "| Model | Seeds | " + " | ".join(f"{t} EER % [95% CI]" for t in labels.values()) + " |",
             "|---|---|" + "---|" * len(labels)]
    for variant, runs in groups.items():
        cells = []
        for trials in labels:
            ci = intervals.get(variant, {}).get(trials)
            cells.append(f"{100 * ci.value:.2f} [{100 * ci.low:.2f}, {100 * ci.high:.2f}]" if ci else "-")
        lines.append(f"| {variant_label(variant, runs, groups.get('tiny'))} | {len(runs)} | " + " | ".join(cells) + " |")
    lines += ["", "| Claim (relative EER change) | Paper | " + " | ".join(f"ours {t} [95% CI]" for t in labels.values())
              + " | " + " | ".join(f"Verdict {t}" for t in labels.values()) + " |",
              "|---|---|" + "---|" * (2 * len(labels))]
    sentences = []
    for new, old, paper, what in PAPER_CLAIMS:
        found = changes.get((new, old))
        if not found:
            lines.append(f"| {what} | {paper:+.1f}% | " + " | ".join("-" for _ in labels)
                         + " | not measured" * len(labels) + " |")
            continue
        cells = [format_change(found.get(t)) for t in labels]
        verdicts = {t: verdict(c, expected=paper / 100) for t in labels if (c := found.get(t))}
        words = [verdicts[t].split(":")[0] if t in verdicts else "-" for t in labels]
        lines.append(f"| {what} | {paper:+.1f}% | " + " | ".join(cells + words) + " |")
        paper_fits = {t: found[t].low <= paper / 100 <= found[t].high for t in verdicts}
        sentences.append(f"- {what}: " + "; ".join(
            f"{labels[t]} {text} (the paper's {paper:+.1f}% is {'inside' if paper_fits[t] else 'outside'} it)"
            for t, text in verdicts.items()) + ".")
    lines += [""] + sentences + [""]
    ablations = [(new, old, what) for new, old, what in ablation_comparisons(groups) if changes.get((new, old))]
    if ablations:
        lines += ["## Ablations with 95% confidence intervals", "",
                  "Each ablation changes one choice of the proposed Tiny (or of its KD) with the recipe unchanged; "
                  "a negative change is a lower EER than the model it is compared with.", "",
                  "| Comparison (relative EER change) | " + " | ".join(f"{t} [95% CI]" for t in labels.values())
                  + " | " + " | ".join(f"Verdict {t}" for t in labels.values()) + " |",
                  "|---|" + "---|" * (2 * len(labels))]
        for new, old, what in ablations:
            found = changes[(new, old)]
            cells = [format_change(found.get(t)) for t in labels]
            words = [verdict(c).split(":")[0] if (c := found.get(t)) else "-" for t in labels]
            lines.append(f"| {what} | " + " | ".join(cells + words) + " |")
        lines.append("")
    return lines + target_section(changes, cost or {}, labels)


def _spread_overlap(a, b):
    """True when the min-max ranges of two seed sets overlap (a difference within seed noise)."""
    return max(min(a), min(b)) <= min(max(a), max(b))


def format_cost(cost, variant):
    entry = cost.get("models", {}).get(variant)
    if not entry:
        return ["-"] * 4
    latency = entry.get("latency_ms", {})
    cells = [f"{entry['parameters'] / 1e6:.3f} M", f"{entry['macs'].get('1', 0) / 1e6:.1f}"]
    for seconds in ("1", "10"):
        lat = latency.get(seconds)
        cells.append(f"{lat['median']:.1f} ({lat['p10']:.1f}-{lat['p90']:.1f})" if lat else "-")
    return cells


def format_minutes(seconds_list):
    values = [s for s in seconds_list if s is not None]
    if not values:
        return "-"
    return " / ".join(f"{s / 60:.1f}" for s in values)


def recipe_summary(groups):
    """The shared recipe, read from the first experiment's config.yaml (all must agree)."""
    keys = (("data", "crop_frames"), ("data", "batch_size"), ("trainer", "epochs"), ("trainer", "max_steps_per_epoch"),
            ("optim", "name"), ("optim", "lr"), ("optim", "weight_decay"), ("scheduler", "name"),
            ("scheduler", "warmup_epochs"), ("loss", "margin"), ("loss", "scale"), ("loss", "margin_warmup"))
    values, disagree = {}, set()
    for runs in groups.values():
        for run in runs:
            for path in keys:
                node = run["config"]
                for key in path:
                    node = node.get(key) if isinstance(node, dict) else None
                if node is None:
                    continue
                dotted = ".".join(path)
                if dotted in values and values[dotted] != node:
                    disagree.add(dotted)
                values.setdefault(dotted, node)
    return values, disagree


def make_table(groups, cost, machine="", commands=(), data_note="", intervals_lines=(), trial_lists=None,
               seed_rule="", corpus=DEFAULT_CORPUS):
    """The whole markdown document as a string: a column group per trial list (``trial_lists``:
    names or ``{name: label}``); ``seed_rule``: a paragraph under the title (none when empty);
    ``corpus``: the study's data, named in the title."""
    labels = trial_list_labels(trial_lists)
    lines = [f"# Comparison study on the {corpus} (cosine scoring)", ""]
    if seed_rule:
        lines += [f"**Seed rule (fixed before any result was seen).** {seed_rule}", ""]
    header = ["Model", "Seeds"]
    for trials in labels.values():
        header += [f"{trials} {name}" for _, name in METRICS]
    header += ["Params", "MMACs 1 s", "CPU ms 1 s", "CPU ms 10 s", "Train min/run", "Final train acc"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for variant, runs in groups.items():
        row = [variant_label(variant, runs, groups.get("tiny")), ",".join(str(run["seed"]) for run in runs)]
        for trials in labels:
            for key, _ in METRICS:
                row.append(format_stat(metric_values(runs, trials, key), 2 if key == "eer" else 3))
        row += format_cost(cost, variant)
        row.append(format_minutes([run["training"]["train_seconds"] or run["training"]["wall_seconds"]
                                   for run in runs]))
        accs = [run["training"]["final_acc"] for run in runs if run["training"]["final_acc"] is not None]
        row.append(format_stat(accs, 3))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Metric cells: mean over seeds, with the min-max range over seeds in brackets (one seed: the "
              "value). CPU ms: median batch-1 eager latency, 10th-90th percentile in brackets. Train min/run: "
              "minutes of each seed's training, the sum of its epoch times in train.log (a resumed run counts "
              "each epoch once; 1 thread per run, 2 runs and other jobs sharing 2 cores, so the spread is "
              "load as much as model).", ""]

    if intervals_lines:  # the claims with intervals and verdicts; the point-estimate section would repeat them
        lines += list(intervals_lines)
    else:
        rows, sentences = claim_sentences(groups, labels)
        lines += ["## The paper's claims", "",
                  "| Claim (relative EER change) | Paper | " + " | ".join(f"ours {t}" for t in labels.values()) + " |",
                  "|---|---|" + "---|" * len(labels)] + rows + [""] + sentences + [""]

    values, disagree = recipe_summary(groups)
    lines += ["## Recipe (identical for every model)", ""]
    if data_note:
        lines.append(f"- data: {data_note}")
    for key, value in values.items():
        lines.append(f"- `{key}`: {value}" + (" (NOT the same in every run!)" if key in disagree else ""))
    averaged = {run["training"]["averaged"] for runs in groups.values() for run in runs if run["training"]["averaged"]}
    if averaged:
        lines.append(f"- averaged checkpoints: {'; '.join(sorted(averaged))}")
    lines.append("")
    meta = cost.get("meta", {})
    lines += ["## Machine and cost measurement", ""]
    if machine:
        lines.append(f"- machine: {machine}")
    if meta:
        lines.append(f"- latency: one process, {meta.get('threads')} thread(s), batch 1, eager PyTorch "
                     f"{meta.get('torch', '')}, BatchNorm folded, {meta.get('runs')} runs per model and length "
                     f"after {meta.get('warmup')} warm-up runs, interleaved round-robin over the models "
                     f"({meta.get('seconds_taken', 0):.0f} s); MACs counted with torch.utils.flop_counter (FLOPs / 2)")
        if meta.get("sources"):
            lines.append(f"- profiled checkpoints: {', '.join(meta['sources'])}")
    lines.append("")
    if commands:
        lines += ["## Commands", "", "```"] + list(commands) + ["```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- profile
def profile_variants(exp_dirs, seconds=(1.0, 10.0), runs=30, warmup=3, threads=1):
    """Cost of one model per variant (the first exp dir of each), latency interleaved over models."""
    import torch

    from bccmt_tools.deploy.cost import example_input, frames_for_seconds, profile_model
    from bccmt_tools.models.experiment import load_model_from_exp
    from bccmt_tools.models.fuse import fuse_for_inference

    torch.set_num_threads(threads)
    chosen = {}
    for exp_dir in exp_dirs:
        variant, _ = split_exp_name(exp_dir)
        chosen.setdefault(variant, exp_dir)
    models, result = {}, {}
    for variant, exp_dir in chosen.items():
        model, _ = load_model_from_exp(exp_dir)
        report = profile_model(model, list(seconds), latency=False)
        result[variant] = {"source": str(exp_dir), "parameters": report["parameters"],
                           "macs": {f"{row['seconds']:g}": row["macs"] for row in report["lengths"]},
                           "latency_ms": {}}
        models[variant] = fuse_for_inference(model)
    started = time.perf_counter()
    names = list(models)
    with torch.inference_mode():
        for length in seconds:
            inputs = {name: example_input(models[name], frames_for_seconds(length)) for name in names}
            for name in names:
                for _ in range(warmup):
                    models[name](*inputs[name])
            times = {name: [] for name in names}
            for round_index in range(runs):
                shift = round_index % len(names)  # rotate the order so no model always runs first
                for name in names[shift:] + names[:shift]:
                    begin = time.perf_counter()
                    models[name](*inputs[name])
                    times[name].append(1000.0 * (time.perf_counter() - begin))
            for name in names:
                ordered = sorted(times[name])
                result[name]["latency_ms"][f"{length:g}"] = {
                    "median": statistics.median(ordered), "p10": ordered[int(0.1 * (len(ordered) - 1))],
                    "p90": ordered[int(0.9 * (len(ordered) - 1))]}
    meta = {"threads": threads, "runs": runs, "warmup": warmup, "seconds": list(seconds), "torch": torch.__version__,
            "fused": True, "seconds_taken": time.perf_counter() - started, "sources": [str(d) for d in chosen.values()]}
    return {"models": result, "meta": meta}


# ------------------------------------------------------------------------------ map distance
def map_distance(teacher_dir, student_dirs, feats_rspec, num_utts=128, batch_size=32):
    """Mean KL(teacher map || student map) of matched SA maps (as in training) on test utterances.

    Shows whether KD moved a student's attention towards the teacher's: ``{student: {"kl", "mse"}}``.
    Only the students whose maps can be matched (proposed Tiny) are measured.
    """
    import itertools

    import numpy as np
    import torch

    from bccmt_tools.features.cmn import mean_normalize
    from bccmt_tools.io.kaldi_table import read_table
    from bccmt_tools.losses.kd import AttentionKD
    from bccmt_tools.models.experiment import load_model_from_exp

    utts = [mean_normalize(np.asarray(feats, dtype=np.float32)) for _, feats in
            itertools.islice(read_table(feats_rspec), num_utts)]
    frames = min(len(u) for u in utts)
    batches = [torch.from_numpy(np.stack([u[:frames] for u in utts[i:i + batch_size]]))
               for i in range(0, len(utts), batch_size)]
    teacher, _ = load_model_from_exp(teacher_dir)
    losses = {"kl": AttentionKD("kl"), "mse": AttentionKD("mse")}
    result = {}
    with torch.inference_mode():
        teacher_maps = [teacher.forward_with_attention(b, torch.full((len(b),), frames))[1] for b in batches]
        for student_dir in student_dirs:
            student, _ = load_model_from_exp(student_dir)
            sums = {kind: 0.0 for kind in losses}
            for batch, t_maps in zip(batches, teacher_maps):
                s_maps = student.forward_with_attention(batch, torch.full((len(batch),), frames))[1]
                for kind, loss in losses.items():
                    sums[kind] += float(loss(s_maps, t_maps)) * len(batch)
            result[str(student_dir)] = {kind: total / len(utts) for kind, total in sums.items()}
    return {"teacher": str(teacher_dir), "feats": feats_rspec, "utterances": len(utts), "frames": frames,
            "students": result}


def made_from(path, inputs):
    """Whether the JSON at ``path`` was written by this script from exactly ``inputs`` (its
    ``"inputs"`` entry): stage 4 reuses such a cost profile or map distance, and redoes one made
    from other models or settings (a run finished since, another --latency-runs).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cost.json"
    >>> _ = path.write_text(json.dumps({"inputs": {"exp_dirs": ["exp/tiny_s1"], "runs": 30}}))
    >>> made_from(path, {"exp_dirs": ["exp/tiny_s1"], "runs": 30}), made_from(path, {"exp_dirs": ["exp/tiny_s1"], "runs": 5})
    (True, False)
    >>> made_from(path.with_name("missing.json"), {})
    False
    """
    try:
        recorded = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded.get("inputs") == inputs


def format_map_distance(result):
    """Markdown section: per student, the distance of its SA maps to the teacher's.

    >>> print(format_map_distance({"teacher": "t", "utterances": 2, "frames": 98,
    ...                            "students": {"x/tiny_s1": {"kl": 0.5, "mse": 0.01}}}).strip().splitlines()[-1])
    | x/tiny_s1 | 0.5000 | 0.01000 |
    """
    lines = ["", "## Do the KD students attend like the teacher?", "",
             f"Mean KD loss between matched self-attention maps of the teacher `{result['teacher']}` and each "
             f"student on the first {result['utterances']} utterances of `{result.get('feats', VOX1_TEST_FEATS)}`, "
             f"cut to the shortest ({result['frames']} frames), the same pairs and reduction as in training "
             "(lower = closer to the teacher).", "",
             "| Student | KL(teacher \\|\\| student) | MSE |", "|---|---|---|"]
    for student, values in result["students"].items():
        lines.append(f"| {student} | {values['kl']:.4f} | {values['mse']:.5f} |")
    return "\n".join(lines) + "\n"


def short_label(variant):
    """The figure's name of a variant: the table's letter and the experiment name.

    >>> short_label("tiny_conventional"), short_label("tiny_ffn_depthwise"), short_label("tiny_kd_mse")
    ('(a) tiny_conventional', "(b') tiny_ffn_depthwise", "(c') tiny_kd_mse")
    """
    if variant in VARIANT_LABELS:
        return f"{VARIANT_LABELS[variant].split()[0]} {variant}"
    return f"({'c' if ablation_of(variant)[0] else 'b'}') {variant}"


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def list_styles(trial_lists):
    """``{name: (marker, colour, row shift, label)}``: each trial list's style by its position, the
    lists spread over at most 0.6 of a row, in the order given.

    >>> list_styles(["vox1_O", "vox1_E"])["vox1_E"]
    ('s', 'C1', 0.12, 'vox1_E')
    """
    labels = trial_list_labels(trial_lists)
    count = len(labels)
    step = min(0.24, 0.6 / (count - 1)) if count > 1 else 0.0
    return {name: (MARKERS[i % len(MARKERS)], f"C{i % 10}", round((i - (count - 1) / 2) * step, 6), label)
            for i, (name, label) in enumerate(labels.items())}


def _draw_rows(axes, rows, field, trial_lists=None):
    """One row per entry of ``rows`` (``{trials: Interval or Change}``): the estimate ``field`` of
    each trial list with its interval, in percent, the lists one above the other in their order."""
    for row, found in enumerate(rows):
        for trials, (marker, color, shift, label) in list_styles(trial_lists).items():
            estimate = found.get(trials)
            if estimate:
                value = getattr(estimate, field)
                axes.errorbar(100 * value, row + shift, xerr=[[100 * (value - estimate.low)], [100 * (estimate.high - value)]],
                              fmt=marker, color=color, capsize=3, label=label if row == 0 else None)


def plot_intervals(groups, changes, intervals, path, trial_lists=None, corpus=DEFAULT_CORPUS):
    """Two panels to ``path``: each model's EER with its 95% interval per trial list, and each
    comparison (the paper's claims, the ablations, the targets) as a relative EER change with its
    interval, the paper's figure and a target's limit marked. Needs matplotlib (the ``plot`` extra)."""
    from bccmt_tools.backend.det import finish_figure

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TableError("--figure needs matplotlib: pip install 'bccmt-tools[plot]'") from None
    comparisons = [c for c in all_comparisons(groups) if changes.get(c[:2])]
    variants = [v for v in groups if v in intervals]
    if not variants:
        raise TableError("--figure: no model has score files for the intervals")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12.0, 0.5 * max(len(variants), len(comparisons)) + 2.2),
                                         gridspec_kw={"width_ratios": [1, 1.25]})
    ncol = 2 if len(trial_list_labels(trial_lists)) > 3 else 3  # legend columns (the left panel's width)
    _draw_rows(left, [intervals[variant] for variant in variants], "value", trial_lists)
    left.set_yticks(range(len(variants)), [f"{short_label(v)} ({len(groups[v])} seed{'s' * (len(groups[v]) > 1)})"
                                           for v in variants])
    left.set_ylim(len(variants) - 0.5, -0.5)
    left.set_xlabel("EER % (cosine), 95% interval")
    left.grid(True, axis="x", color="0.9")
    left.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, frameon=False)
    _draw_rows(right, [changes[(new, old)] for new, old, *_ in comparisons], "change", trial_lists)
    marked = set()
    for row, (_new, _old, _what, paper, limit) in enumerate(comparisons):
        if paper is not None:
            right.plot(paper, row, "x", color="tab:red", markersize=10, mew=2,
                       label=None if "paper" in marked else "the paper")
            marked.add("paper")
        if limit is not None:
            right.plot(100 * limit, row, "|", color="tab:green", markersize=16, mew=2,
                       label=None if "target" in marked else "target (at most)")
            marked.add("target")
    right.axvline(0, color="0.4", linewidth=0.8)
    right.set_yticks(range(len(comparisons)), [what for _, _, what, *_ in comparisons], fontsize="small")
    right.set_ylim(len(comparisons) - 0.5, -0.5)
    right.set_xlabel("relative EER change % (< 0: first better)")
    right.grid(True, axis="x", color="0.9")
    if marked:  # the trial lists' markers are explained once, above the left panel
        right.legend(*zip(*[(h, l) for h, l in zip(*right.get_legend_handles_labels())
                            if l in ("the paper", "target (at most)")]),
                     fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    finish_figure(figure, path, title=f"Comparison study, {corpus}: bootstrap over speakers and seeds")


def atomic_write_text(path, text):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prof = sub.add_parser("profile", help="parameters, MACs and interleaved latency -> JSON")
    prof.add_argument("--out", required=True, help="cost JSON to write")
    prof.add_argument("--seconds", default="1,10", help="comma-separated signal lengths (default 1,10)")
    prof.add_argument("--runs", type=int, default=30, help="timed runs per model and length")
    prof.add_argument("--warmup", type=int, default=3, help="untimed runs per model and length")
    prof.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    prof.add_argument("--reuse", action="store_true", help="keep --out if it was made from the same models and settings")
    prof.add_argument("exp_dirs", nargs="+")
    dist = sub.add_parser("map-distance", help="KL/MSE between teacher and student SA maps -> JSON")
    dist.add_argument("--out", required=True, help="JSON to write")
    dist.add_argument("--teacher", required=True, help="teacher exp dir")
    dist.add_argument("--feats", default=VOX1_TEST_FEATS, help="test features rspecifier")
    dist.add_argument("--num-utts", type=int, default=128, help="utterances used")
    dist.add_argument("--reuse", action="store_true", help="keep --out if it was made from the same models and settings")
    dist.add_argument("exp_dirs", nargs="+", help="student exp dirs")
    tab = sub.add_parser("table", help="markdown table from metrics JSONs, logs and the cost JSON")
    tab.add_argument("--out", required=True, help="markdown file to write")
    tab.add_argument("--cost", help="cost JSON of the profile command")
    tab.add_argument("--machine", default="", help="machine description for the table")
    tab.add_argument("--commands", help="text file with the commands that produced the results")
    tab.add_argument("--map-distance", help="JSON of the map-distance command (a table section)")
    tab.add_argument("--notes", help="markdown file appended at the end (e.g. what was tried)")
    tab.add_argument("--data-note", default="", help="one line describing the training and test data")
    tab.add_argument("--trial-lists", default=" ".join(DEFAULT_TRIAL_LISTS),
                     help="space-separated trial lists in table order: files in --trials-dir, scores "
                          "EXP/scores/LIST.cosine[.json] (default: %(default)s)")
    tab.add_argument("--list-label", action="append", default=[], metavar="LIST=LABEL",
                     help="the table's name of a trial list (default: its name); repeatable")
    tab.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="NAME",
                     help="the study's data, named in the table's and the figure's titles (default: %(default)s)")
    tab.add_argument("--seed-rule", default="", metavar="TEXT",
                     help="the rule that fixed the seeds, printed under the title (default: none)")
    tab.add_argument("--trials-dir", default="data/trials", help="where the trial lists live (for the intervals)")
    tab.add_argument("--utt2spk", default="data/voxceleb1_test/utt2spk,data/voxceleb1_dev/utt2spk",
                     help="comma-separated utt2spk files giving the trial lists' speakers (bootstrap)")
    tab.add_argument("--num-bootstrap", type=int, default=2000, help="bootstrap replicates (0: no intervals)")
    tab.add_argument("--figure", help="also draw the intervals to this PNG (needs matplotlib)")
    tab.add_argument("exp_dirs", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command in ("profile", "map-distance"):
            if args.command == "profile":
                seconds = [float(x) for x in args.seconds.split(",") if x.strip()]
                inputs = {"exp_dirs": args.exp_dirs, "seconds": seconds, "runs": args.runs, "warmup": args.warmup,
                          "threads": args.threads}
            else:
                inputs = {"teacher": args.teacher, "exp_dirs": args.exp_dirs, "feats": args.feats,
                          "num_utts": args.num_utts}
            if args.reuse and made_from(args.out, inputs):
                print(f"{args.out}: made from the same models and settings, reused")
                return 0
            if args.command == "profile":
                result = profile_variants(args.exp_dirs, tuple(seconds), args.runs, args.warmup, args.threads)
            else:
                result = map_distance(args.teacher, args.exp_dirs, args.feats, args.num_utts)
            atomic_write_text(args.out, json.dumps(dict(result, inputs=inputs), indent=2) + "\n")
        else:
            cost = {}
            if args.cost:
                try:
                    cost = json.loads(Path(args.cost).read_text())
                except (OSError, ValueError) as exc:
                    raise TableError(f"{args.cost}: cannot read the cost JSON ({exc})") from None
            commands = Path(args.commands).read_text().splitlines() if args.commands else ()
            lists = parse_trial_lists(args.trial_lists, args.list_label)
            groups = collect(args.exp_dirs, lists)
            intervals_lines = ()
            if args.num_bootstrap > 0:
                changes, intervals = bootstrap_claims(groups, args.trials_dir, args.utt2spk.split(","),
                                                      args.num_bootstrap, trial_lists=lists)
                intervals_lines = interval_section(groups, changes, intervals, args.num_bootstrap, cost, lists)
                if args.figure:
                    plot_intervals(groups, changes, intervals, args.figure, lists, args.corpus)
            text = make_table(groups, cost, args.machine, commands, args.data_note, intervals_lines, lists,
                              args.seed_rule, args.corpus)
            if args.map_distance and Path(args.map_distance).is_file():
                text += format_map_distance(json.loads(Path(args.map_distance).read_text()))
            if args.notes and Path(args.notes).is_file():
                text += "\n" + Path(args.notes).read_text()
            atomic_write_text(args.out, text)
    except TableError as exc:
        print(f"comparison_table.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
