"""Quarto reports through the package's renderer: parsing, rendering, failures, privacy of the HTML."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import BUNDLED, ROOT, write_tables

from itoutcomes import load_cohort
from itoutcomes.cli import main
from itoutcomes.conversion import conversion_rate
from itoutcomes.reports import ReportError, embedded_images, parse_qmd, render_report
from itoutcomes.synthetic import generate

REPORTS = ROOT / "reports"


def test_parse_qmd_options_and_errors():
    meta, cells = parse_qmd(
        '---\ntitle: A\n---\n# H\n```{python}\n#| echo: true\n#| fig-cap: "C"\nx = 1\n```\ntext\n'
    )
    assert meta == {"title": "A"}
    assert [c.kind for c in cells] == ["markdown", "code", "markdown"]
    assert (
        cells[1].options == {"echo": True, "fig-cap": "C"}
        and cells[1].source == "x = 1"
        and cells[1].line == 6
    )
    with pytest.raises(ReportError, match="never closed"):
        parse_qmd("```{python}\nx = 1\n")


CONSOLE: dict[str, str] = {}
"""What the module's render printed (the command runs in a process of its own, kernels included)."""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    command = [
        sys.executable,
        "-c",
        "import sys; from itoutcomes.cli import main; sys.exit(main())",
        "report",
        "--cohort",
        str(BUNDLED),
        "--out",
        str(out),
        "--reports",
        str(REPORTS),
        "--format",
        "html,docx,pdf",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    CONSOLE.update(stdout=done.stdout, stderr=done.stderr)
    return out


def _cells(page: Path) -> list[str]:
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page.read_text(), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]


def test_every_report_renders_with_figures_and_contents(rendered):
    for qmd in REPORTS.glob("[!_]*.qmd"):
        page = rendered / f"{qmd.stem}.html"
        text = page.read_text()
        assert text.startswith("<!DOCTYPE html>") and "<nav>" in text
        assert "http://" not in text and "https://" not in text  # self-contained, no network to view
        assert all(image.startswith(b"\x89PNG") for image in embedded_images(page))
    assert len(embedded_images(rendered / "index.html")) >= 1


def test_report_numbers_equal_the_library(rendered):
    row = conversion_rate(load_cohort(BUNDLED)).conversion().iloc[0]
    cells = _cells(rendered / "conversion.html")
    assert str(int(row["n"])) in cells and str(int(row["n_event"])) in cells
    shown = f"{row['estimate']:.3g} ({row['ci_low']:.3g} to {row['ci_high']:.3g})"  # the interval in its cell
    assert shown in cells


def _columns(attributes: str, body: str) -> list[str]:
    """A report table's column names in order (its ``data-columns``); each has a heading whose id is
    the table's ``data-id``, a dash, the name (a spanner's heading spans a ``colgroup``)."""
    table_id = re.search(r'data-id="([^"]*)"', attributes).group(1)
    columns = html.unescape(re.search(r'data-columns="([^"]*)"', attributes).group(1)).split(",")
    headings = re.findall(r'<th[^>]*scope="col"[^>]*\bid="([^"]*)"', body)
    assert sorted(i[len(table_id) + 1 :] for i in headings) == sorted(columns), (table_id, headings)
    return columns


def _rows(body: str) -> list[list[str]]:
    """The cell texts of a table's body rows (headings and source notes left out)."""
    rows = [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]
    return [r for r in rows if r]


def _count_cells(page: Path) -> list[str]:
    """The cells of every table column marked as counts (``data-counts``)."""
    found = []
    for attributes, body in re.findall(r"<table([^>]*)>(.*?)</table>", page.read_text(), re.S):
        if 'data-layout="table-one"' in attributes:  # counts in rows: "Patients, n", "Female, n (%)"
            for cells in _rows(body):
                if cells[0].endswith(", n"):
                    found += cells[1:]
                elif cells[0].endswith(", n (%)"):
                    found += [c.split(" ")[0] for c in cells[1:]]
            continue
        marked = re.search(r'data-counts="([^"]*)"', attributes)
        assert marked is not None, "every table in a report must say which columns are counts"
        counts = set(html.unescape(marked.group(1)).split(",")) - {""}
        columns = _columns(attributes, body) if "data-id=" in attributes else []
        for cells in _rows(body):
            found += [c for h, c in zip(columns, cells, strict=False) if h in counts]
    return found


