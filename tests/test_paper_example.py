"""The example paper end to end: real BH and top-k routing -> results.json -> figkit build -> main.pdf."""

import fcntl
import re
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from figkit import build, load_results, write_results
from figkit.latex import compile_pdf
from figkit.lint import check_pdf_text
from tests.helpers import pdf_fonts, pdf_text

EXAMPLE = Path(__file__).parent.parent / "paper_example"
sys.path.insert(0, str(EXAMPLE))

import make_results  # noqa: E402
import simulate  # noqa: E402

pytestmark = pytest.mark.slow  # builds, LaTeX and processes


@pytest.fixture(scope="module")
def paper(tmp_path_factory, worker_id):
    """The example built and compiled once for every test worker (the first to ask builds, the others wait
    and read it: each build takes 40 s); the tests only read it."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    folder = shared / "paper_example"
    with open(shared / "paper_example.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "main.pdf.path").exists():
            folder.mkdir()
            results = write_results(folder / "results.json", **make_results.results())
            shutil.copy(EXAMPLE / "main.tex", folder)
            report = build(results, folder / "build", tex=folder / "main.tex")  # as the example's Makefile does
            assert report.ok, report.failed
            (folder / "main.pdf.path").write_text(str(compile_pdf(folder / "main.tex")))
    return load_results(folder / "results.json"), folder, Path((folder / "main.pdf.path").read_text())


def pooled(results, method):
    values = [
        np.repeat([int(k) for k in e["histogram"]], list(e["histogram"].values()))
        for e in results["expert_counts"]
        if e["method"] == method
    ]
    return np.concatenate(values)


def test_bh_counts_match_scipy():
    p = np.random.default_rng(1).random((500, 64)) ** 3
    for alpha in simulate.ALPHAS:
        rejected = (false_discovery_control(p, axis=1) <= alpha).sum(axis=1)
        assert np.array_equal(simulate.bh_counts(p, alpha), np.clip(rejected, simulate.MIN_K, simulate.MAX_K))


def test_every_number_agrees_with_every_other(paper):
    results, _, _ = paper
    metrics = results["metrics"]
    sweep = results["sweeps"][0]
    for method in results["methods"]:
        counts = pooled(results, method["id"])
        assert counts.size == simulate.NUM_TOKENS * simulate.NUM_LAYERS
        assert metrics[method["id"]]["avg_experts"]["mean"] == pytest.approx(counts.mean(), rel=1e-12)
        assert metrics[method["id"]]["avg_experts"]["std"] == pytest.approx(counts.std(), rel=1e-12)
        assert metrics[method["id"]]["compute"] == pytest.approx(100 * counts.mean() / simulate.TOP_K)
        if method["family"] == "bh":
            at = sweep["values"].index(method["params"]["alpha"])
            assert sweep["avg_experts"][at] == pytest.approx(counts.mean(), rel=1e-12)
    assert np.all(pooled(results, "topk8") == simulate.TOP_K)
    (stats,) = results["token_stats"]
    load_entry = next(e for e in results["expert_load"] if e["method"] == "bh05" and e["layer"] == stats["layer"])
    load = load_entry["counts"]
    assert load_entry["num_tokens"] == simulate.NUM_TOKENS
    assert sum(load) == sum(k * n for histogram in stats["expert_histograms"] for k, n in enumerate(histogram))
    for sample in results["routing_samples"]:
        assert np.allclose(np.sum(sample["weights"], axis=1), 1, atol=1e-3)


def test_the_paper_quotes_the_numbers_of_the_results_file(paper):
    results, folder, pdf = paper
    text = " ".join(pdf_text(pdf).split())
    bh05 = pooled(results, "bh05")
    assert f"BH at α = 0.05 selects {bh05.mean():.2f} ± {bh05.std():.2f} experts per token" in text
    assert f"{100 * bh05.mean() / 8:.1f} % of the compute of top-8" in text  # three figures, as the table
    assert text.count(f"{bh05.mean():.2f} ± {bh05.std():.2f}") == 2  # the abstract and the table
    assert "Figure 4: Experts selected against token frequency" in text
    assert all(kind != "Type 3" for _, kind, _ in pdf_fonts(pdf))
    appendix = " ".join(pdf_text(folder / "build" / "appendix.pdf").split())
    assert f"BH (α = 0.05): experts selected per token ({bh05.size // 16:,} tokens × 16 layers, pooled)." in appendix


def test_the_example_build_and_the_paper_pass_the_pdf_linter(paper):
    """Every figure as built; the appendix and the paper as compiled (their text mixes the body and
    the figures' fonts, so only overlaps, the page and sizes are checked there)."""
    _, folder, pdf = paper
    figures = sorted((folder / "build" / "figures").glob("*.pdf"))
    # 20, four more loads, two loads across layers, the top-1 paths, vocabulary, two of domains, saturation,
    # router confidence (top-1 probability, entropy and BH's smallest p-value)
    assert len(figures) == 38
    for path in figures:
        assert check_pdf_text(path) == [], path.name
    for document in (folder / "build" / "appendix.pdf", pdf):
        assert check_pdf_text(document, families=None) == [], document.name


def test_the_example_paper_bundles_for_arxiv_with_only_the_figures_it_includes(paper, tmp_path):
    from figkit.bundle import bundle

    _, folder, _ = paper
    made = bundle(folder / "main.tex", tmp_path / "arxiv.zip")  # compiled alone, in an empty folder
    included = sorted(re.findall(r"\\includegraphics\{(build/figures/[^}]+)\}", (folder / "main.tex").read_text()))
    assert made.files == included and len(included) == 4
    with zipfile.ZipFile(tmp_path / "arxiv.zip") as archive:
        assert sorted(archive.namelist()) == sorted([*included, "main.tex"])  # no caches, logs or other figures
        source = archive.read("main.tex").decode()
    assert "\\input" not in source and "\\figkitvalue" in source and "\\colorbox" in source
