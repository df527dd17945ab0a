"""``socketsvc serve --workers N``: every core of a machine on one port.

The primary process (:mod:`.primary`) binds the port, runs the hub the workers share
(:mod:`.hub`, :mod:`.stores`) and keeps N worker processes (:mod:`socketsvc.app.worker`,
seated by :mod:`.worker`) running, each a full socketsvc node. New connections are spread
over the workers by the kernel (``SO_REUSEPORT``); a request for a session of another worker
has its connection handed over to that worker (:mod:`.handoff`). Without Redis the workers
share rooms, broadcasts, acks, presence, recovery and the chat archive through the hub (the
``local_*`` backends, picked by :mod:`.backends`); with ``manager = "redis"`` each worker is a
node of the cluster.
"""
