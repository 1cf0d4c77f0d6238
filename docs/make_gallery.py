"""Render every registered figure at a paper's sizes and in every style to docs/gallery/ and write
docs/gallery.md.

    python docs/make_gallery.py      (or: make gallery)

Three results files are read by each figure's own ``jobs``, and the gallery shows the first
figure a build makes of each family from each that has its sections: the example paper's simulation
(``paper_example/make_results.py``), real routing of a trained OLMoE (``tests/real_routing.py``) and
the model example's training as TensorBoard logged it (``tests/data/model_example_training.json``).
All are drawn as a paper prints them, one ICML column and NeurIPS's text wide; the simulation also in
every other style, the real data also on a colour-blind slide.
"""

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import figkit  # noqa: E402
from figkit.latex import escape_markdown, markdown_label  # noqa: E402
from figkit.plots import figure_specs  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent / "paper_example"), str(ROOT.parent)]
import make_results  # noqa: E402

from tests import real_routing  # noqa: E402

# (name in the gallery, style names, use_style's sizing): a paper's two sizes first.
PAPER_SIZES = [("icml-column", ("paper",), {"venue": "icml"}), ("neurips-text", ("paper",), {"venue": "neurips"})]
STYLES = PAPER_SIZES + [
    (name, names, {})
    for names in [("notebook",), ("paper-cm",), ("paper", "colourblind"), ("slide",), ("slide", "colourblind")]
    for name in ["-".join(names)]
]
REAL_STYLES = PAPER_SIZES + [("slide-colourblind", ("slide", "colourblind"), {})]
PIXELS_WIDE = 900


def validated(sections):
    with tempfile.TemporaryDirectory() as folder:
        return figkit.load_results(figkit.write_results(Path(folder) / "results.json", **sections))


def main():
    sources = [
        ("simulated", validated(make_results.results()), STYLES),
        ("real", validated(real_routing.sections()), REAL_STYLES),
        ("training", figkit.load_results(ROOT.parent / "tests" / "data" / "model_example_training.json"), REAL_STYLES),
    ]
    out = ROOT / "gallery"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    lines = [
        "# Gallery",
        "",
        "The first figure `figkit build` makes of each family, from the example paper's simulated routing "
        "(`paper_example/make_results.py`) and from real routing: the router logits of a briefly trained OLMoE, "
        "routed with top-8 and BH (`tests/real_routing.py`); training figures from the model example's own "
        "training, logged with TensorBoard's SummaryWriter and read by `figkit import` "
        "(`tests/data/model_example_training.json`). Each is drawn as a paper prints it, one ICML column "
        "(3.25 in) and NeurIPS's text (5.5 in) wide; the simulation also in every other style. The PNGs "
        "are the same number of pixels wide, so a narrow figure's text looks larger here than in print. Made by "
        "`make gallery`.",
        "",
    ]
    for spec in figure_specs():
        lines += [f"## {spec.title} (`{spec.function_name}`)", "", "| data | style | figure |", "|---|---|---|"]
        captions = []
        for source, results, styles_list in sources:
            if not set(spec.sections) & set(results):
                continue
            job = next(iter(spec.jobs(results)), None)
            if job is None:
                said = next(iter(spec.omitted(results)), None) if spec.omitted else None
                why = "".join(said) if said else "the data has nothing for it"
                lines.append(f"| {source} | | (no figure: {why}) |")
                continue
            captions.append(f"- {source}: {caption_markdown(job.caption)}")
            data = spec.prepare(**job.arguments)
            for name, styles, sizing in styles_list:
                label = " + ".join(styles) + "".join(f", {key} {value}" for key, value in sizing.items())
                path = out / f"{spec.name}--{source}--{name}.png"
                with figkit.use_style(*styles, **sizing):
                    fig = spec.plot(data)
                    figkit.save_figure(fig, path, dpi=PIXELS_WIDE / fig.get_figwidth())
                plt.close(fig)
                lines.append(f"| {source} | `{label}` | ![{spec.name}, {source} data, {label}](gallery/{path.name}) |")
        if captions:  # paper figures carry no title: their captions, as a build writes them, say what they show
            lines += ["", "Captions, as the build writes them:", "", *captions]
        lines.append("")
    (ROOT / "gallery.md").write_text("\n".join(lines))


def caption_markdown(parts):
    """A figure's caption (text, label, text, ...) as Markdown: text escaped, labels' maths as Unicode."""
    shown = [(markdown_label if i % 2 else escape_markdown)(part) for i, part in enumerate(parts)]
    # Each part is shown with its spaces squeezed, also those at its ends, which join it to the next.
    return "".join(
        " " * part[:1].isspace() + text + " " * part[-1:].isspace() for part, text in zip(parts, shown) if part
    )


if __name__ == "__main__":
    main()