def test_small_cohort_shows_no_small_counts(tmp_path):
    small = generate(45, n_controls=45, seed=3).write(tmp_path / "small")
    out = tmp_path / "out"
    assert main(["report", "--cohort", str(small), "--out", str(out), "--reports", str(REPORTS)]) == 0
    for qmd in REPORTS.glob("[!_]*.qmd"):
        cells = _count_cells(out / f"{qmd.stem}.html")
        assert cells, qmd.name
        small_counts = [c for c in cells if re.fullmatch(r"\d+", c) and 1 <= int(c) <= 10]
        assert not small_counts, (qmd.name, small_counts)
    assert "—" in _count_cells(out / "index.html")


def test_failing_cell_stops_with_the_cell_and_error(tmp_path):
    qmd = tmp_path / "broken.qmd"
    qmd.write_text(
        "---\ntitle: Broken\n---\n```{python}\nx = 1\n```\n\n```{python}\ny = undefined_name + 1\n```\n"
    )
    with pytest.raises(
        ReportError,
        match=r"broken\.qmd: the cell on line 9 \('y = undefined_name \+ 1'\) failed: .*NameError",
    ):
        render_report(qmd, tmp_path / "out")
    assert not (tmp_path / "out" / "broken.html").exists()


def test_invalid_cohort_stops_the_report(tmp_path, tables, capsys):
    tables["pain"].loc[0, "nrs"] = 14
    folder = write_tables(tmp_path / "bad", tables)
    assert (
        main(["report", "--cohort", str(folder), "--out", str(tmp_path / "out"), "--reports", str(REPORTS)])
        == 1
    )
    err = capsys.readouterr().err
    assert "failed validation" in err and "pain.nrs has 1 value outside 0-10" in err


def _report_tables(page: Path) -> dict[str, tuple[list[str], list[list[str]], set[str]]]:
    """Each table of a report by its caption's title, lower case: (column names, rows of cell texts,
    count columns); the parts of a table split to fit the page joined again (each repeats its
    ``data-keys`` columns)."""
    out: dict[str, tuple[list[str], list[list[str]], set[str]]] = {}
    text = page.read_text()
    found = re.findall(r"<table([^>]*)>\s*<caption>Table \d+: (.*?)</caption>(.*?)</table>", text, re.S)
    for attributes, title, body in found:
        marked = re.search(r'data-counts="([^"]*)"', attributes)
        counts = set(html.unescape(marked.group(1)).split(",")) if marked else set()
        columns, rows = _columns(attributes, body), _rows(body)
        title = html.unescape(title).lower()
        part = re.search(r'data-part="(\d+)/(\d+)" data-keys="(\d+)"', attributes)
        if part is None:
            out[title] = (columns, rows, counts)
            continue
        title = re.sub(r" \(\d+ of \d+\)$", "", title)
        keys = int(part.group(3))
        if part.group(1) == "1":
            out[title] = (columns, rows, counts)
        else:  # the next part: its own columns after the repeated keys
            before, rows_before, counts_before = out[title]
            assert [r[:keys] for r in rows] == [r[:keys] for r in rows_before], title
            out[title] = (
                before + columns[keys:],
                [a + b[keys:] for a, b in zip(rows_before, rows, strict=True)],
                counts_before | counts,
            )
    return out


def _csv_value(text: str):
    """A CSV cell as the release held it: a whole number, a number, or text."""
    if text in ("", "—"):
        return text
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def _table_one(frame: pd.DataFrame) -> list:
    """Table 1's CSV (a row per indication and characteristic) as the report must print it: a column
    per indication, a row per characteristic and then its SMD; "—" where a count it needs is hidden."""
    from itoutcomes.tables import cell_text

    groups = list(dict.fromkeys(frame["indication"]))
    record = {(r["indication"], r["measure"]): r for r in frame.to_dict("records")}
    hidden = {
        g: {m: "—" in (r["n"], r["n_event"]) for (g2, m), r in record.items() if g2 == g} for g in groups
    }
    sizes = [
        next((r["n"] for (g2, _), r in record.items() if g2 == g and r["n"] != "—"), "—") for g in groups
    ]
    rows = [["Patients, n", *sizes]]
    for measure, name in (("female", "Female"), ("trialed", "Trialled"), ("age", "Age (years)")):
        cells, smds = [], []
        for g in groups:
            r = record[(g, measure)]
            if hidden[g][measure]:
                cells.append("—")
            elif measure == "age":
                cells.append(f"{float(r['estimate']):.1f} ({float(r['sd']):.1f})")
            else:
                cells.append(f"{r['n_event']} ({100 * float(r['estimate']):.1f}%)")
            smds.append("—" if hidden[g][measure] else cell_text("smd", float(r["smd"])))
        shown = "mean (SD)" if measure == "age" else "n (%)"
        rows += [[f"{name}, {shown}", *cells], [f"{name}, SMD", *smds]]
    return [["characteristic", *groups], rows]


