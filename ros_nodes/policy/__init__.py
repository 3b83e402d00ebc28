"""policy_node: runs the VLA on fresh observations and records episodes (see node.py)."""
