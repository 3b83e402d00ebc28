"""Session-wide test environment: CPU rendering for MuJoCo, Fast DDS large-data transport for
image topics, and a ROS domain of this run's own so parallel runs do not hear each other."""

import os
import random

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 200)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