def test_report_numbers_equal_the_run_csvs(rendered, tmp_path):
    from itoutcomes.tables import cell_text

    results = tmp_path / "results"
    plans = sorted(str(p) for p in (ROOT / "analyses").glob("*.yaml"))
    assert main(["run", *plans, "--cohort", str(BUNDLED), "--out", str(results)]) == 0
    pages = {
        "overview": "index",
        "conversion": "conversion",
        "pain": "pain",
        "opioids": "opioids",
        "complications": "complications",
        "comparative": "comparative",
        "pump": "pump",
    }
    compared = 0
    for plan, page in pages.items():
        tables = _report_tables(rendered / f"{page}.html")
        for csv in sorted((results / plan).glob("*.csv")):
            columns, rows, counts = tables[csv.stem.replace("_", " ")]
            frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
            if csv.stem == "baseline_by_indication":  # Table 1, a column per indication
                assert [columns, rows] == _table_one(frame), csv.name
                compared += sum(len(r) - 1 for r in rows)
                continue
            merged = {"estimate", "ci_low", "ci_high"} <= set(frame.columns)
            expected = [c for c in frame.columns if not (merged and c in ("ci_low", "ci_high"))]
            assert columns == expected, (csv.name, columns)
            assert len(rows) == len(frame), csv.name
            for row, (_, record) in zip(rows, frame.iterrows(), strict=True):
                # a rate per 100 patient-years and its interval with two decimals
                rate = "patient_years" in frame and record.get("measure", "rate") == "rate"
                for column, shown in zip(columns, row, strict=True):

                    def text(name, record=record, counts=counts, rate=rate):
                        decimals = 2 if rate else None
                        return cell_text(name, _csv_value(record[name]), counts=counts, decimals=decimals)

                    want = text(column)
                    if column == "estimate" and merged and want not in ("", "—"):
                        low, high = text("ci_low"), text("ci_high")
                        if "—" in (low, high):
                            want = f"{want} (—)"
                        elif low or high:
                            want = f"{want} ({low} to {high})"
                    assert shown == want, (csv.name, column, shown, record[column])
                    compared += 1
    assert compared > 500


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


_TABLES_OUTSIDE = """Array.from(document.querySelectorAll('table')).filter(t => {
  const box = t.getBoundingClientRect(), page = document.body.getBoundingClientRect();
  return box.left < page.left || box.right > page.right;
}).map(t => (t.querySelector('caption') || {}).textContent || 'a table without a caption')"""


