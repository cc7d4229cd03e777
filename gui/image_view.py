"""The 2D view: the image (pyqtgraph, row-major) with the landmarks of every face.

Visible landmarks are blue and invisible ones red (the method's figures); edited points get a
white ring, selected points a yellow one; the selected face is drawn bold with the iBUG-68
lines. The view only shows and forwards: drags, clicks, hovers and the rubber band become
signals that the window turns into session commands (gui/group_edit.py). Brightness and
contrast change only the display levels, never the image or the saved data.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from mtface.core.annotation.face import FaceAnnotation
from mtface.core.annotation.group_edit import PointSelection
from mtface.core.topology import ibug68_edges, ibug68_name
from mtface.gui.overlays import PointNumbersItem

VISIBLE = (40, 90, 255)
INVISIBLE = (235, 40, 40)
SELECTED = (255, 220, 0)
pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class LandmarkItem(pg.ScatterPlotItem):
    """Scatter of one face's landmarks that can be dragged, clicked and hovered."""

    dragStarted = QtCore.Signal(int, float, float)  # index, x, y where the drag began
    pointDragged = QtCore.Signal(int, float, float)  # index, x, y (image pixels)
    dragFinished = QtCore.Signal(int)
    pointClicked = QtCore.Signal(int, object)  # index, keyboard modifiers
    pointMenu = QtCore.Signal(int, object)  # index, screen position (QPoint): right click
    pointHovered = QtCore.Signal(int)  # -1 when leaving

    def __init__(self) -> None:
        super().__init__(pxMode=True, hoverable=True, tip=None)
        self._drag_index: int | None = None
        self.drag_enabled = True  # off while a box is drawn
        self.sigHovered.connect(self._on_hover)

    def _index_at(self, pos: QtCore.QPointF) -> int | None:
        points = self.pointsAt(pos)
        if len(points) == 0:
            return None
        return int(points[0].index())

    def mouseDragEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseDragEvent) -> None:
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or not self.drag_enabled:
            ev.ignore()
            return
        if ev.isStart():
            self._drag_index = self._index_at(ev.buttonDownPos())
            if self._drag_index is None:
                ev.ignore()
                return
            start = ev.buttonDownPos()
            self.dragStarted.emit(self._drag_index, float(start.x()), float(start.y()))
        if self._drag_index is None:
            ev.ignore()
            return
        ev.accept()
        pos = ev.pos()
        self.pointDragged.emit(self._drag_index, float(pos.x()), float(pos.y()))
        if ev.isFinish():
            self.dragFinished.emit(self._drag_index)
            self._drag_index = None

    def mouseClickEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseClickEvent) -> None:
        index = self._index_at(ev.pos())
        if index is None or ev.button() not in (
            QtCore.Qt.MouseButton.LeftButton,
            QtCore.Qt.MouseButton.RightButton,
        ):
            ev.ignore()
            return
        ev.accept()
        if ev.button() == QtCore.Qt.MouseButton.RightButton:
            self.pointMenu.emit(index, ev.screenPos().toPoint())
        else:
            self.pointClicked.emit(index, ev.modifiers())

    def _on_hover(self, _item: object, points: list, _ev: object) -> None:
        self.pointHovered.emit(int(points[0].index()) if len(points) else -1)


class BoxViewBox(pg.ViewBox):
    """The image's view box. A left drag on the background draws a rubber band: while
    ``drawing`` it is a face's box (``boxDrawn(x0, y0, x1, y1)``, image pixels), otherwise a
    selection (``bandDrawn(x0, y0, x1, y1, modifiers)``). Ctrl + left drag and middle drag
    pan, right drag and the wheel zoom."""

    boxDrawn = QtCore.Signal(float, float, float, float)
    bandDrawn = QtCore.Signal(float, float, float, float, object)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.drawing = False
        self.rubber = QtWidgets.QGraphicsRectItem()
        self.rubber.setVisible(False)
        self.rubber.setZValue(20)
        self.addItem(self.rubber, ignoreBounds=True)
        self._box_pen = pg.mkPen(255, 220, 0, width=2, style=QtCore.Qt.PenStyle.DashLine)
        self._band_pen = pg.mkPen(120, 220, 255, width=1.5, style=QtCore.Qt.PenStyle.DashLine)

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:
        pan = ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier  # type: ignore
        if ev.button() != QtCore.Qt.MouseButton.LeftButton or (pan and not self.drawing):  # type: ignore
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()  # type: ignore[attr-defined]
        p0 = self.mapSceneToView(ev.buttonDownScenePos())  # type: ignore[attr-defined]
        p1 = self.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        rect = QtCore.QRectF(p0, p1).normalized()
        self.rubber.setPen(self._box_pen if self.drawing else self._band_pen)
        self.rubber.setRect(rect)
        self.rubber.setVisible(True)
        if ev.isFinish():  # type: ignore[attr-defined]
            self.rubber.setVisible(False)
            if self.drawing:
                self.drawing = False
                self.boxDrawn.emit(rect.left(), rect.top(), rect.right(), rect.bottom())
            else:
                self.bandDrawn.emit(
                    rect.left(),
                    rect.top(),
                    rect.right(),
                    rect.bottom(),
                    ev.modifiers(),  # type: ignore
                )


