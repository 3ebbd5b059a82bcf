"""Write the tables of docs/model.md and docs/distillation.md from the code, so they cannot drift.

    python docs/make_tables.py             # rewrite the generated blocks
    python docs/make_tables.py --check     # exit 1 when a block is not current
    python docs/make_tables.py --measure   # also recount the MACs of the size table (minutes)

Each table sits between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->`` in the
page; the text around it is ours. The tables come from:

* ``model-conf-*``: the config dataclasses of the model registry (field, default, size presets),
  with the notes below (every field needs one, so a new option cannot go undocumented);
* ``sizes``: parameters counted from every ``bccmt_tools/conf/models/*.yaml`` (cheap, always); MACs at 1, 2 and
  10 s, and at 2 s without the attention matrix products, with
  ``bccmt_tools.deploy.cost.count_macs_split`` (slow: kept from the page unless ``--measure``, or
  when a model's parameter count changed);
* ``kd-options``: the ``kd`` section of the training-config defaults;
* ``kd-mapping``: the student-to-teacher block mapping of the losses, for the Tiny and Base presets.
"""

import argparse
import dataclasses
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL_MD = ROOT / "docs" / "model.md"
KD_MD = ROOT / "docs" / "distillation.md"

# Status of each BccmtConfig field: FACT = stated in the two public abstracts (TASLP 2024,
# Interspeech 2022); DEFAULT (CMT) / DEFAULT (BC-ResNet) = the documented default of a public
# building block the abstracts name, not stated about BC-CMT; CHOICE = our reconstruction. Then
# what it does and, for choices, why.
BCCMT_NOTES = {
    "size": ("FACT: three sizes; CHOICE: their widths",
             "`tiny`, `small` or `base`: fills every field left unset (`null`) from the size presets below."),
    "attention": ("FACT: 1D vs 2D; CHOICE: the variant",
                  "`temporal`: self-attention over time only, on the frequency mean (proposed, TASLP 2024); "
                  "`spectro_temporal`: self-attention over frequency x time tokens (conventional, Interspeech 2022); "
                  "`temporal_freq_resolved`: our variant of the proposed one, the same T x T' map from "
                  "frequency-mean queries and keys, but values and output projection per frequency bin."),
    "ffn": ("CHOICE (evidence: IS22)",
            "`broadcast`: BC-IRFFN (frequency-depthwise 3x1 + SubSpectralNorm, temporal path on the frequency mean); "
            "`depthwise`: CMT's IRFFN with a depthwise 3x3. `broadcast` for both models: the Interspeech 2022 "
            "abstract applies broadcasted residual learning to the CMT building blocks."),
    "n_mels": ("CHOICE", "Fbank bins of the input (80, the usual VoxCeleb setting)."),
    "stem_channels": ("CHOICE", "Width c_s of the stem (conv 3x3 with frequency stride 2, then BRL blocks)."),
    "stem_blocks": ("CHOICE", "BC-ResNet broadcasted-residual blocks in the stem."),
    "channels": ("CHOICE", "Widths C1-C4 of the four stages."),
    "depths": ("CHOICE", "BC-CMT blocks per stage, d1-d4."),
    "heads": ("DEFAULT (CMT)", "Attention heads per stage, CMT's [1, 2, 4, 8] (no public source gives BC-CMT's); "
                               "the same for every size, so Tiny and Base maps pair head by head."),
    "kv_ratios": ("DEFAULT (CMT)", "Key/value reduction k per stage, CMT's [8, 4, 2, 1] (no public source gives "
                                   "BC-CMT's); here applied to time."),
    "freq_strides": ("CHOICE", "Frequency stride of each stage's patch embedding (80 bins: 40 after the stem, "
                               "then 20, 10, 5, 5)."),
    "time_strides": ("CHOICE", "Time stride of each stage's patch embedding (T, T, T/2, T/4, T/4 frames)."),
    "ffn_ratio": ("CHOICE", "Expansion R of the feed-forward block; Tiny uses 1.75 to meet the paper's "
                            "parameter count."),
    "kv_group_size": ("FACT: fewer groups; CHOICE: 4",
                      "Channels per group of the temporal K/V reduction convolution (`temporal` and "
                      "`temporal_freq_resolved`; 1 = depthwise, as in CMT)."),
    "bias_clip": ("CHOICE", "Relative-position offsets beyond +-clip share the edge entry of the learned bias "
                            "table, so any length works."),
    "subbands": ("DEFAULT (BC-ResNet)", "Sub-bands of SubSpectralNorm (5 keeps 40/20/10/5 bins divisible)."),
    "dropout": ("DEFAULT (BC-ResNet)", "Channel dropout on the broadcast (1D) paths."),
    "attention_dropout": ("CHOICE", "Dropout on the attention weights (after the map used for KD)."),
    "pooling": ("FACT: FSD-ASP; CHOICE: its internals",
                "`fsd_asp`: frequency attention, then attentive statistics over time; "
                "`asp`: attentive statistics of the frequency-flattened map (ablation)."),
    "pool_bottleneck": ("CHOICE", "Bottleneck b of the temporal attentive statistics pooling."),
    "pool_freq_reduction": ("CHOICE", "Reduction r of the frequency attention (C4 -> C4/r -> C4)."),
    "pool_global_context": ("CHOICE", "ECAPA-style: the temporal attention also sees the utterance mean and std."),
    "embedding_dim": ("CHOICE", "Size of the speaker embedding (BN, Linear, BN)."),
}

