"""`bench report` and `bench compare` on a real study (``tiny_study`` in conftest.py: two
entries, two trials and two repeats each, 20 steps, two objectives). The page is checked
as a file (self-contained: every image inline and a PNG), as the study's summary
artifact, and as Chromium renders it (headless: tables shown, every image decoded)."""

import base64
import html
import io
import json
import re
import shutil
import subprocess

import pytest
from mlflow import MlflowClient
from PIL import Image
from scipy import stats

from bench import evaluator, leaderboard
from bench.study import spec
from bench.tracking import default_tracking_uri

ENTRIES = ("seed000-fc", "seed002-fc")  # tiny_study's
IMAGES = 1 + 3 * len(ENTRIES)  # the Pareto front, then per entry: curves, samples, mode histogram
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
# run in the page once it has loaded (images decoded): what a reader would see, as attributes of <body>
PROBE = """<script>window.addEventListener("load", () => {
  const shown = (e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0;
  document.body.dataset.images = JSON.stringify([...document.images].map((i) => [i.naturalWidth, shown(i)]));
  document.body.dataset.tables = JSON.stringify([...document.querySelectorAll("table")].map((t) => [t.rows.length, shown(t)]));
});</script>"""


@pytest.fixture
def study(in_tiny_study):
    return in_tiny_study.path


@pytest.fixture(scope="module")
def page(tiny_study, tmp_path_factory):
    """The page `bench report` writes, with a comparison against the study's own saved leaderboard."""
    from bench.study import page as report_page

    folder = tmp_path_factory.mktemp("pages")
    plan = spec.load(str(tiny_study.path))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_HOME", str(tiny_study.home))
        leaderboard.export(leaderboard.build(plan.name, plan.objectives, plan.baseline), "csv", folder / "board.csv")
        path = report_page.write(plan, folder, compare_with=str(folder / "board.csv"), progress=False)
    return path


def images_of(text):
    return re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)"', text)


def test_the_command_writes_one_page_named_after_the_study(study, bench, tmp_path):
    code, out, err = bench("report", "--study", study, "--out", tmp_path, "--no-progress")
    assert code == 0 and out.startswith(f"report of tiny written to {tmp_path / 'tiny-report.html'} (") and err == ""
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-report.html"]


def test_the_page_is_self_contained_and_shows_every_part(page, tiny_study):
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", text) and "<link" not in text and "<script" not in text
    assert "url(" not in text and "@import" not in text  # no fetches from the CSS either
    images = images_of(text)
    assert len(images) == text.count("<img") == IMAGES
    for data, alt in images:
        picture = Image.open(io.BytesIO(base64.b64decode(data)))
        assert picture.format == "PNG" and min(picture.size) > 50, alt
    alts = [alt for _, alt in images]
    assert alts[0] == "Pareto front of mnist"
    assert alts[1:4] == ["curves of mnist/seed002-fc", "samples of mnist/seed002-fc", "mode histogram of mnist/seed002-fc"] or \
        alts[1:4] == ["curves of mnist/seed000-fc", "samples of mnist/seed000-fc", "mode histogram of mnist/seed000-fc"]
    for part in ("Leaderboard", "repeat_fid_mean [95% CI] (n)", "p_holm_vs_baseline", "Holm", "GPU-seconds", "wall time",
                 evaluator.load("mnist").sha256, "Compared with", "B - A", "Study file", html.escape(tiny_study.text)):
        assert part in text, part
    assert all(f"<h3>{entry} " in text for entry in ENTRIES)


def test_the_page_is_the_study_summary_runs_report_artifact(page, study):
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("tiny").experiment_id
    (summary,) = client.search_runs([experiment], "tags.kind = 'summary'")
    logged = client.download_artifacts(summary.info.run_id, "report.html", str(page.parent / "logged"))
    text = open(logged).read()
    assert len(images_of(text)) == IMAGES and "Leaderboard" in text and "Compared with" not in text


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium): the page's rendering is not checked")
def test_chromium_shows_the_tables_and_decodes_every_image(page, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "\n</body>"))
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000"]
    dom = subprocess.run([*browser, "--dump-dom", probed.as_uri()], capture_output=True, text=True, check=True).stdout
    images = json.loads(html.unescape(re.search(r'data-images="([^"]*)"', dom).group(1)))
    tables = json.loads(html.unescape(re.search(r'data-tables="([^"]*)"', dom).group(1)))
    assert len(images) == IMAGES and all(width > 0 and shown for width, shown in images), images
    facts, board, comparison = tables
    assert board == [1 + len(ENTRIES), True] and comparison == [1 + len(ENTRIES), True] and facts[0] >= 10 and facts[1]
    subprocess.run([*browser, f"--screenshot={tmp_path / 'page.png'}", page.as_uri()], capture_output=True, check=True)
    screenshot = Image.open(tmp_path / "page.png").convert("L")
    assert screenshot.size == (1400, 1000) and screenshot.getextrema()[0] < 100  # drawn: dark text on the white page


def test_two_entries_of_the_study_compare_with_welch_on_their_repeats(study, bench):
    code, out, err = bench("compare", f"{study}:seed000-fc", f"{study}:seed002-fc")
    assert code == 0 and "seed000-fc vs seed002-fc" in out
    client = MlflowClient(default_tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.kind = 'repeat'")
    fid = {entry: [r.data.metrics["fid"] for r in runs if r.data.tags["entry"] == entry] for entry in ENTRIES}
    p = stats.ttest_ind(fid["seed000-fc"], fid["seed002-fc"], equal_var=False).pvalue
    row = next(line for line in out.splitlines() if line.startswith("mnist"))
    assert row.split()[-2] == row.split()[-1] == f"{p:.4g}"  # one test: Holm leaves it as it is
