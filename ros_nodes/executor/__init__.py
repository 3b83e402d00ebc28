"""action_executor: the safety layer between the policy's action chunks and the robot."""