def _open_in_chromium(files, screenshots=None):
    """Open each page in headless Chromium 1,280 px wide: every figure loads, the console shows no
    error, the page does not scroll sideways and no table reaches outside the page's text column; with
    ``screenshots`` (a folder), a full-page screenshot of each page is saved there."""
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("ITOUTCOMES_REQUIRE_BROWSER"):  # set by .ci/run: CI never skips this test
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            for file in files:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on(
                    "console",
                    lambda message, errors=errors: (
                        errors.append(message.text) if message.type == "error" else None
                    ),
                )
                page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                page.goto(file.as_uri())
                page.wait_for_load_state("load")
                images = page.evaluate("document.images.length")
                loaded = page.evaluate(
                    "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                )
                assert images == len(embedded_images(file)) and images >= 1, file.name
                assert loaded, f"{file.name}: a figure did not load"
                assert errors == [], (file.name, errors)
                assert page.evaluate("document.documentElement.scrollWidth") <= 1280, file.name
                assert page.evaluate(_TABLES_OUTSIDE) == [], file.name
                if screenshots is not None:
                    screenshots.mkdir(exist_ok=True)
                    page.screenshot(path=str(screenshots / f"{file.stem}.png"), full_page=True)
                page.close()
        finally:
            browser.close()


def test_reports_open_in_headless_chromium(rendered):
    _open_in_chromium(sorted(rendered.glob("*.html")), screenshots=rendered / "screenshots")
    shots = sorted(p.stem for p in (rendered / "screenshots").glob("*.png"))
    assert shots == _pages()


def test_rendering_twice_gives_the_same_tables(rendered, tmp_path):
    again = render_report(REPORTS / "conversion.qmd", tmp_path, params={"cohort_path": str(BUNDLED)})
    assert _report_tables(again) == _report_tables(rendered / "conversion.html")
    assert embedded_images(again) == embedded_images(rendered / "conversion.html")


def test_every_report_renders_on_a_tiny_cohort(tmp_path):
    # 40 patients, few events of each type: what cannot be estimated is a withheld row with its reason
    tiny = generate(40, seed=5).write(tmp_path / "tiny")
    out = tmp_path / "out"
    assert main(["report", "--cohort", str(tiny), "--out", str(out), "--reports", str(REPORTS)]) == 0
    pages = {p.stem for p in out.glob("*.html")}
    assert pages == {q.stem for q in REPORTS.glob("[!_]*.qmd")}
    text = (out / "complications.html").read_text()
    assert re.search(r"<th[^>]*>Note</th>", text)  # a withheld model, shown with its reason
    for page in sorted(pages):
        small_counts = [
            c for c in _count_cells(out / f"{page}.html") if re.fullmatch(r"\d+", c) and 1 <= int(c) <= 10
        ]
        assert not small_counts, (page, small_counts)
    # the pump's course on 40 patients: its tables are there, suppressed, and the page opens
    pump_page = (out / "pump.html").read_text()
    assert "life_table" in pump_page or "n_entered" in pump_page
    _open_in_chromium([out / "pump.html"])


def test_reports_share_one_set_up_and_filter_no_warnings():
    for qmd in REPORTS.glob("[!_]*.qmd"):
        text = qmd.read_text()
        if qmd.stem == "validity":
            # the one report about no cohort: it reads the committed validity study, loads no cohort
            assert "load_cohort" not in text and "data/validity" in text
        else:
            assert "{{< include _setup.qmd >}}" in text, qmd.name
        assert "simplefilter" not in text and "filterwarnings" not in text, qmd.name
    assert "simplefilter" not in (REPORTS / "_setup.qmd").read_text()


@pytest.mark.parametrize("name", ["nobody_trialled", "nobody_implanted"])
def test_reports_render_on_legal_edge_cohorts(name, tmp_path):
    from conftest import edge_cohorts

    folder = edge_cohorts()[name].write(tmp_path / "cohort")
    out = tmp_path / "out"
    assert main(["report", "--cohort", str(folder), "--out", str(out), "--reports", str(REPORTS)]) == 0
    assert (
        "No figure:"
        in (out / ("conversion.html" if name == "nobody_trialled" else "complications.html")).read_text()
    )


def _pages():
    return sorted(q.stem for q in REPORTS.glob("[!_]*.qmd"))


def test_a_clean_render_prints_one_line_per_report_and_no_warnings(rendered):
    lines = CONSOLE["stdout"].splitlines()
    assert len(lines) == len(_pages()) + 1 and lines[-1].startswith(f"{len(_pages())} report(s) in")
    for page, line in zip(sorted(_pages(), key=lambda p: (p != "index", p)), lines, strict=False):
        assert line.startswith(f"rendered {page}.qmd -> ") and f"{page}.docx, {page}.pdf" in line, line
    assert CONSOLE["stderr"] == ""  # no warning, from the package, the kernel or the converters
    for page in _pages():
        assert "class='stream'" not in (rendered / f"{page}.html").read_text(), page


def _html_captions(page: Path) -> list[str]:
    text = page.read_text()
    found = re.findall(r"<(figcaption|caption)>(.*?)</\1>", text, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for _, c in found]


def _html_tables(page: Path) -> list[list[list[str]]]:
    """Each table's rows of cell texts (header row first), as a reader sees them."""
    tables = []
    for body in re.findall(r"<table[^>]*>(.*?)</table>", page.read_text(), re.S):
        rows = []
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
        tables.append(rows)
    return tables


def _docx_rows(table) -> list[list[str]]:
    """A Word table's rows of cell texts, a merged cell once, in the row where it starts (as HTML's
    colspan and rowspan: a heading beside a spanner spans both heading rows)."""
    seen, rows = {}, []  # the cells' elements by id, kept alive so that no id is reused
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if id(cell._tc) not in seen:
                seen[id(cell._tc)] = cell._tc
                cells.append(cell.text.strip())
        rows.append(cells)
    return rows


def test_every_report_is_written_as_docx_with_the_same_tables_and_captions(rendered):
    import docx

    for page in _pages():
        document = docx.Document(str(rendered / f"{page}.docx"))
        ours = [_docx_rows(t) for t in document.tables]
        assert ours == _html_tables(rendered / f"{page}.html"), page
        captions = [
            p.text.strip()
            for p in document.paragraphs
            if p.style.name in ("Table Caption", "Image Caption") and p.text.strip()
        ]
        assert captions == _html_captions(rendered / f"{page}.html"), page
        assert len(document.inline_shapes) == len(embedded_images(rendered / f"{page}.html")) >= 1


def _pdftoppm_pages(pdf: Path, folder: Path) -> int:
    """How many page images poppler's ``pdftoppm`` rasterises ``pdf`` into (at 20 dpi)."""
    folder.mkdir()
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(pdf), str(folder / "page")], check=True, timeout=120)
    return len(list(folder.glob("page*.png")))


