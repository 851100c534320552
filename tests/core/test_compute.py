import math

import pytest

from qdlab.compute import get_executor, map_progress
from qdlab.data import InputError


def test_map_progress_local_processes_keeps_order():
    assert map_progress(math.sqrt, [16.0, 1.0, 9.0], scheduler="local", max_workers=2) == [4.0, 1.0, 3.0]


def test_serial_executor_propagates_errors():
    with get_executor("serial") as ex:
        fut = ex.submit(math.sqrt, -1.0)
        with pytest.raises(ValueError):
            fut.result()


def test_bad_scheduler_is_an_input_error():
    with pytest.raises(InputError, match="scheduler"), get_executor("not-an-address"):
        pass


def test_dask_local_cluster_on_loopback():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert map_progress(math.sqrt, [4.0, 25.0], scheduler=cluster.scheduler_address) == [2.0, 5.0]
