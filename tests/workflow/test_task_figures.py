"""Figures the analyses draw in the workers (MS, TEM overlay, XRD fit) are paper figures: 300 dpi, the report's style."""

from __future__ import annotations

import io

from PIL import Image

from qdlab.workflow.tasks import png


def test_worker_figures_are_300_dpi_in_the_report_style() -> None:
    import matplotlib

    seen = {}

    def draw():
        import matplotlib.pyplot as plt

        seen["font"] = matplotlib.rcParams["font.size"]
        fig, ax = plt.subplots(figsize=(3.0, 2.0))
        ax.plot([0, 1], [0, 1])
        return fig, ax  # the domains' plot functions return (fig, ax) or fig

    outside = matplotlib.rcParams["font.size"]
    data = png(draw)
    img = Image.open(io.BytesIO(data))
    assert round(img.info["dpi"][0]) == 300 and img.size[0] >= 800  # 3 in wide at 300 dpi (tight bbox trims)
    from qdlab.report.style import STYLE_FILE

    styled = matplotlib.rc_params_from_file(STYLE_FILE, use_default_template=False).get("font.size", outside)
    assert seen["font"] == styled and matplotlib.rcParams["font.size"] == outside  # styled inside, restored after
