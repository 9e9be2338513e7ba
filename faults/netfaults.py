"""Network faults as nemesis actions: partitions, cut links and slow links, via proxies.

:func:`proxied_group` builds a replicated group whose every link runs through a
:class:`~faults.netproxy.Proxy`: one *peer* proxy per data node (what the Sentinels and
the replicas use) and one *client* proxy per node (what the engine uses; the Sentinel URL
maps one to the other). That separation is what makes a split brain possible: black-hole
the primary's peer proxy and the Sentinels promote a replica, while workers that were
connected to the old primary keep writing to it until the partition heals and it is
demoted, losing those writes.

Every action takes the :class:`ProxiedGroup` (and what it needs) and returns a JSON-able
dict of what it did, for a history.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from engine.nodes.replicated import ReplicatedGroup
from faults.netproxy import Proxy


@dataclasses.dataclass
class ProxiedGroup:
    """A replicated group and the proxies on its links."""

    group: ReplicatedGroup
    peer: list[Proxy]
    client: list[Proxy]

    @property
    def url(self) -> str:
        return self.group.url

    def close(self) -> None:
        self.group.close()
        for proxy in (*self.peer, *self.client):
            with contextlib.suppress(Exception):
                proxy.close()


def proxied_group(replicas: int = 2, *, down_after_ms: int = 2000) -> ProxiedGroup:
    """A started group (local processes) with a peer and a client proxy per data node."""
    return with_proxies(ReplicatedGroup(replicas, backend="process", down_after_ms=down_after_ms))


def with_proxies(group: ReplicatedGroup) -> ProxiedGroup:
    """Put a peer and a client proxy on every data node of ``group`` (not started yet),
    then start it: the proxies must be in place before the Sentinels learn addresses."""
    peer: list[Proxy] = []
    client: list[Proxy] = []
    made = ProxiedGroup(group, peer, client)
    try:
        for i, node in enumerate(group.nodes):
            peer.append(Proxy(node.host, node.port).start())
            client.append(Proxy(node.host, node.port).start())
            group.peer_addresses[i] = (peer[i].host, peer[i].port)
            group.client_addresses[i] = (client[i].host, client[i].port)
        group.start()
    except BaseException:
        made.close()
        raise
    return made


def partition_primary(net: ProxiedGroup) -> dict[str, Any]:
    """Cut the primary off from its replicas and the Sentinels (black hole), while
    clients still reach it: the Sentinels promote a replica, and for a while there are
    two primaries."""
    index = net.group.primary_index()
    net.peer[index].set_mode("blackhole")
    return {"partitioned": index}


def heal(net: ProxiedGroup) -> dict[str, Any]:
    """Undo every partition, cut and delay."""
    healed = [p.port for p in (*net.peer, *net.client) if p.mode != "pass" or p.latency_ms]
    for proxy in (*net.peer, *net.client):
        proxy.set_latency(0)
        proxy.set_mode("pass")
    return {"healed": healed}


def cut_clients(net: ProxiedGroup, mode: str = "blackhole") -> dict[str, Any]:
    """Cut the engine (driver and workers) off from every data node."""
    for proxy in net.client:
        proxy.set_mode("drop" if mode == "drop" else "blackhole")
    return {"cut": mode}


def slow_clients(net: ProxiedGroup, latency_ms: float) -> dict[str, Any]:
    """Delay every chunk between the engine and the data nodes by ``latency_ms``."""
    for proxy in net.client:
        proxy.set_latency(latency_ms)
    return {"latency_ms": latency_ms}


def cut_link(proxy: Proxy, mode: str = "blackhole") -> dict[str, Any]:
    """Black-hole (or reset) one link: e.g. one worker's, given its own proxy."""
    proxy.set_mode("drop" if mode == "drop" else "blackhole")
    return {"cut": proxy.port, "mode": mode}
