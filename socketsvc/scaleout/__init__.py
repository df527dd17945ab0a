"""Several nodes as one: the Redis bus, cluster-wide presence and the emitter.

Everything Redis lives here and is imported only when ``manager = "redis"``.
"""
