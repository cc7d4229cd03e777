"""Small widgets: the pose read-out (the image list is gui/review.py's FileList)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from mtface.core.geometry import yaw_bin
from mtface.core.types import Pose


class PosePanel(QtWidgets.QGroupBox):
    """Pitch, yaw, roll in degrees and the face's AFLW2000-3D yaw bin."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Head pose", parent)
        form = QtWidgets.QFormLayout(self)
        self.labels = {name: QtWidgets.QLabel("-") for name in ("pitch", "yaw", "roll", "bin")}
        for name, label in self.labels.items():
            label.setObjectName(f"pose_{name}")
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(name.capitalize() + ":", label)

    def show_pose(self, pose: Pose | None) -> None:
        if pose is None:
            for label in self.labels.values():
                label.setText("-")
            return
        self.labels["pitch"].setText(f"{pose.pitch:+.1f}°")
        self.labels["yaw"].setText(f"{pose.yaw:+.1f}°")
        self.labels["roll"].setText(f"{pose.roll:+.1f}°")
        self.labels["bin"].setText(yaw_bin(pose.yaw))
