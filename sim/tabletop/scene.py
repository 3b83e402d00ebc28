"""The tabletop scene as MJCF, built in code so its dimensions live next to the code that uses them.

World frame: the table top is the plane z = 0, +x points from the (imaginary) robot base towards
the agent-view camera, +z up. The floating gripper is welded to a mocap body; its frame at the
identity orientation points the fingers straight down, so the end-effector axis-angle is ~0 in
the home pose and a yaw is a rotation about +z. The bowl, plate and target area are mocap bodies
too: contexts move them by setting ``data.mocap_pos`` without rebuilding the model.
"""

from __future__ import annotations

CUBE_HALF = 0.02  # cubes are 4 cm
CUBE_MASS = 0.05  # kg
CUBE_COLOURS = {"red": (0.85, 0.12, 0.12), "green": (0.12, 0.65, 0.18), "blue": (0.12, 0.25, 0.85)}
BOWL_INNER_RADIUS = 0.075
BOWL_WALL_HEIGHT = 0.04
PLATE_RADIUS = 0.07
PLATE_HEIGHT = 0.008
TARGET_RADIUS = 0.05
TABLE_HALF = (0.45, 0.5, 0.02)
FINGER_OPEN = 0.045  # slide of each finger from the centre line when fully open [m]
FINGER_CLOSED = 0.0
TCP_OFFSET = -0.065  # end-effector point, 1.5 cm above the fingertips, below the gripper frame origin [m]
NUM_TABLE_TEXTURES = 4

# Nominal camera poses: position, look-at point, vertical field of view [deg].
AGENTVIEW_POS = (0.5, 0.0, 0.55)
AGENTVIEW_LOOKAT = (0.0, 0.0, 0.0)
AGENTVIEW_FOVY = 55.0  # the whole object workspace stays in view
WRIST_FOVY = 75.0


def _bowl_walls(n: int = 10) -> str:
    import math

    walls = []
    r = BOWL_INNER_RADIUS + 0.005
    half_len = r * math.tan(math.pi / n) + 0.004
    for i in range(n):
        a = 2 * math.pi * i / n
        walls.append(
            f'<geom name="bowl_wall{i}" type="box" size="0.005 {half_len:.4f} {BOWL_WALL_HEIGHT / 2}" '
            f'pos="{r * math.cos(a):.4f} {r * math.sin(a):.4f} {BOWL_WALL_HEIGHT / 2}" '
            f'euler="0 0 {a:.5f}" material="bowl" class="obj"/>'
        )
    return "\n        ".join(walls)


def _cubes() -> str:
    out = []
    for name, rgb in CUBE_COLOURS.items():
        r, g, b = rgb
        out.append(
            f"""<body name="{name}_cube" pos="0 0 {CUBE_HALF}">
      <freejoint name="{name}_cube"/>
      <geom name="{name}_cube" type="box" size="{CUBE_HALF} {CUBE_HALF} {CUBE_HALF}" mass="{CUBE_MASS}"
            rgba="{r} {g} {b} 1" class="obj"/>
    </body>"""
        )
    return "\n    ".join(out)


def _table_textures() -> str:
    # A few procedural table looks for domain randomization; material 0 is the nominal one.
    looks = [
        ('builtin="flat" rgb1="0.62 0.5 0.38" rgb2="0.62 0.5 0.38" mark="random" random="0.05" markrgb="0.5 0.4 0.3"'),
        ('builtin="checker" rgb1="0.7 0.7 0.7" rgb2="0.55 0.55 0.55"'),
        ('builtin="gradient" rgb1="0.35 0.3 0.25" rgb2="0.75 0.7 0.6"'),
        ('builtin="flat" rgb1="0.3 0.35 0.4" rgb2="0.3 0.35 0.4" mark="random" random="0.2" markrgb="0.45 0.5 0.55"'),
    ]
    tex = []
    for i, look in enumerate(looks[:NUM_TABLE_TEXTURES]):
        tex.append(f'<texture name="table_tex{i}" type="2d" width="64" height="64" {look}/>')
        tex.append(f'<material name="table{i}" texture="table_tex{i}" texrepeat="4 4" reflectance="0"/>')
    return "\n    ".join(tex)