def test_every_report_is_written_as_pdf_with_its_captions(rendered, tmp_path):
    import pypdfium2

    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None and os.environ.get("ITOUTCOMES_REQUIRE_BROWSER"):  # .ci/run installs poppler
        pytest.fail("pdftoppm is not installed (apt-get install poppler-utils)")
    for page in _pages():
        pdf = pypdfium2.PdfDocument(str(rendered / f"{page}.pdf"))
        images = [pdf[i].render(scale=0.5).to_pil() for i in range(len(pdf))]
        assert len(images) == len(pdf) >= 1 and all(im.size[0] > 100 for im in images), page
        if pdftoppm is not None:  # one page image per page, as poppler rasterises it too
            assert _pdftoppm_pages(rendered / f"{page}.pdf", tmp_path / page) == len(pdf), page
        # the text layer splits words where glyphs are placed apart: compare without white space
        text = "".join("".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf)))
        for caption in _html_captions(rendered / f"{page}.html"):
            assert "".join(caption.split()) in text, (page, caption)
        pdf.close()


def test_report_refuses_an_unknown_format(tmp_path, capsys):
    code = main(["report", "--cohort", str(BUNDLED), "--out", str(tmp_path), "--format", "html,odt"])
    assert code == 2 and "--format takes html, docx, pdf" in capsys.readouterr().err


def test_a_table_wider_than_the_page_is_split_into_parts_that_fit():
    from itoutcomes.tables import PAGE_WIDTH, html_released

    wide = pd.DataFrame(
        {"outcome": ["death", "pain"], **{f"estimate_{i}": [0.123456, 1.5] for i in range(14)}, "n": [40, 50]}
    )
    page = html_released(wide, counts=["n"], raw=wide, title="effects")
    parts = re.findall(r'data-part="(\d)/(\d)" data-keys="(\d)"', page)
    assert len(parts) >= 2 and all(keys == "1" for _, _, keys in parts)
    assert re.findall(r"<caption>(.*?)</caption>", page)[0] == f"Effects (1 of {len(parts)})"
    for body in re.findall(r"<table.*?</table>", page, re.S):
        heads = re.findall(r"<th[^>]*>(.*?)</th>", body)
        assert heads[0] == "Outcome"
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body)]
        width = sum(max(len(h), 6) + 3 for h in heads)
        assert width <= PAGE_WIDTH + 10 and cells
    narrow = html_released(wide.iloc[:, :3], counts=[], raw=wide, title="effects")
    assert "data-part" not in narrow and "<caption>Effects</caption>" in narrow


def test_columns_under_one_heading_get_a_spanner_and_stay_in_one_part():
    from itoutcomes.tables import html_released

    effects = pd.DataFrame(
        {
            "outcome": ["death", "overdose"],
            "n_treated": [400, 300],
            "n_comparison": [500, 350],
            "n_event_treated": [120, 40],
            "n_event_comparison": [200, 60],
            "p_value": [0.2, 0.004],
        }
    )
    counts = ["n_treated", "n_comparison", "n_event_treated", "n_event_comparison"]
    page = html_released(effects, counts=counts, raw=effects, title="effects")
    spanners = re.findall(r'colspan="(\d)" scope="colgroup"[^>]*>\s*<span[^>]*>(.*?)</span>', page)
    assert spanners == [("2", "Patients"), ("2", "Events")]
    heads = re.findall(r'<th[^>]*scope="col"[^>]*>(.*?)</th>', page)
    assert heads == ["Outcome", "p", "IDD", "CMM", "IDD", "CMM"]  # beside the spanners, then under them
    assert 'data-columns="outcome,n_treated,n_comparison,n_event_treated,n_event_comparison,p_value"' in page
    # split to fit a narrow page, the two columns under a spanner stay together in their part
    narrow = html_released(effects, counts=counts, raw=effects, title="effects", width=40)
    parts = re.findall(r'data-columns="([^"]*)"', narrow)
    assert len(parts) >= 2 and all(part.startswith("outcome,") for part in parts)
    for pair in (("n_treated", "n_comparison"), ("n_event_treated", "n_event_comparison")):
        assert any(",".join(pair) in part for part in parts), (pair, parts)
    # a spanner needs all its columns: Q1 without Q3 keeps its own heading, under no spanner
    lone = html_released(pd.DataFrame({"drug": ["morphine"], "q1": [1.5], "median": [2.0]}), counts=[])
    assert "colgroup" not in lone and "Q1" in lone
