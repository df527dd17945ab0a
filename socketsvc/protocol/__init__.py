"""Socket.IO v5 packets and the two wire formats (socket.io-parser JSON, socket.io-msgpack-parser).

Pure: no I/O, no server state.
"""