class ImageView(pg.GraphicsLayoutWidget):
    """Image + faces. Call :meth:`set_image` then :meth:`set_faces` to redraw."""

    faceClicked = QtCore.Signal(int)
    boxDrawn = QtCore.Signal(float, float, float, float)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.setBackground((30, 30, 30))
        self.view = BoxViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.addItem(self.view)
        self.view.boxDrawn.connect(self._on_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self.box_items: list[pg.PlotDataItem] = []
        self.other_items: list[pg.ScatterPlotItem] = []
        self.dense_item = pg.ScatterPlotItem(size=2, pen=None, brush=(255, 255, 255, 90))
        self.stage1_item = pg.ScatterPlotItem(
            size=6, symbol="x", pen=pg.mkPen(255, 200, 0), brush=None
        )
        self.reference_item = pg.ScatterPlotItem(
            size=8, symbol="o", brush=None, pen=pg.mkPen(0, 230, 120, width=1.5)
        )
        self.lines_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(150, 180, 255, 160))
        self.landmarks = LandmarkItem()
        for item in (
            self.dense_item,
            self.stage1_item,
            self.reference_item,
            self.lines_item,
            self.landmarks,
        ):
            self.view.addItem(item)
        self.landmarks.setZValue(10)
        self.numbers = PointNumbersItem()
        self.numbers.setZValue(11)
        self.view.addItem(self.numbers, ignoreBounds=True)
        self.options = {
            "dense": False,
            "box": True,
            "stage1": False,
            "lines": True,
            "reference": True,
        }
        self.selection = PointSelection()
        self.marker_size = 8.0
        self.brightness, self.contrast = 0.0, 1.0
        self._edges = np.array(ibug68_edges())
        self._brushes = np.array([pg.mkBrush(*INVISIBLE), pg.mkBrush(*VISIBLE)], dtype=object)
        self._faint_brushes = np.array(
            [pg.mkBrush(*INVISIBLE, 110), pg.mkBrush(*VISIBLE, 110)], dtype=object
        )
        self._pens = np.array(
            [pg.mkPen(None), pg.mkPen("w", width=2), pg.mkPen(*SELECTED, width=2.5)], dtype=object
        )
        self.landmarks.pointHovered.connect(self._show_hover)

    @property
    def selected_point(self) -> int | None:
        """The current point (V and R act on it); setting it selects that point alone."""
        return self.selection.current

    @selected_point.setter
    def selected_point(self, index: int | None) -> None:
        if index is None:
            self.selection.clear()
        else:
            self.selection.set([index], index)

    # --- display settings (never the data) --------------------------------------------------

    def set_display(self, brightness: float, contrast: float) -> None:
        """Brightness (added grey levels, -128 .. 128) and contrast (a factor, > 0) as the
        image item's display levels; the image array itself is untouched."""
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.image_item.setLevels(self.display_levels())

    def display_levels(self) -> tuple[float, float]:
        """(black, white) input levels: a grey value v is shown as 255 (v - black) /
        (white - black)."""
        half = 127.5 / max(self.contrast, 1e-3)
        return 127.5 - half - self.brightness, 127.5 + half - self.brightness

    def show_numbers(self, on: bool) -> None:
        """Every landmark of the selected face with its 1-based number (or none); the numbers
        follow the points while shown."""
        self.numbers.setVisible(on)
        x, y = self.landmarks.getData()
        self.numbers.set_points(np.column_stack([x, y]) if on and len(x) else None)

    def set_marker_size(self, size: float) -> None:
        """The selected face's landmark diameter in screen pixels (selected ones +2)."""
        self.marker_size = float(size)

    # --- content ----------------------------------------------------------------------------

    def set_image(self, image: np.ndarray | None) -> None:
        """Show a new image, fitted to the view (never the previous image's range)."""
        self.cancel_box_drawing()
        if image is None:
            self.image_item.clear()
            return
        self.image_item.setImage(image, autoLevels=False, levels=self.display_levels())
        self.fit()

    def fit(self) -> None:
        """The whole image in view (the faces' items, possibly left from the previous image,
        do not count)."""
        image = self.image_item.image
        if image is None:
            self.view.autoRange(padding=0.02)
            return
        h, w = image.shape[:2]
        self.view.setRange(QtCore.QRectF(0, 0, w, h), padding=0.02)

    # --- drawing a box (a face the detector missed) -----------------------------------------

    def start_box_drawing(self) -> None:
        self.view.drawing = True
        self.landmarks.drag_enabled = False
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor)

    def cancel_box_drawing(self) -> bool:
        """Leave box drawing; True when it was on."""
        was = self.view.drawing
        self.view.drawing = False
        self.view.rubber.setVisible(False)
        self.landmarks.drag_enabled = True
        self.unsetCursor()
        return was

    def _on_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.cancel_box_drawing()
        self.boxDrawn.emit(x0, y0, x1, y1)

    def update_points(self, face: FaceAnnotation, points: tuple[int, ...]) -> None:
        """Redraw the selected face's landmarks after ``points`` changed (a drag, a visibility
        toggle, a reset): its scatter and lines only; the other faces, the boxes and the
        overlays stay as they are."""
        self._draw_selected_landmarks(face)

    def _draw_selected_landmarks(self, face: FaceAnnotation) -> None:
        # the same brush and pen objects every time: pyqtgraph then reuses its rendered
        # symbols instead of drawing new ones per point and frame (live mode)
        brushes = self._brushes[np.asarray(face.visible, bool).astype(int)]
        pen_kind = np.asarray(face.edited, bool).astype(int)
        sizes = np.full(len(face.landmarks), self.marker_size)
        chosen = [i for i in self.selection.indices if i < len(sizes)]
        if chosen:
            pen_kind[chosen] = 2
            sizes[chosen] += 2.0
        current = self.selection.current
        if current is not None and 0 <= current < len(sizes):
            sizes[current] = self.marker_size + 3.0
        pens = self._pens[pen_kind]
        self.landmarks.setData(
            pos=face.landmarks,
            brush=brushes,
            pen=pens,
            size=sizes,
            data=np.arange(len(face.landmarks)),
        )
        if self.options["lines"] and len(face.landmarks) == 68:
            seg = face.landmarks[self._edges.ravel()]
            self.lines_item.setData(seg[:, 0], seg[:, 1])
        else:
            self.lines_item.setData([], [])
        if self.numbers.isVisible():
            self.numbers.set_points(face.landmarks)

    def set_faces(
        self, faces: list[FaceAnnotation], selected: int, reference: np.ndarray | None = None
    ) -> None:
        """Redraw every face; ``reference`` (68, 2) is drawn as hollow green rings (the model's
        prediction beside a loaded annotation)."""
        for item in self.other_items + self.box_items:
            self.view.removeItem(item)
        self.other_items, self.box_items = [], []
        for k, face in enumerate(faces):
            if self.options["box"]:
                x0, y0, x1, y1 = face.box.as_tuple()
                box = pg.PlotDataItem(
                    [x0, x1, x1, x0, x0],
                    [y0, y0, y1, y1, y0],
                    pen=pg.mkPen(
                        255,
                        255,
                        255,
                        200 if k == selected else 80,
                        width=1.5 if k == selected else 1,
                    ),
                )
                self.view.addItem(box)
                self.box_items.append(box)
            if k != selected:
                other = pg.ScatterPlotItem(
                    pos=face.landmarks,
                    size=5,
                    pen=None,
                    brush=self._faint_brushes[np.asarray(face.visible, bool).astype(int)],
                )
                other.sigClicked.connect(lambda *_a, index=k: self.faceClicked.emit(index))
                self.view.addItem(other)
                self.other_items.append(other)
        face = faces[selected] if 0 <= selected < len(faces) else None
        if face is None:
            for item in (
                self.landmarks,
                self.lines_item,
                self.dense_item,
                self.stage1_item,
                self.reference_item,
            ):
                item.setData([], []) if isinstance(item, pg.PlotDataItem) else item.clear()
            self.numbers.set_points(None)
            return
        self._draw_selected_landmarks(face)
        if self.options["dense"] and face.face is not None:
            self.dense_item.setData(pos=face.face.vertices[:, :2])
        else:
            self.dense_item.clear()
        if self.options["stage1"] and face.face is not None and len(face.face.stages) > 1:
            self.stage1_item.setData(pos=face.face.stages[0].landmarks[:, :2])
        else:
            self.stage1_item.clear()
        if self.options["reference"] and reference is not None:
            self.reference_item.setData(pos=reference)
        else:
            self.reference_item.clear()

    def _show_hover(self, index: int) -> None:
        if index < 0:
            self.setToolTip("")
            return
        self.setToolTip(f"{index + 1}: {ibug68_name(index)}" if index < 68 else str(index + 1))
