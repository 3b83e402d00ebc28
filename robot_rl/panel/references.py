"""The reference picture of each group's initial scene, so every rollout starts from the same scene.

When a group's first rollout starts, the panel asks for a picture: the first frame captured at
least ``delay_s`` after the start (a simulated robot resets on the start event; on hardware the
operator set the scene before pressing Start). The operator resets the scene to match it before
each later rollout of the group. A group restarted after a panel restart gets its picture at the
next start (best effort: the picture lives in memory only).
"""

from __future__ import annotations

from collections import OrderedDict


class ReferenceFrames:
    """group_id -> encoded picture (bytes), at most ``capacity`` groups (oldest dropped)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._pictures: OrderedDict[str, bytes] = OrderedDict()
        self._wanted: dict[str, float] = {}  # group_id -> capture frames stamped at or after this [s]

    def want(self, group_id: str, after_s: float) -> bool:
        """Ask for ``group_id``'s picture unless it has one or is already waiting; True if now waiting."""
        if not group_id or group_id in self._pictures or group_id in self._wanted:
            return False
        self._wanted[group_id] = after_s
        return True

    @property
    def waiting(self) -> bool:
        return bool(self._wanted)

    def offer(self, stamp_s: float, encode) -> list[str]:
        """A frame captured at ``stamp_s``; ``encode()`` -> bytes is called once if any group takes it.

        Returns the group ids that took it.
        """
        due = [g for g, after in self._wanted.items() if stamp_s >= after]
        if not due:
            return []
        picture = encode()
        for g in due:
            del self._wanted[g]
            self._pictures[g] = picture
            self._pictures.move_to_end(g)
        while len(self._pictures) > self.capacity:
            self._pictures.popitem(last=False)
        return due

    def get(self, group_id: str) -> bytes | None:
        return self._pictures.get(group_id)

    def __contains__(self, group_id: str) -> bool:
        return group_id in self._pictures
