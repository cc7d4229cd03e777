"""Overlays of the 2D view that pyqtgraph has no item for: the landmarks' numbers, drawn in
screen pixels so they stay readable at any zoom (one item that paints all of them, cheap to
move during a drag)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui


class PointNumbersItem(pg.GraphicsObject):
    """1-based numbers beside the points (K, 2) image pixels given to :meth:`set_points`;
    hidden until shown (the "point numbers" display setting)."""

    MARGIN_PX = 40.0  # the text's reach beyond a point, in screen pixels

    def __init__(self) -> None:
        super().__init__()
        self._points = np.zeros((0, 2))
        self._texts: list[QtGui.QStaticText] = []
        self._font = QtGui.QFont()
        self._font.setPixelSize(11)
        self._shadow = QtGui.QPen(QtGui.QColor(0, 0, 0, 220))
        self._pen = QtGui.QPen(QtGui.QColor(255, 255, 180))
        self.setVisible(False)

    def set_points(self, points: np.ndarray | None) -> None:
        """The points to number (None: nothing)."""
        self.prepareGeometryChange()
        self._points = (
            np.zeros((0, 2)) if points is None else np.asarray(points, dtype=np.float64).copy()
        )
        while len(self._texts) < len(self._points):
            self._texts.append(QtGui.QStaticText(str(len(self._texts) + 1)))
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        if len(self._points) == 0:
            return QtCore.QRectF()
        x0, y0 = self._points.min(0)
        x1, y1 = self._points.max(0)
        px, py = self.pixelSize() if self.getViewBox() is not None else (1.0, 1.0)
        mx, my = self.MARGIN_PX * (px or 1.0), self.MARGIN_PX * (py or 1.0)
        return QtCore.QRectF(x0 - mx, y0 - my, x1 - x0 + 2 * mx, y1 - y0 + 2 * my)

    def paint(self, painter: QtGui.QPainter, *_args: object) -> None:
        if len(self._points) == 0:
            return
        transform = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setFont(self._font)
        offset = QtCore.QPointF(5.0, -14.0)
        shadow = QtCore.QPointF(1.0, 1.0)
        for (x, y), text in zip(self._points, self._texts):
            at = transform.map(QtCore.QPointF(float(x), float(y))) + offset
            painter.setPen(self._shadow)
            painter.drawStaticText(at + shadow, text)
            painter.setPen(self._pen)
            painter.drawStaticText(at, text)
        painter.restore()
