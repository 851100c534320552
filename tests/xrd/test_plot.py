from matplotlib.figure import Figure

from qdlab.xrd.debye import debye_pattern
from qdlab.xrd.match import fit_crystallite_size
from qdlab.xrd.pattern import reference_pattern
from qdlab.xrd.plot import plot_pattern, plot_size_fit
from qdlab.xrd.synth import simulate_measurement


def test_plots_return_figures(tmp_path):
    ref = reference_pattern("Cd3P2", two_theta_min_deg=15, two_theta_max_deg=80)
    fig = plot_pattern(debye_pattern(3.0), ref)
    assert isinstance(fig, Figure)
    fit = fit_crystallite_size(simulate_measurement(3.4, seed=2).diffractogram)
    fig2 = plot_size_fit(fit, ref)
    assert isinstance(fig2, Figure) and len(fig2.axes) == 2
    fig2.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
