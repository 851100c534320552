"""The figure style shared by the report, ``--plot`` and the web: formulas, energy axis, files, no overlaps."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qdlab.report import figures as F
from qdlab.report import style as S
from qdlab.units import HC_EV_NM

ELEMENTS = ["Cd", "P", "Se", "Zn", "O", "C", "H", "N", "In"]


@given(st.lists(st.tuples(st.sampled_from(ELEMENTS), st.integers(1, 120)), min_size=1, max_size=5),
       st.sampled_from(["", "+", "-"]))
def test_formula_tex_subscripts_every_count_and_round_trips(parts, sign):
    formula = "".join(f"{el}{n}" for el, n in parts) + sign
    tex = S.formula_tex(formula)
    # every count is a subscript, the charge a superscript, and removing the markup gives the formula back
    assert re.findall(r"\$_\{(\d+)\}\$", tex) == [str(n) for _, n in parts]
    assert re.sub(r"\$[_^]\{([^}]*)\}\$", r"\1", tex) == formula
    assert tex.endswith(f"$^{{{sign}}}$") if sign else "^" not in tex


def test_formula_tex_renders_with_mathtext_and_reads_multiple_charges():
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("agg")
    for f in ("Cd3P2", "Cd22P12(OA)8+", "[Cd37P20]2+"):
        parser.parse(S.formula_tex(f, charge=2 if f.endswith("]2+") else 1))
    assert S.formula_tex("[Cd37P20]2+", charge=2) == "[Cd$_{37}$P$_{20}$]$^{2+}$"


@pytest.mark.parametrize(("path", "title"), [("/home/me/ms/clusters.mzML", "clusters.mzML"),
                                             (r"C:\data\xrd\after.xy", "after.xy"), ("ms/before", "ms/before")])
def test_plain_title_drops_absolute_paths(path, title):
    assert S.plain_title(path) == title


def test_energy_axis_is_the_photon_energy_of_the_wavelength():
    plt = S.pyplot()
    with S.figure_style():
        fig, ax = plt.subplots()
        ax.plot([900, 1300], [0, 1])
        sec = S.add_energy_axis(ax)
        fig.canvas.draw()
    # the secondary axis maps 1239.84 nm to 1 eV (E = hc / lambda), both ways
    fwd, inv = sec._functions
    assert fwd(np.array([HC_EV_NM]))[0] == pytest.approx(1.0)
    assert inv(np.array([1.0]))[0] == pytest.approx(HC_EV_NM)
    assert fwd(np.array([1010.0]))[0] == pytest.approx(1.22757, abs=1e-4)  # the paper's 1010 nm seeds: 1.228 eV
    S.close(fig)


def _no_overlaps(fig) -> list[tuple[str, str]]:
    """Pairs of drawn, non-empty texts (tick labels in view, axis labels, titles, annotations) that intersect."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes = list(fig.axes) + [c for ax in fig.axes for c in ax.child_axes]
    texts = list(fig.texts)
    for ax in dict.fromkeys(axes):
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # only the ticks inside the view interval are drawn
                texts += [lab for lab in (tick.label1, tick.label2) if lab.get_visible()]
    texts = [t for t in texts if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts]
    bad = []
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            if ba.overlaps(bb) and ba.width * ba.height > 0 and bb.width * bb.height > 0:
                inter_w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
                inter_h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
                if inter_w > 1 and inter_h > 1:
                    bad.append((a, b))
    return bad


def _spectra(n: int = 8):
    lam = np.linspace(850, 1400, 300)
    return [(f"A{i}", lam, np.exp(-0.5 * ((HC_EV_NM / lam - HC_EV_NM / (1000 + 30 * i)) / 0.05) ** 2))
            for i in range(n)]


def test_waterfall_labels_do_not_overlap_and_data_is_what_is_plotted():
    fig, data = F.waterfall_figure(_spectra(), title="/tmp/secret/path/run.csv")
    assert _no_overlaps(fig) == []
    titles = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if "/" in str(t.get_text())]
    assert titles == []  # no file path printed anywhere on the figure
    lam = np.asarray(data["wavelength_nm"])
    np.testing.assert_allclose(data["energy_ev"], HC_EV_NM / lam)
    norm = np.asarray(data["normalised_intensity"])
    labels = np.asarray(data["aliquot"])
    assert all(norm[labels == f"A{i}"].max() == pytest.approx(1.0) for i in range(8))
    S.close(fig)


def test_trends_panels_share_time_axis_without_overlaps():
    rows = [{"aliquot": f"A{i}", "time_min": 6.0 * i, "pl_peak_nm": 1010 + 25 * i, "fwhm_mev": 150 - 6 * i,
             "qy_percent": 13 + i} for i in range(11)]
    fig, data = F.trends_figure(rows)
    assert _no_overlaps(fig) == []
    assert fig.axes[-1].get_xlabel() == "time since injection start (min)"
    np.testing.assert_allclose(data["pl_peak_ev"], HC_EV_NM / np.asarray(data["pl_peak_nm"]))
    S.close(fig)


def test_save_figure_writes_300_dpi_png_text_svg_pdf_and_csv(tmp_path):
    from PIL import Image

    fig, data = F.waterfall_figure(_spectra(3))
    paths = S.save_figure(fig, tmp_path, "w", formats=("png", "svg", "pdf"), data=data)
    img = Image.open(paths["png"])
    assert img.info["dpi"] == pytest.approx((300, 300), abs=0.1)
    w_in, h_in = fig.get_size_inches()
    assert img.size == (round(w_in * 300), round(h_in * 300))
    svg = ET.parse(paths["svg"]).getroot()
    assert "wavelength (nm)" in "".join(svg.itertext())  # text kept as text (svg.fonttype none): searchable
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    table = np.genfromtxt(io.StringIO(paths["csv"].read_text()), delimiter=",", names=True, dtype=None,
                          encoding="utf-8")
    np.testing.assert_allclose(table["wavelength_nm"], data["wavelength_nm"])
    np.testing.assert_allclose(table["normalised_intensity"], data["normalised_intensity"])
    S.close(fig)


def test_table_csv_refuses_ragged_columns_and_blanks_nan():
    assert S.table_csv({"a_nm": [1.0, float("nan")], "b": [None, "x"]}) == "a_nm,b\n1.0,\n,x\n"
    with pytest.raises(ValueError, match="differ in length"):
        S.table_csv({"a": [1, 2], "b": [1]})


def test_palette_is_okabe_ito_and_style_file_sets_it():
    import matplotlib as mpl

    with S.figure_style():
        cycle = [c["color"].upper().lstrip("#") for c in mpl.rcParams["axes.prop_cycle"]]
        assert mpl.rcParams["figure.constrained_layout.use"] is True
        assert mpl.rcParams["savefig.dpi"] == 300
    assert cycle == [p.lstrip("#") for p in S.PALETTE]
