"""success_label_node: the operator panel, served over HTTP + WebSocket (see node.py)."""
