"""The Socket.IO Admin UI served by the node: its namespace, what it is told, who may use it.

Off by default (``admin_ui``); see README "Observing a node".
"""
