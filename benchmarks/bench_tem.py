"""TEM sizing: qdlab vs a plain scikit-image Otsu + distance-transform watershed, on the same synthetic images.

Images: 2048 x 2048 px at 0.1 nm/px, ~500 particles of 4.0 +/- 0.4 nm, a fifth touching, Poisson noise at
200 e-/px, carbon texture, uneven background (qdlab.tem.synth defaults). Both pipelines are scored against the
exact ground truth on particles not cut by the border. Run: ``.venv/bin/python benchmarks/bench_tem.py [N]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _table import record
from scipy import ndimage as ndi

from qdlab.tem.evaluate import score
from qdlab.tem.measure import measure_particles
from qdlab.tem.segment import segment_particles
from qdlab.tem.synth import synth_micrograph


def reference_pipeline(image: np.ndarray, nm_per_px: float, expected_diameter_nm: float = 4.0):
    """The textbook scikit-image chain: Gaussian denoise, Otsu, distance-transform watershed, clear_border,
    remove_small_objects, equivalent-circle diameter from the region area."""
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.measure import regionprops_table
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import clear_border, watershed

    img = gaussian(image.astype(np.float32), sigma=2)
    mask = img < threshold_otsu(img)  # dark particles
    mask = remove_small_objects(mask, max_size=int(np.pi * (0.25 * expected_diameter_nm / nm_per_px) ** 2))
    dist = ndi.distance_transform_edt(mask)
    r_px = expected_diameter_nm / (2 * nm_per_px)
    peaks = peak_local_max(dist, min_distance=int(0.7 * r_px), labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = clear_border(watershed(-dist, markers, mask=mask))
    t = regionprops_table(labels, properties=("centroid", "equivalent_diameter_area"))
    return t["centroid-1"], t["centroid-0"], t["equivalent_diameter_area"] * nm_per_px


def main(n_images: int = 3) -> None:
    rows = []
    for seed in range(n_images):
        res = synth_micrograph(seed=100 + seed)
        mic, truth = res.micrograph, res.truth
        # warm-up (imports, model-table cache) outside the timing
        if seed == 0:
            measure_particles(segment_particles(mic, expected_diameter_nm=4.0))
            reference_pipeline(mic.image, 0.1)
        t0, c0 = time.perf_counter(), time.process_time()
        tab = measure_particles(segment_particles(mic, expected_diameter_nm=4.0))
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        rx, ry, rd = reference_pipeline(mic.image, 0.1)
        t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
        a = tab.accepted
        s_ours = score(tab["x_px"][a], tab["y_px"][a], tab["diameter_nm"][a], truth)
        s_ref = score(rx, ry, rd, truth)
        rows.append((t_ours, t_ref, s_ours, s_ref, c_ours, c_ref))
        print(f"image {seed}: N_true={s_ours.n_true}  "
              f"qdlab {t_ours:.2f} s (cpu {c_ours:.2f}) mean {100 * s_ours.mean_error_rel:+.2f} % sd {100 * s_ours.std_error_rel:+.1f} % "
              f"recall {s_ours.recall:.3f} precision {s_ours.precision:.3f} | "
              f"reference {t_ref:.2f} s (cpu {c_ref:.2f}) mean {100 * s_ref.mean_error_rel:+.2f} % sd {100 * s_ref.std_error_rel:+.1f} % "
              f"recall {s_ref.recall:.3f} precision {s_ref.precision:.3f}")
    t_o = np.median([r[0] for r in rows])
    t_r = np.median([r[1] for r in rows])
    c_o = np.median([r[4] for r in rows])
    c_r = np.median([r[5] for r in rows])
    print(f"median wall time per 2048x2048 image: qdlab {t_o:.2f} s, reference {t_r:.2f} s, speed-up x{t_r / t_o:.2f}")
    print(f"median CPU time per 2048x2048 image:  qdlab {c_o:.2f} s, reference {c_r:.2f} s, speed-up x{c_r / c_o:.2f}")
    mean_err = [np.mean([abs(r[k].mean_error_rel) for r in rows]) * 100 for k in (2, 3)]
    record("tem", "particle sizing, one 2048x2048 micrograph (wall)", t_o, "s", reference=t_r,
           reference_name="Otsu + watershed (scikit-image)", target=0.5,
           note=f"|mean size error| {mean_err[0]:.2f} % vs reference {mean_err[1]:.1f} %, median of {len(rows)}")
    for name, k in (("qdlab", 2), ("reference", 3)):
        me = np.mean([abs(r[k].mean_error_rel) for r in rows]) * 100
        se = np.mean([abs(r[k].std_error_rel) for r in rows]) * 100
        rc = np.mean([r[k].recall for r in rows])
        pr = np.mean([r[k].precision for r in rows])
        print(f"{name:9s}: |mean error| {me:.2f} %, |spread error| {se:.1f} %, recall {rc:.3f}, precision {pr:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