ECAPA_NOTES = {
    "n_mels": "Fbank bins of the input.",
    "channels": "Width C of the SE-Res2Blocks (512 or 1024 in the ECAPA-TDNN paper).",
    "mfa_channels": "Channels after multi-layer feature aggregation.",
    "scale": "Res2Net scale (channel groups of the dilated convolution).",
    "dilations": "Dilation of each of the three SE-Res2Blocks.",
    "se_bottleneck": "Squeeze-excitation bottleneck.",
    "attention_bottleneck": "Bottleneck of the attentive statistics pooling.",
    "global_context": "The pooling attention also sees the utterance mean and std.",
    "embedding_dim": "Size of the speaker embedding.",
}

RESNET_NOTES = {
    "n_mels": "Fbank bins of the input (divisible by 8).",
    "base_channels": "Width of the first stage (doubled at each of the three later stages).",
    "blocks": "BasicBlocks per stage ([3, 4, 6, 3] is ResNet34).",
    "embedding_dim": "Size of the speaker embedding.",
    "second_embedding_layer": "Add BN + ReLU + Linear(D, D) after the first projection.",
}

KD_NOTES = {
    "teacher": "Teacher experiment folder (`bccmt train --teacher` sets it). Distillation is on only with a "
               "teacher; the teacher is frozen (eval mode, no gradients) and sees the student's batch.",
    "attention.weight": "lambda of the attention-map loss (0: off).",
    "attention.kind": "`kl`: KL(teacher || student) per query row; `mse`: squared difference per row.",
    "attention.last_only": "Distil only the last block of each stage (instead of every student block).",
    "attention.warmup_epochs": "Raise lambda linearly from 0 over this many (fractional) epochs.",
    "attention.resize_teacher": "Average-pool a finer teacher map to the student's shape (rows renormalised) "
                                "when temporal strides differ; otherwise different shapes are an error.",
    "embedding.weight": "Weight of 1 - cos(student embedding, teacher embedding) (0: off); a learned "
                        "projection maps the student's embedding to the teacher's size when they differ.",
    "logit.weight": "Weight of Hinton KD on the AAM classifier's cosine logits (0: off; needs the teacher's "
                    "classifier and the same training speakers).",
    "logit.temperature": "Temperature T of the logit KD (loss scaled by T^2).",
    "fuse_teacher": "Fold the frozen teacher's BatchNorms into its convolutions before training (the same "
                    "maps up to float rounding, fewer operations per step); `false` keeps them.",
}

