"""The sim-to-real rehearsal (`robot-rl rehearse`): a simulation-trained policy on the lab stand-in,
fine-tuned through the ROS graph and the operator panel by a scripted operator (docs/rehearsal.md)."""
