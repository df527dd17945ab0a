"""The message types of Node's ``@socket.io/redis-adapter`` (see :mod:`sio_classic`), for the
manager that speaks them and for the emitter, which imports no server module."""

SOCKETS, ALL_ROOMS, REMOTE_JOIN, REMOTE_LEAVE, REMOTE_DISCONNECT, REMOTE_FETCH = range(6)
SERVER_SIDE_EMIT, BROADCAST, BROADCAST_CLIENT_COUNT, BROADCAST_ACK = range(6, 10)
EVENT, BINARY_EVENT = 2, 5
STORED = "socketsvcStored"  # a flag: socketsvc nodes deliver this broadcast from the stream
KINDS = {"fetch": REMOTE_FETCH, "server_side": SERVER_SIDE_EMIT, "ack_broadcast": BROADCAST}
KINDS |= {"disconnect": REMOTE_DISCONNECT, "join": REMOTE_JOIN, "leave": REMOTE_LEAVE}
