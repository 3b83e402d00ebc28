"""Twists against an integrating controller with tracking lag (MoveIt Servo, the sim robot): computed
from the measured pose they push the controller's command out of the workspace box by the lag;
computed from the previous target (MotionReference) they stop exactly at the box."""

from __future__ import annotations

import numpy as np

from robot_rl.safety import SafetyLimits, MotionReference, apply_ee_delta

DT = 0.1
LIMITS = SafetyLimits(workspace_low=[-0.5, -0.5, 0.0], workspace_high=[0.06, 0.5, 0.5],
                      max_step_translation_m=0.03, max_linear_speed_m_s=0.25)
Q = np.array([0.0, 0.0, 0.0, 1.0])
PUSH = np.array([0.05, 0, 0, 0, 0, 0, 1.0])  # asks for 0.5 m/s towards the +x wall at 0.06


def _drive(use_reference: bool, ticks: int = 30, missed: tuple[int, ...] = ()) -> float:
    """Furthest x the controller is commanded to (it integrates twists; the arm tracks it with lag).
    At the ``missed`` ticks the executor is late: the controller applies the previous twist again."""
    ref = MotionReference(max_gap_s=1.5 * DT)
    commanded = measured = velocity = np.zeros(3)
    furthest = 0.0
    for k in range(ticks):
        now = k * DT
        base = ref.base(measured, Q, now)[0] if use_reference else measured
        if k in missed:
            commanded = commanded + velocity * DT
            measured = measured + 0.4 * (commanded - measured)
            furthest = max(furthest, commanded[0])
            continue
        out = apply_ee_delta(base, Q, PUSH, DT, LIMITS)
        if out.ok:
            velocity = (out.position - base) / DT
            ref.commanded(out.position, out.orientation, now)
        else:  # the arm is outside the box: the executor holds (zero twist)
            velocity = np.zeros(3)
            ref.reset()
        commanded = commanded + velocity * DT  # the controller integrates the twist
        measured = measured + 0.4 * (commanded - measured)  # and the arm lags behind it
        furthest = max(furthest, commanded[0])
    return furthest


def test_twists_from_the_previous_target_keep_an_integrating_controller_in_the_box():
    assert _drive(use_reference=True) <= 0.06 + 1e-9
    assert _drive(use_reference=False) > 0.06 + 0.02  # from the measured pose: out by the lag
    # The documented limit: a late tick lets the last twist run once more, at most one step past the box.
    late = _drive(use_reference=True, missed=(3,))
    assert 0.06 < late <= 0.06 + LIMITS.step_caps(DT)[0] + 1e-9


def test_the_measured_pose_is_the_reference_after_a_pause():
    ref = MotionReference(max_gap_s=0.15)
    measured = np.array([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(ref.base(measured, Q, 0.0)[0], measured)  # nothing commanded yet
    ref.commanded(np.array([0.2, 0.2, 0.3]), Q, 1.0)
    np.testing.assert_array_equal(ref.base(measured, Q, 1.1)[0], [0.2, 0.2, 0.3])  # continuous motion
    np.testing.assert_array_equal(ref.base(measured, Q, 1.2)[0], measured)  # a tick was missed
    ref.commanded(np.array([0.2, 0.2, 0.3]), Q, 2.0)
    ref.reset()  # hold / stop / e-stop
    np.testing.assert_array_equal(ref.base(measured, Q, 2.05)[0], measured)


def test_pose_deltas_add_to_the_previous_target_unless_the_arm_stays_behind_by_more_than_the_lead():
    ref = MotionReference(max_gap_s=0.15, max_lead_m=0.05)
    q = np.array([0.0, 0.0, 0.0, 1.0])
    measured = np.array([0.5, 0.0, 0.3])
    base, _ = ref.base(measured, q, 0.0)
    np.testing.assert_array_equal(base, measured)              # nothing commanded yet: the measured pose
    ref.commanded(measured + [0.02, 0, 0], q, 0.0)
    base, _ = ref.base(measured + [0.01, 0, 0], q, 0.1)       # the arm lags 1 cm behind: the target counts
    np.testing.assert_allclose(base, [0.52, 0.0, 0.3])
    ref.commanded(measured + [0.07, 0, 0], q, 0.1)
    base, _ = ref.base(measured + [0.01, 0, 0], q, 0.2)       # 6 cm behind (blocked): start over from the arm
    np.testing.assert_allclose(base, [0.51, 0.0, 0.3])
    ref.commanded(measured, q, 0.2)
    base, _ = ref.base(measured + [0.001, 0, 0], q, 0.5)      # a pause: the measured pose again
    np.testing.assert_allclose(base, [0.501, 0.0, 0.3])