SIZE_CONFIGS = [
    ("bccmt_tiny", "BC-CMT Tiny, proposed"),
    ("bccmt_tiny_conventional", "BC-CMT Tiny, conventional"),
    ("bccmt_tiny_freq_resolved", "BC-CMT Tiny, frequency-resolved 1D attention (ours)"),
    ("bccmt_small", "BC-CMT Small, proposed"),
    ("bccmt_small_conventional", "BC-CMT Small, conventional"),
    ("bccmt_base", "BC-CMT Base, proposed"),
    ("bccmt_base_conventional", "BC-CMT Base, conventional"),
    ("ecapa_tdnn_c512", "ECAPA-TDNN C=512"),
    ("ecapa_tdnn_c1024", "ECAPA-TDNN C=1024"),
    ("resnet34", "ResNet34 (32 channels)"),
]


def _value(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _row(cells):
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _fields(config_class, notes, where):
    fields = dataclasses.fields(config_class)
    missing = [f.name for f in fields if f.name not in notes]
    stale = [name for name in notes if name not in {f.name for f in fields}]
    if missing or stale:
        raise SystemExit(f"docs/make_tables.py: {where}: fields without a note: {missing}; notes of no field: {stale}")
    return fields


def _default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def bccmt_table():
    from bccmt_tools.models.bccmt import SIZE_PRESETS, BccmtConfig

    lines = [_row(["field", "default", "tiny", "small", "base", "status", "meaning"]),
             "|---|---|---|---|---|---|---|"]
    for field in _fields(BccmtConfig, BCCMT_NOTES, "BccmtConfig"):
        presets = [SIZE_PRESETS[size].get(field.name) for size in ("tiny", "small", "base")]
        preset_cells = [f"`{_value(v)}`" if field.name in SIZE_PRESETS["tiny"] else "" for v in presets]
        status, meaning = BCCMT_NOTES[field.name]
        lines.append(_row([f"`{field.name}`", f"`{_value(_default(field))}`"] + preset_cells + [status, meaning]))
    return "\n".join(lines)


def simple_table(config_class, notes, where):
    lines = [_row(["field", "default", "meaning"]), "|---|---|---|"]
    for field in _fields(config_class, notes, where):
        lines.append(_row([f"`{field.name}`", f"`{_value(_default(field))}`", notes[field.name]]))
    return "\n".join(lines)


def kd_options_table():
    from bccmt_tools.train.config import DEFAULTS

    flat = {}
    for key, value in DEFAULTS["kd"].items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": subvalue for sub, subvalue in value.items()})
        else:
            flat[key] = value
    missing = [k for k in flat if k not in KD_NOTES]
    stale = [k for k in KD_NOTES if k not in flat]
    if missing or stale:
        raise SystemExit(f"docs/make_tables.py: kd options without a note: {missing}; notes of no option: {stale}")
    lines = [_row(["key (under `kd:`)", "default", "meaning"]), "|---|---|---|"]
    for key, value in flat.items():
        lines.append(_row([f"`{key}`", f"`{_value(value)}`", KD_NOTES[key]]))
    return "\n".join(lines)


def kd_mapping_table():
    from bccmt_tools.losses.kd import uniform_layer_mapping
    from bccmt_tools.models.bccmt import SIZE_PRESETS, BccmtConfig

    config = BccmtConfig()
    student, teacher = SIZE_PRESETS["tiny"]["depths"], SIZE_PRESETS["base"]["depths"]
    lines = [_row(["stage", "heads", "map shape at T input frames", "Tiny blocks", "Base blocks",
                   "Tiny block <- Base block"]), "|---|---|---|---|---|---|"]
    stride = 1
    for stage in range(4):
        stride *= config.time_strides[stage]
        ratio = config.kv_ratios[stage]
        queries = "T" if stride == 1 else f"T/{stride}"
        keys = f"T/{stride * ratio}" if stride * ratio > 1 else "T"
        mapping = uniform_layer_mapping(student[stage], teacher[stage])
        pairs = ", ".join(f"{j + 1} <- {k + 1}" for j, k in enumerate(mapping))
        lines.append(_row([stage + 1, config.heads[stage], f"[{config.heads[stage]}, {queries}, {keys}] (rounded up)",
                           student[stage], teacher[stage], pairs]))
    return "\n".join(lines)


def parameters_of(config_name):
    """Parameters of the model of ``bccmt_tools/conf/models/<config_name>.yaml`` (classifier excluded)."""
    from bccmt_tools.deploy.cost import count_parameters
    from bccmt_tools.io.yaml_io import read_yaml_mapping
    from bccmt_tools.models import build_model
    from bccmt_tools.train.model_file import PACKAGE_MODELS

    path = PACKAGE_MODELS / f"{config_name}.yaml"
    return count_parameters(build_model(read_yaml_mapping(path, what="model config"), str(path)))


def _mmacs_of(config_name):
    """MMACs at 1 s, 2 s, 2 s without the attention matrix products, and 10 s."""
    import torch

    from bccmt_tools.deploy.cost import count_macs_split
    from bccmt_tools.io.yaml_io import read_yaml_mapping
    from bccmt_tools.models import build_model
    from bccmt_tools.train.model_file import PACKAGE_MODELS

    torch.set_num_threads(1)
    path = PACKAGE_MODELS / f"{config_name}.yaml"
    model = build_model(read_yaml_mapping(path, what="model config"), str(path))
    one, two, ten = (count_macs_split(model, seconds) for seconds in (1.0, 2.0, 10.0))
    return (one["macs"] / 1e6, two["macs"] / 1e6, (two["macs"] - two["attention_matmul_macs"]) / 1e6,
            ten["macs"] / 1e6)


SIZE_ROW = re.compile(r"^\| \[`bccmt_tools/conf/models/(\w+)\.yaml`\]\S* \| [^|]+ \| ([\d,]+)"
                      r" \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|")


def sizes_table(current_text, measure):
    old = {}
    for m in map(SIZE_ROW.match, current_text.splitlines()):
        if m:
            old[m.group(1)] = (int(m.group(2).replace(",", "")), tuple(float(m.group(i)) for i in range(3, 7)))
    lines = [_row(["config", "model", "parameters", "MMACs at 1 s", "MMACs at 2 s",
                   "MMACs at 2 s without attention products", "MMACs at 10 s", "10 s / 1 s"]),
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, title in SIZE_CONFIGS:
        params = parameters_of(name)
        if measure or name not in old or old[name][0] != params:
            mmacs = _mmacs_of(name)
        else:
            mmacs = old[name][1]
        lines.append(_row([f"[`bccmt_tools/conf/models/{name}.yaml`](../bccmt_tools/conf/models/{name}.yaml)", title, f"{params:,}",
                           *(f"{value:.1f}" for value in mmacs), f"{mmacs[3] / mmacs[0]:.1f}x"]))
    return "\n".join(lines)


def _replace_block(text, name, body, page):
    begin, end = f"<!-- generated: {name} -->", f"<!-- end generated: {name} -->"
    pattern = re.compile(re.escape(begin) + r"\n(?:.*?\n)?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"docs/make_tables.py: {page} has no block {begin} ... {end}")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def render(measure=False):
    """``{page path: new text}`` of both pages."""
    from bccmt_tools.models.ecapa_tdnn import EcapaConfig
    from bccmt_tools.models.resnet import ResNetConfig

    model = MODEL_MD.read_text(encoding="utf-8")
    model = _replace_block(model, "model-conf-bccmt", bccmt_table(), MODEL_MD.name)
    model = _replace_block(model, "model-conf-ecapa_tdnn", simple_table(EcapaConfig, ECAPA_NOTES, "EcapaConfig"),
                           MODEL_MD.name)
    model = _replace_block(model, "model-conf-resnet", simple_table(ResNetConfig, RESNET_NOTES, "ResNetConfig"),
                           MODEL_MD.name)
    model = _replace_block(model, "sizes", sizes_table(model, measure), MODEL_MD.name)
    kd = KD_MD.read_text(encoding="utf-8")
    kd = _replace_block(kd, "kd-options", kd_options_table(), KD_MD.name)
    kd = _replace_block(kd, "kd-mapping", kd_mapping_table(), KD_MD.name)
    return {MODEL_MD: model, KD_MD: kd}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated block is not current")
    parser.add_argument("--measure", action="store_true", help="recount the MACs of the size table")
    args = parser.parse_args()
    pages = render(measure=args.measure)
    stale = [path for path, text in pages.items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: generated tables are not current: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(pages[path], encoding="utf-8")
        tmp.replace(path)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
