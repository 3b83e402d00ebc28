#!/usr/bin/env bash
# Set up a fresh machine for robot_rl: system packages (apt) and Python packages (.venv).
# Idempotent and quick when nothing changed: apt runs only for missing packages, pip only when
# requirements.txt, setup.py or this script changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."

# libusb: pyrealsense2; libosmesa6/libegl: MuJoCo CPU rendering; chromium: the operator panel tests;
# colcon + ROS packaging helpers: `colcon build` of this ament_python package (tests/test_colcon_install.py).
SYSTEM_PACKAGES=(libusb-1.0-0 libosmesa6 libegl1 libegl-mesa0 libgl1 chromium chromium-driver
                 colcon python3-colcon-ros python3-colcon-python-setup-py python3-catkin-pkg
                 python3-ament-package python3-ament-index)
PYTHON=${PYTHON:-python3}
VENV=.venv

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

stamp="$VENV/.robot_rl-setup"
want=$(cat requirements.txt setup.py "$0" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into $VENV (first run takes a few minutes)"
  "$VENV/bin/pip" install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  # torch first and pinned, so nothing later pulls a multi-GB CUDA build on a CPU machine.
  "$VENV/bin/pip" install -q -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c "import robot_rl, torch, zarr, mujoco, rclpy" \
    || { echo "setup: Python packages failed to install" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
