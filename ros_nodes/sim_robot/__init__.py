"""sim_robot_node: a suite env presented as the robot (see node.py)."""
