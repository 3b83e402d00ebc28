"""RL algorithms as importable pure functions: group advantages, the PPO loss, KL terms and the LOOP update."""
