"""Side-by-side benchmark harness for Socket.IO servers (see bench/README.md)."""
