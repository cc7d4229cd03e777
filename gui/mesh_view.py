"""The 3D view: the reconstructed mesh rendered by VTK OFFSCREEN (pyvista, all calls on the GUI
thread) into an image that a plain widget paints; smooth-shaded or textured from the photo, the
landmarks as spheres in the same two colours, and the head-pose axes. Display axes: VTK's y
points up, so image y is negated.

Why offscreen and not an embedded VTK widget: an OpenGL widget in the window makes Qt compose
the whole window through OpenGL, which on software GL (Mesa llvmpipe: servers, Xvfb, virtual
machines) costs the GUI thread more than the model itself in live mode (ADR 12). The view
renders only when something changes (a face, an edit, a drag of the camera, a resize): it never
re-renders on a timer.

Mouse: left drag rotates, right drag or the wheel zooms, middle drag (or Shift + left drag)
pans, a double click fits the camera again."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from mtface.core.geometry import rotation_from_angles
from mtface.core.topology import Topology
from mtface.core.types import Face

BACKGROUND = (0.12, 0.12, 0.14)
SKIN = (0.85, 0.75, 0.68)
VISIBLE_RGB = (0.16, 0.35, 1.0)
HIDDEN_RGB = (0.92, 0.16, 0.16)
DEGREES_PER_PIXEL = 0.4  # camera rotation per pixel of mouse drag
ZOOM_PER_WHEEL_STEP = 1.1  # one notch of the wheel (120 units of angleDelta)
VIEW_ANGLE_DEG = 30.0  # VTK's default; zooming narrows it, fitting restores it
STILL_ACTORS = ("face", "visible", "hidden", "axes_x", "axes_y", "axes_z")
LIVE_ACTORS = ("live_face", "live_points")


class MeshView(QtWidgets.QWidget):
    """Shows one ``Face`` in 3D. ``renders`` counts the offscreen renders (none while idle)."""

    def __init__(self, topology: Topology, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        import pyvista as pv

        # `import pyvista.plotting` waits for the studio's preload thread (gui/app.py) to finish
        # importing it; an attribute of the lazily loaded package would not wait
        import pyvista.plotting as pv_plotting

        self.pv = pv
        self.topology = topology
        theme = pv_plotting.themes.DocumentTheme()
        theme.multi_samples = 1  # multisampling costs most of the frame time on software GL
        self.plotter = pv_plotting.Plotter(off_screen=True, window_size=(400, 400), theme=theme)
        self.plotter.set_background(BACKGROUND)
        self.plotter.screenshot(return_img=False)  # the first render sets the window up
        self.setMinimumSize(160, 160)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding
        )
        self.setCursor(QtCore.Qt.CursorShape.OpenHandCursor)
        self.setToolTip(
            "Left drag: rotate · right drag / wheel: zoom · middle drag: pan · "
            "double click or Ctrl+0: fit"
        )
        self.textured = True
        self._faces = np.hstack(
            [np.full((len(topology.triangles), 1), 3), topology.triangles]
        ).ravel()
        self._fitted_for: tuple | None = None
        self._shown_key: tuple | None = None
        self._shown_vis: bytes | None = None
        self._centre = np.zeros(3)
        self._live_mesh = None
        self._live_points = None
        self._frame: QtGui.QImage | None = None
        self._drag_from: QtCore.QPointF | None = None
        self._drag_button = QtCore.Qt.MouseButton.NoButton
        self._render_pending = False
        self.fits = 0  # camera fits so far (a new face or image re-fits; edits do not)
        self.renders = 0

    # --- what is shown --------------------------------------------------------------------

    def show_face(
        self, face: Face | None, image: np.ndarray | None, visible: np.ndarray | None = None
    ) -> None:
        """Show a face (None clears the view); when only the visibility changed (an edit in
        the 2D view), only the landmark colours are redrawn."""
        vis_key = None if visible is None else visible.tobytes()
        key = (id(face), id(image), self.textured)
        if face is not None and key == self._shown_key:
            if vis_key != self._shown_vis:
                self._shown_vis = vis_key
                self._draw_landmarks(face, visible)
                self.render()
            return
        self._shown_key, self._shown_vis = key, vis_key
        self._remove(STILL_ACTORS)
        if face is None:
            self._shown_key = None
            self._fitted_for = None
            self.render()
            return
        pv = self.pv
        flip = np.array([1.0, -1.0, 1.0])
        verts = face.vertices.astype(np.float64) * flip
        centre = verts.mean(0)
        verts -= centre
        mesh = pv.PolyData(verts, self._faces)
        scale = float(np.ptp(verts[:, 0]))
        if self.textured and image is not None:
            h, w = image.shape[:2]
            uv = np.stack(
                [face.vertices[:, 0] / max(w - 1, 1), 1.0 - face.vertices[:, 1] / max(h - 1, 1)], 1
            )
            mesh.active_texture_coordinates = uv.astype(np.float32)
            self.plotter.add_mesh(
                mesh,
                texture=pv.Texture(np.ascontiguousarray(image)),
                smooth_shading=True,
                name="face",
                render=False,
            )
        else:
            self.plotter.add_mesh(
                mesh, color=SKIN, smooth_shading=True, specular=0.2, name="face", render=False
            )
        self._centre = centre
        self._draw_landmarks(face, visible)
        lm = face.landmarks.astype(np.float64) * flip - centre
        rot = rotation_from_angles(face.pose.pitch, face.pose.yaw, face.pose.roll)
        origin = lm[30]
        for axis, name, colour in zip(
            np.eye(3), ("axes_x", "axes_y", "axes_z"), ("red", "green", "blue")
        ):
            tip = origin + rot @ axis * 0.6 * scale
            self.plotter.add_mesh(
                pv.Line(origin, tip), color=colour, line_width=4, name=name, render=False
            )
        fit_key = (id(image), tuple(round(v) for v in face.box.as_tuple()))
        if fit_key != self._fitted_for:  # a new image or another face: fit the camera to it
            self._fitted_for = fit_key
            self.reset_view()
        else:
            self.render()

    def show_live(self, face: Face | None) -> None:
        """Fast per-frame update for live mode: shaded mesh and landmark points updated in
        place (no texture, no new actors after the first frame)."""
        if face is None:
            return
        pv = self.pv
        flip = np.array([1.0, -1.0, 1.0])
        verts = face.vertices.astype(np.float64) * flip
        centre = verts.mean(0)
        lm = face.landmarks.astype(np.float64) * flip - centre
        vis = face.visible.astype(float)
        if self._live_mesh is None:
            self._remove(STILL_ACTORS)
            self._live_mesh = pv.PolyData(verts - centre, self._faces)
            self._live_points = pv.PolyData(lm)
            self._live_points["visible"] = vis
            self.plotter.add_mesh(
                self._live_mesh, color=SKIN, smooth_shading=False, name="live_face", render=False
            )
            self.plotter.add_mesh(
                self._live_points,
                scalars="visible",
                cmap=["#eb2828", "#2859ff"],
                clim=[0, 1],
                render_points_as_spheres=True,
                point_size=9,
                show_scalar_bar=False,
                name="live_points",
                render=False,
            )
            self.reset_view()
            return
        self._live_mesh.points = verts - centre
        self._live_points.points = lm
        self._live_points["visible"] = vis
        self.render()

    def end_live(self) -> None:
        self._remove(LIVE_ACTORS)
        self._live_mesh = None
        self._live_points = None
        self._fitted_for = None
        self._shown_key = None

    def _draw_landmarks(self, face: Face, visible: np.ndarray | None) -> None:
        """Landmarks as low-poly spheres, visible blue and invisible red."""
        pv = self.pv
        lm = face.landmarks.astype(np.float64) * np.array([1.0, -1.0, 1.0]) - self._centre
        vis = face.visible if visible is None else visible
        radius = 0.012 * float(np.ptp(lm[:, 0]) or 1.0) * 1.4
        sphere = pv.Sphere(radius=radius, theta_resolution=10, phi_resolution=10)
        for name, mask, colour in (("visible", vis, VISIBLE_RGB), ("hidden", ~vis, HIDDEN_RGB)):
            self._remove((name,))
            if mask.any():
                glyphs = pv.PolyData(lm[mask]).glyph(geom=sphere, scale=False, orient=False)
                self.plotter.add_mesh(glyphs, color=colour, name=name, render=False)

    def _remove(self, names: tuple[str, ...]) -> None:
        for name in names:
            self.plotter.remove_actor(name, render=False)

    # --- camera ---------------------------------------------------------------------------

    def reset_view(self) -> None:
        """Fit the camera to what is shown, looking at the face from the front."""
        self.fits += 1
        self.plotter.camera.SetViewAngle(VIEW_ANGLE_DEG)  # zooming narrows it
        self.plotter.view_xy(render=False)
        self.plotter.reset_camera(render=False)
        self.render()

    def rotate(self, azimuth_deg: float, elevation_deg: float) -> None:
        """Turn the camera about the focal point: azimuth about the view-up axis, elevation
        about the horizontal axis of the view (degrees)."""
        camera = self.plotter.camera
        camera.Azimuth(azimuth_deg)
        camera.Elevation(elevation_deg)
        camera.OrthogonalizeViewUp()
        self._request_render()

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 closer)."""
        self.plotter.camera.Zoom(factor)
        self._request_render()

    def pan(self, dx_px: float, dy_px: float) -> None:
        """Move the view by a mouse displacement in widget pixels (the scene follows it)."""
        camera = self.plotter.camera
        focal = np.array(camera.GetFocalPoint())
        position = np.array(camera.GetPosition())
        up = np.array(camera.GetViewUp())
        forward = focal - position
        distance = float(np.linalg.norm(forward)) or 1.0
        right = np.cross(forward / distance, up)
        world_per_px = 2.0 * distance * np.tan(np.radians(camera.GetViewAngle()) / 2.0)
        world_per_px /= max(self.height(), 1)
        shift = (-dx_px * right + dy_px * up) * world_per_px
        camera.SetFocalPoint(*(focal + shift))
        camera.SetPosition(*(position + shift))
        self._request_render()

    # --- rendering ------------------------------------------------------------------------

    def render(self) -> None:
        """Render now (offscreen) and repaint the widget with the result."""
        self._render_pending = False
        pixels = self._render_pixels()
        h, w = pixels.shape[:2]
        frame = QtGui.QImage(pixels.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()
        frame.setDevicePixelRatio(self.devicePixelRatioF())
        self._frame = frame
        self.update()

    def _request_render(self) -> None:
        """Render once when the event loop is next free: mouse moves in between coalesce."""
        if not self._render_pending:
            self._render_pending = True
            QtCore.QTimer.singleShot(0, self._render_if_pending)

    def _render_if_pending(self) -> None:
        if self._render_pending:
            self.render()

    def _render_pixels(self) -> np.ndarray:
        """Render the scene now: (H, W, 3) uint8 RGB at the view's size in device pixels."""
        self.plotter.renderer.ResetCameraClippingRange()
        self.plotter.render()
        self.renders += 1
        return np.ascontiguousarray(np.asarray(self.plotter.image)[..., :3])

    def screenshot(self) -> np.ndarray:
        """What the view shows, (H, W, 3) uint8 RGB at the widget's size."""
        return self._render_pixels()

    def close_plotter(self) -> None:
        self.plotter.close()

    # --- Qt events ------------------------------------------------------------------------

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self)
        if self._frame is None:
            painter.fillRect(self.rect(), QtGui.QColor.fromRgbF(*BACKGROUND))
        else:
            painter.drawImage(QtCore.QPoint(0, 0), self._frame)
        painter.end()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        ratio = self.devicePixelRatioF()
        size = event.size()
        self.plotter.window_size = (
            max(int(size.width() * ratio), 1),
            max(int(size.height() * ratio), 1),
        )
        self._request_render()
        super().resizeEvent(event)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        self._drag_from = event.position()
        self._drag_button = event.button()
        self.setCursor(QtCore.Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._drag_from is None:
            return
        delta = event.position() - self._drag_from
        self._drag_from = event.position()
        button = self._drag_button
        shift = bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if button == QtCore.Qt.MouseButton.MiddleButton or (
            button == QtCore.Qt.MouseButton.LeftButton and shift
        ):
            self.pan(delta.x(), delta.y())
        elif button == QtCore.Qt.MouseButton.LeftButton:
            self.rotate(-delta.x() * DEGREES_PER_PIXEL, delta.y() * DEGREES_PER_PIXEL)
        elif button == QtCore.Qt.MouseButton.RightButton:
            self.zoom(ZOOM_PER_WHEEL_STEP ** (-delta.y() / 20.0))

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        self._drag_from = None
        self._drag_button = QtCore.Qt.MouseButton.NoButton
        self.setCursor(QtCore.Qt.CursorShape.OpenHandCursor)

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        self.reset_view()

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_PER_WHEEL_STEP**steps)
