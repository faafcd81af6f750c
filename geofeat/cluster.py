"""Where a job's tasks run: one context manager for every kind of Dask cluster.

:func:`connect` yields a ``distributed.Client`` for a LocalCluster, an existing
scheduler or a Kubernetes ``DaskCluster``, and ``None`` for Dask's in-process
schedulers. The job code after it is the same for all of them: tasks carry what
they need (scene hrefs, point coordinates, the product's rules) and nothing that
lives only in the client process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from geofeat.errors import ConfigError
from geofeat.spec import (
    AddressClusterSpec,
    ClusterSpec,
    KubernetesClusterSpec,
    KubernetesOptions,
    LocalClusterSpec,
)

logger = logging.getLogger(__name__)


def parse_cluster(value: str, current: ClusterSpec | None = None) -> ClusterSpec:
    """The cluster named on the command line (``--cluster``).

    ``local``, ``threads``, ``processes``, ``synchronous``, a scheduler address
    (``tcp://host:8786``), or ``kubernetes`` (the spec's Kubernetes options if
    it has them, else the defaults).
    """
    value = value.strip()
    if "://" in value:
        return AddressClusterSpec(address=value)
    if value == "kubernetes":
        if isinstance(current, KubernetesClusterSpec):
            return current
        return KubernetesClusterSpec()
    if value in ("local", "threads", "processes", "synchronous"):
        return value  # type: ignore[return-value]
    raise ConfigError(
        f"--cluster {value!r} is not a cluster; give local, threads, processes, "
        "synchronous, kubernetes or a scheduler address like tcp://host:8786"
    )


def describe(cluster: ClusterSpec) -> str:
    """A short human name for a cluster spec, for logs."""
    if isinstance(cluster, str):
        return cluster
    if isinstance(cluster, AddressClusterSpec):
        return cluster.address
    if isinstance(cluster, KubernetesClusterSpec):
        return f"kubernetes ({cluster.kubernetes.workers} workers)"
    return "local"


def kubernetes_cluster_spec(options: KubernetesOptions) -> dict[str, Any]:
    """The ``DaskCluster`` resource geofeat asks the Dask operator for.

    Built with ``dask_kubernetes``' own ``make_cluster_spec``; credentials are
    never written into it: with ``secret`` set, the scheduler and worker
    containers take their environment from that Kubernetes Secret.
    """
    from dask_kubernetes.operator import make_cluster_spec

    spec = make_cluster_spec(
        name=options.name,
        image=options.image,
        n_workers=options.workers,
        resources=dict(options.resources) or None,
    )
    if options.namespace:
        spec["metadata"]["namespace"] = options.namespace
    for role in ("scheduler", "worker"):
        for container in spec["spec"][role]["spec"]["containers"]:
            # make_cluster_spec writes `env: null` and `resources: null` when they
            # are not given; the CRD's schema wants a list and an object.
            for key in [k for k, v in container.items() if v is None]:
                del container[key]
            if options.secret:
                container["envFrom"] = [{"secretRef": {"name": options.secret}}]
    return spec


def dashboard_link(client: Any) -> str | None:
    """The Dask dashboard URL of a client's cluster (None without a client)."""
    if client is None:
        return None
    try:
        return client.dashboard_link
    except Exception:  # no dashboard (bokeh missing, or the scheduler has none)
        return None


@contextmanager
def connect(cluster: ClusterSpec) -> Iterator[Any]:
    """Start or join the cluster a job runs on; close what was started.

    Parameters
    ----------
    cluster
        ``local``: a ``LocalCluster`` of worker processes sized to the machine
        (or ``{local: {workers, threads_per_worker, memory_limit}}``);
        ``{address: tcp://...}``: an existing scheduler, left running;
        ``{kubernetes: {...}}``: a ``DaskCluster`` through the Dask operator,
        deleted at the end; ``threads``, ``processes``, ``synchronous``: no
        cluster, Dask's in-process scheduler (yields None).

    Yields
    ------
    distributed.Client or None

    Examples
    --------
    >>> with connect("threads") as client:
    ...     client is None
    True
    """
    if isinstance(cluster, str) and cluster != "local":
        import dask

        logger.info("running on Dask's in-process %s scheduler", cluster)
        with dask.config.set(scheduler=cluster):
            yield None
        return

    from distributed import Client

    if isinstance(cluster, AddressClusterSpec):
        logger.info("connecting to the Dask scheduler at %s", cluster.address)
        import dask

        # How long to wait for the scheduler: Dask's connect timeout (30 s).
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            client = Client(cluster.address, timeout=timeout)
        except OSError as err:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {cluster.address}: {err}; check "
                "the address in 'cluster' (or --cluster) and that the scheduler runs"
            ) from err
        with client:
            yield client
        return

    if isinstance(cluster, KubernetesClusterSpec):
        from dask_kubernetes.operator import KubeCluster

        options = cluster.kubernetes
        logger.info(
            "creating DaskCluster %r with %d worker(s) of image %s",
            options.name,
            options.workers,
            options.image,
        )
        spec = kubernetes_cluster_spec(options)
        try:
            kube = KubeCluster(
                custom_cluster_spec=spec, namespace=options.namespace, quiet=True
            )
        except Exception as err:  # kr8s and the operator raise many kinds
            raise ConfigError(
                f"cannot create DaskCluster {options.name!r} on Kubernetes: {err}; "
                "geofeat needs a kubeconfig (KUBECONFIG or ~/.kube/config) or a pod "
                "with the rights of deploy/rbac.yaml, and the Dask operator installed "
                "(see deploy/README.md)"
            ) from err
        with kube, Client(kube) as client:
            yield client
        return

    from distributed import LocalCluster

    options = (
        cluster.local if isinstance(cluster, LocalClusterSpec) else None
    ) or LocalClusterSpec().local
    kwargs: dict[str, Any] = {}
    if options.workers:
        kwargs["n_workers"] = options.workers
    if options.threads_per_worker:
        kwargs["threads_per_worker"] = options.threads_per_worker
    if options.memory_limit:
        kwargs["memory_limit"] = options.memory_limit
    # Only this machine may reach the scheduler and its dashboard.
    kwargs.setdefault("host", "127.0.0.1")
    kwargs.setdefault("dashboard_address", "127.0.0.1:8787")
    with LocalCluster(**kwargs) as local, Client(local) as client:
        logger.info(
            "started a local Dask cluster: %d worker(s), %d thread(s)",
            len(local.workers),
            sum(client.nthreads().values()),
        )
        yield client