def build_mjcf(timestep: float = 0.004, max_image: tuple[int, int] = (480, 640)) -> str:
    """The scene's MJCF text. ``timestep`` is the physics step [s]; ``max_image`` the largest (H, W) rendered."""
    tx, ty, tz = TABLE_HALF
    return f"""<mujoco model="tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep}" integrator="implicitfast" cone="elliptic" impratio="5" noslip_iterations="0"/>
  <visual>
    <global offwidth="{max(640, max_image[1])}" offheight="{max(480, max_image[0])}"/>
    <!-- No multisampling: on CPU (Mesa llvmpipe) 4x MSAA costs more than it is worth at 128 px. -->
    <quality shadowsize="1024" offsamples="0"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5" specular="0.05 0.05 0.05"/>
  </visual>
  <default>
    <default class="obj">
      <geom friction="1.2 0.01 0.001" solref="0.005 1" solimp="0.95 0.99 0.001" condim="4"/>
    </default>
    <default class="finger">
      <geom friction="2.0 0.02 0.002" solref="0.005 1" solimp="0.95 0.99 0.001" condim="4" rgba="0.2 0.2 0.22 1"/>
    </default>
  </default>
  <asset>
    {_table_textures()}
    <texture name="floor_tex" type="2d" builtin="checker" width="64" height="64" rgb1="0.25 0.25 0.27" rgb2="0.3 0.3 0.32"/>
    <material name="floor" texture="floor_tex" texrepeat="8 8"/>
    <material name="bowl" rgba="0.9 0.85 0.7 1"/>
    <material name="plate" rgba="0.95 0.95 0.95 1"/>
    <material name="target" rgba="0.95 0.8 0.1 1"/>
    <material name="gripper" rgba="0.25 0.25 0.28 1"/>
  </asset>
  <worldbody>
    <light name="key" pos="0.3 -0.3 1.6" dir="-0.15 0.15 -1" diffuse="0.6 0.6 0.6" specular="0.1 0.1 0.1" castshadow="true"/>
    <light name="fill" pos="-0.6 0.6 1.2" dir="0.4 -0.4 -1" diffuse="0.25 0.25 0.25" specular="0 0 0" castshadow="false"/>
    <!-- grid spacing 3 (third size value): a finer render grid costs ~1 ms per frame on CPU -->
    <geom name="floor" type="plane" size="3 3 3" pos="0 0 -0.75" material="floor"/>
    <geom name="table" type="box" size="{tx} {ty} {tz}" pos="0 0 {-tz}" material="table0" class="obj"/>
    <geom name="table_leg" type="box" size="0.05 0.05 0.36" pos="0 0 -0.4" rgba="0.3 0.25 0.2 1" contype="0" conaffinity="0"/>
    <camera name="agentview" pos="{AGENTVIEW_POS[0]} {AGENTVIEW_POS[1]} {AGENTVIEW_POS[2]}" fovy="{AGENTVIEW_FOVY}"/>

    <body name="gripper_target" mocap="true" pos="0 0 0.25"/>
    <body name="gripper" pos="0 0 0.25" gravcomp="1">
      <freejoint name="gripper"/>
      <geom name="palm" type="box" size="0.025 0.06 0.012" pos="0 0 0.0" material="gripper" mass="0.4"/>
      <geom name="wrist_link" type="cylinder" size="0.02 0.04" pos="0 0 0.05" material="gripper" mass="0.1"/>
      <site name="tcp" pos="0 0 {TCP_OFFSET}" size="0.004" rgba="1 0 0 0" group="3"/>
      <camera name="wrist" pos="0.07 0 0.03" xyaxes="0 -1 0 0.985 0 -0.17" fovy="{WRIST_FOVY}"/>
      <body name="finger_left" pos="0 0 0" gravcomp="1">
        <joint name="finger_left" type="slide" axis="0 1 0" range="{FINGER_CLOSED} {FINGER_OPEN}" damping="2" armature="0.01"/>
        <geom name="finger_left" type="box" size="0.012 0.006 0.035" pos="0 0.007 -0.045" class="finger" mass="0.03"/>
      </body>
      <body name="finger_right" pos="0 0 0" gravcomp="1">
        <joint name="finger_right" type="slide" axis="0 -1 0" range="{FINGER_CLOSED} {FINGER_OPEN}" damping="2" armature="0.01"/>
        <geom name="finger_right" type="box" size="0.012 0.006 0.035" pos="0 -0.007 -0.045" class="finger" mass="0.03"/>
      </body>
    </body>

    {_cubes()}

    <body name="bowl" mocap="true" pos="0 0.2 0">
      <geom name="bowl_bottom" type="cylinder" size="{BOWL_INNER_RADIUS + 0.01} 0.003" pos="0 0 0.003" material="bowl" class="obj"/>
        {_bowl_walls()}
    </body>
    <body name="plate" mocap="true" pos="0 -0.2 0">
      <geom name="plate" type="cylinder" size="{PLATE_RADIUS} {PLATE_HEIGHT / 2}" pos="0 0 {PLATE_HEIGHT / 2}" material="plate" class="obj"/>
    </body>
    <body name="target" mocap="true" pos="0.15 0 0">
      <geom name="target" type="cylinder" size="{TARGET_RADIUS} 0.0005" pos="0 0 0.0005" material="target" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <equality>
    <weld name="gripper_weld" body1="gripper_target" body2="gripper" solref="0.01 1" solimp="0.95 0.99 0.001"/>
    <joint name="finger_mirror" joint1="finger_left" joint2="finger_right" polycoef="0 1 0 0 0"/>
  </equality>
  <actuator>
    <position name="fingers" joint="finger_left" kp="400" ctrlrange="{FINGER_CLOSED} {FINGER_OPEN}" forcerange="-15 15"/>
  </actuator>
  <contact>
    <exclude body1="gripper" body2="finger_left"/>
    <exclude body1="gripper" body2="finger_right"/>
    <exclude body1="finger_left" body2="finger_right"/>
  </contact>
</mujoco>
"""
