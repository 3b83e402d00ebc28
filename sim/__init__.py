"""Simulators behind robot_rl's Env/Suite interface: the built-in MuJoCo tabletop suite, the LIBERO adapter and the numpy point-reach suite."""
