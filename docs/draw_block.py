"""Draw docs/figures/bccmt_block.svg: the BC-CMT network and one proposed block, as implemented.

    python docs/draw_block.py            # or: make docs-figures

Left: the network with the tensor shape after each part. Right: one proposed BC-CMT block
(LPU, BC-LMHSA-1D, BC-IRFFN), with the operations on 2D maps (C x F x T) and on their
frequency means (C x T) in different colours, where the frequency mean is taken and where the
1D result is broadcast back over frequency, and the attention map that distillation uses.
The drawing follows bccmt_tools/models/ (bccmt.py, blocks.py, attention.py, ffn.py, pooling.py).
The SVG is deterministic (no date, fixed ids), so regenerating it changes no bytes.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures" / "bccmt_block.svg"

COLOR_2D = "#dbe9f6"     # operations on C x F x T maps
COLOR_1D = "#fde7c8"     # operations on frequency means, C x T
COLOR_ATT = "#f6c6c6"    # the attention map (distilled)
COLOR_IO = "#e8e8e8"
EDGE = "#444444"


def box(ax, x, y, w, h, text, color, size=8.5, bold=False):
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                           facecolor=color, edgecolor=EDGE, linewidth=0.8)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=size, fontweight="bold" if bold else "normal")
    return (x, y, w, h)


def arrow(ax, start, end, text=None, style="-|>", color=EDGE, rad=0.0, size=7.5, offset=(0.08, 0.0)):
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=9, linewidth=0.9, color=color,
                            connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0)
    ax.add_patch(patch)
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text, fontsize=size,
                ha="left", va="center", color="#333333")


def route(ax, points, label=None, label_at=None):
    """A skip connection: straight segments through ``points``, an arrow head on the last one."""
    xs, ys = zip(*points[:-1])
    ax.plot(list(xs) + [points[-1][0]], list(ys) + [points[-1][1]], color=EDGE, linewidth=0.9)
    arrow(ax, points[-2], points[-1])
    if label:
        ax.text(label_at[0], label_at[1], label, fontsize=8, color="#333333", va="center", ha="center",
                style="italic")


def below(b):
    return (b[0], b[1] - b[3] / 2)


def above(b):
    return (b[0], b[1] + b[3] / 2)


def network(ax):
    x, w, h = 1.55, 3.1, 0.62
    ax.text(x, 15.4, "BC-CMT (proposed)", ha="center", fontsize=11, fontweight="bold")
    rows = [
        ("fbank, 80 bins x T frames", "1 x 80 x T", COLOR_IO),
        ("stem: conv 3x3 stride (2,1), BN, ReLU\n+ 2 BC-ResNet blocks", "c_s x 40 x T", COLOR_2D),
        ("stage 1: patch embed (2,1)\nd1 blocks, 1 head, k = 8", "C1 x 20 x T", COLOR_2D),
        ("stage 2: patch embed (2,2)\nd2 blocks, 2 heads, k = 4", "C2 x 10 x T/2", COLOR_2D),
        ("stage 3: patch embed (2,2)\nd3 blocks, 4 heads, k = 2", "C3 x 5 x T/4", COLOR_2D),
        ("stage 4: patch embed (1,1)\nd4 blocks, 8 heads, k = 1", "C4 x 5 x T/4", COLOR_2D),
        ("FSD-ASP: attention over F, mean+std;\nattentive statistics over time", "4 C4", COLOR_1D),
        ("BN, Linear, BN", "192-d embedding", COLOR_IO),
    ]
    y, boxes = 14.5, []
    for text, shape, color in rows:
        b = box(ax, x, y, w, h + (0.2 if "\n" in text else 0), text, color, size=7.6)
        ax.text(x + w / 2 + 0.1, y, shape, fontsize=7.6, va="center", ha="left", style="italic")
        boxes.append(b)
        y -= 1.45
    for first, second in zip(boxes, boxes[1:]):
        arrow(ax, below(first), above(second))
    ax.text(x, y + 0.55, "Tiny: c_s 16, C 16/32/48/64, d 2/2/4/2\nBase: c_s 32, C 32/64/96/128, d 3/3/8/3\n"
            "(heads, k and strides equal for all sizes)", ha="center", va="top", fontsize=7.2)
    # bracket to the block on the right
    ax.annotate("", xy=(5.15, 11.6), xytext=(4.45, 11.6), arrowprops=dict(arrowstyle="-|>", color="#888888",
                                                                           linestyle="--", linewidth=0.9))
    ax.text(4.8, 11.8, "each block", fontsize=7.2, ha="center", color="#555555")


def block(ax):
    x0 = 8.45
    ax.text(x0, 15.4, "one BC-CMT block (input x: C x F x T)", ha="center", fontsize=11, fontweight="bold")
    lpu = box(ax, x0, 14.6, 3.6, 0.5, "LPU: x + depthwise conv 3x3 (x)", COLOR_2D)
    # BC-LMHSA-1D
    ax.add_patch(FancyBboxPatch((x0 - 3.0, 7.95), 6.0, 6.05, boxstyle="round,pad=0.05", facecolor="none",
                                edgecolor="#999999", linestyle="--", linewidth=0.8))
    ax.text(x0 - 2.9, 13.8, "BC-LMHSA-1D", fontsize=8.5, fontweight="bold", va="center")
    z = box(ax, x0, 13.2, 4.7, 0.55, "z = SubSpectralNorm(freq. depthwise 3x1 (BN(x)))", COLOR_2D)
    s = box(ax, x0, 12.2, 2.6, 0.5, "s = mean over F of z", COLOR_1D)
    q = box(ax, x0 - 1.6, 11.1, 2.2, 0.5, "Q = 1x1 conv (s)", COLOR_1D)
    kv = box(ax, x0 + 1.4, 11.1, 2.9, 0.85, "group conv, kernel = stride = k\n(4 channels per group), BN\n"
             "K, V = 1x1 conv", COLOR_1D, size=7.6)
    att = box(ax, x0, 9.85, 4.6, 0.65, "A = softmax(Q K^T / sqrt(d) + relative bias)\n"
              "h x T x ceil(T/k): the map distilled from the teacher", COLOR_ATT, size=7.6)
    o = box(ax, x0, 8.85, 2.4, 0.5, "o = 1x1 conv (A V)", COLOR_1D)
    add1 = box(ax, x0, 7.55, 3.4, 0.55, "x + z + broadcast over F (o)", COLOR_2D, bold=True)
    arrow(ax, below(lpu), above(z))
    arrow(ax, below(z), above(s), "mean over frequency")
    arrow(ax, (s[0] - 0.6, s[1] - 0.25), above(q))
    arrow(ax, (s[0] + 0.6, s[1] - 0.25), above(kv))
    arrow(ax, below(q), (att[0] - 1.6, att[1] + 0.325))
    arrow(ax, below(kv), (att[0] + 1.4, att[1] + 0.325))
    arrow(ax, below(att), above(o))
    arrow(ax, below(o), above(add1), "broadcast to F bins")
    route(ax, [(z[0] + 2.35, z[1]), (x0 + 2.75, z[1]), (x0 + 2.75, add1[1]), (add1[0] + 1.7, add1[1])],
          "z", (x0 + 2.9, 10.9))
    route(ax, [(x0, 14.1), (x0 - 3.3, 14.1), (x0 - 3.3, add1[1]), (add1[0] - 1.7, add1[1])], "x", (x0 - 3.45, 10.9))
    # BC-IRFFN
    ax.add_patch(FancyBboxPatch((x0 - 3.0, 1.45), 6.0, 5.55, boxstyle="round,pad=0.05", facecolor="none",
                                edgecolor="#999999", linestyle="--", linewidth=0.8))
    ax.text(x0 - 2.9, 6.8, "BC-IRFFN", fontsize=8.5, fontweight="bold", va="center")
    u = box(ax, x0, 6.2, 4.0, 0.5, "u = BN(GELU(1x1 conv C -> R C (x)))", COLOR_2D)
    z2 = box(ax, x0, 5.2, 4.6, 0.5, "z = SubSpectralNorm(freq. depthwise 3x1 (u))", COLOR_2D)
    t = box(ax, x0, 4.15, 4.2, 0.65, "t = dropout(SiLU(BN(temporal depthwise 1x3\n(mean over F of z))))",
            COLOR_1D, size=7.6)
    mix = box(ax, x0, 3.05, 3.2, 0.5, "u + z + broadcast over F (t)", COLOR_2D)
    proj = box(ax, x0, 2.1, 4.4, 0.5, "y = BN(1x1 conv R C -> C (BN(GELU(.))))", COLOR_2D)
    out = box(ax, x0, 0.9, 1.6, 0.5, "x + y", COLOR_2D, bold=True)
    arrow(ax, below(add1), above(u))
    arrow(ax, below(u), above(z2))
    arrow(ax, below(z2), above(t))
    arrow(ax, below(t), above(mix))
    arrow(ax, below(mix), above(proj))
    arrow(ax, below(proj), above(out))
    route(ax, [(x0, 7.16), (x0 - 3.3, 7.16), (x0 - 3.3, out[1]), (out[0] - 0.8, out[1])], "x", (x0 - 3.45, 4.0))
    route(ax, [(u[0] + 2.0, u[1]), (x0 + 2.6, u[1]), (x0 + 2.6, mix[1]), (mix[0] + 1.6, mix[1])], "u",
          (x0 + 2.75, 4.6))
    route(ax, [(z2[0] - 2.3, z2[1]), (x0 - 2.6, z2[1]), (x0 - 2.6, mix[1]), (mix[0] - 1.6, mix[1])], "z",
          (x0 - 2.75, 4.6))
    # legend
    for k, (color, text) in enumerate([(COLOR_2D, "on C x F x T maps"), (COLOR_1D, "on frequency means, C x T"),
                                       (COLOR_ATT, "attention map used for KD")]):
        box(ax, 1.0, 1.75 - 0.55 * k, 0.45, 0.35, "", color)
        ax.text(1.35, 1.75 - 0.55 * k, text, fontsize=7.6, va="center")


def main():
    plt.rcParams["svg.hashsalt"] = "bccmt-docs"
    plt.rcParams["svg.fonttype"] = "none"
    figure, ax = plt.subplots(figsize=(11.0, 11.2))
    ax.set_xlim(-0.4, 12.0)
    ax.set_ylim(0.3, 15.9)
    ax.axis("off")
    network(ax)
    block(ax)
    OUT.parent.mkdir(exist_ok=True)
    tmp = OUT.with_name(f".{OUT.name}.tmp")
    figure.savefig(tmp, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(figure)
    tmp.replace(OUT)
    print(f"wrote {OUT.relative_to(OUT.parent.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
