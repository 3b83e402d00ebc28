"""robot_rl: improve Vision-Language-Action policies with LOOP (RLOO + PPO) in simulation and on real robots.

This package is the pure core: it never imports ROS, camera drivers or simulators (tests/test_architecture.py).
"""

__version__ = "0.1.0"
