"""The Socket.IO v5 server: connect flow, event dispatch, namespaces, local fan-out."""
