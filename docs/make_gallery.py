"""Render every figure in every style to docs/gallery/ and write docs/gallery.md.

    python docs/make_gallery.py      (or: make gallery)
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import figkit  # noqa: E402
from figkit.plots import report  # noqa: E402
from figkit.plots._figure import render  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "paper_example"))
import simulate  # noqa: E402

STYLES = [("notebook",), ("paper",), ("paper-cm",), ("paper", "colourblind"), ("slide",), ("slide", "colourblind")]
PIXELS_WIDE = 900


def main():
    prepared = report.plan(simulate.report_data())
    out = ROOT / "gallery"
    out.mkdir(exist_ok=True)
    lines = ["# Gallery", "", "Every figure of the bundled example (`paper_example/simulate.py`) in every style, "
             "made by `make gallery`.", ""]
    for name, (module, data) in prepared.items():
        lines += [f"## {name.replace('_', ' ').capitalize()}", "", "| style | figure |", "|---|---|"]
        for styles in STYLES:
            label = " + ".join(styles)
            path = out / f"{name}--{'-'.join(styles)}.png"
            with figkit.use_style(*styles):
                fig = render(module.draw, data, figsize=None, dpi=None, save_path=None)
                figkit.save_figure(fig, path, dpi=PIXELS_WIDE / fig.get_figwidth())
            plt.close(fig)
            lines.append(f"| `{label}` | ![{name} in {label}](gallery/{path.name}) |")
        lines.append("")
    (ROOT / "gallery.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
