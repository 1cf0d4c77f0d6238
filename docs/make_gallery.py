"""Render every registered figure in every style to docs/gallery/ and write docs/gallery.md.

    python docs/make_gallery.py      (or: make gallery)

The data is the example paper's results file, read by each figure's own ``jobs``: the
gallery shows the first figure a build would make of each family.
"""

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import figkit  # noqa: E402
from figkit.plots import figure_specs  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "paper_example"))
import make_results  # noqa: E402

STYLES = [("notebook",), ("paper",), ("paper-cm",), ("paper", "colourblind"), ("slide",), ("slide", "colourblind")]
PIXELS_WIDE = 900


def example_results():
    with tempfile.TemporaryDirectory() as folder:
        return figkit.load_results(figkit.write_results(Path(folder) / "results.json", **make_results.results()))


def main():
    results = example_results()
    out = ROOT / "gallery"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    lines = [
        "# Gallery",
        "",
        "The first figure `figkit build` makes of each family, from the example paper's results "
        "(`paper_example/make_results.py`), in every style; made by `make gallery`.",
        "",
    ]
    for spec in figure_specs():
        job = next(iter(spec.jobs(results)))
        data = spec.prepare(**job.arguments)
        lines += [f"## {spec.title} (`{spec.function_name}`)", "", "| style | figure |", "|---|---|"]
        for styles in STYLES:
            label = " + ".join(styles)
            path = out / f"{spec.name}--{'-'.join(styles)}.png"
            with figkit.use_style(*styles):
                fig = spec.plot(data)
                figkit.save_figure(fig, path, dpi=PIXELS_WIDE / fig.get_figwidth())
            plt.close(fig)
            lines.append(f"| `{label}` | ![{spec.name} in {label}](gallery/{path.name}) |")
        lines.append("")
    (ROOT / "gallery.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
