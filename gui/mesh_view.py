"""The 3D view: the reconstructed mesh in a pyvistaqt QtInteractor (all VTK calls on the GUI
thread), smooth-shaded or textured from the photo, the landmarks as spheres in the same two
colours, and the head-pose axes. Display axes: VTK's y points up, so image y is negated."""

from __future__ import annotations

import os

import numpy as np
from PySide6 import QtWidgets

from mtface.core.geometry import rotation_from_angles
from mtface.core.topology import Topology
from mtface.core.types import Face

os.environ.setdefault("QT_API", "pyside6")


class MeshView(QtWidgets.QWidget):
    def __init__(self, topology: Topology, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        import pyvista as pv
        from pyvistaqt import QtInteractor

        self.pv = pv
        self.topology = topology
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # no multisampling: it costs most of the frame time on software GL (llvmpipe); no
        # auto_update: pyvistaqt's render timer re-renders 5 times a second even when nothing
        # changes (a third of a core here); every change below renders explicitly and the
        # mouse interaction renders through VTK's interactor
        self.plotter = QtInteractor(self, multi_samples=1, auto_update=False)
        self.plotter.set_background((0.12, 0.12, 0.14))
        layout.addWidget(self.plotter.interactor)
        self.textured = True
        self._faces = np.hstack(
            [np.full((len(topology.triangles), 1), 3), topology.triangles]
        ).ravel()
        self._has_mesh = False
        self._fitted_for: tuple | None = None
        self.fits = 0  # camera fits so far (a new face or image re-fits; edits do not)

    def show_face(
        self, face: Face | None, image: np.ndarray | None, visible: np.ndarray | None = None
    ) -> None:
        """Show a face; when only the visibility changed (an edit in the 2D view), only the
        landmark colours are redrawn."""
        pv = self.pv
        vis_key = None if visible is None else visible.tobytes()
        key = (id(face), id(image), self.textured)
        if face is not None and key == getattr(self, "_shown_key", None):
            if vis_key != getattr(self, "_shown_vis", None):
                self._shown_vis = vis_key
                self._draw_landmarks(face, visible)
                self.plotter.render()
            return
        self._shown_key, self._shown_vis = key, vis_key
        for name in ("face", "visible", "hidden", "axes_x", "axes_y", "axes_z"):
            self.plotter.remove_actor(name, render=False)
        if face is None:
            self._shown_key = None
            self._fitted_for = None
            self.plotter.render()
            return
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
                mesh,
                color=(0.85, 0.75, 0.68),
                smooth_shading=True,
                specular=0.2,
                name="face",
                render=False,
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
        self._has_mesh = True
        self.plotter.render()

    def show_live(self, face: Face | None) -> None:
        """Fast per-frame update for live mode: shaded mesh and landmark points updated in
        place (no texture, no new actors after the first frame)."""
        pv = self.pv
        if face is None:
            return
        flip = np.array([1.0, -1.0, 1.0])
        verts = face.vertices.astype(np.float64) * flip
        centre = verts.mean(0)
        lm = face.landmarks.astype(np.float64) * flip - centre
        vis = face.visible.astype(float)
        if getattr(self, "_live_mesh", None) is None:
            for name in ("face", "visible", "hidden", "axes_x", "axes_y", "axes_z"):
                self.plotter.remove_actor(name, render=False)
            self._live_mesh = pv.PolyData(verts - centre, self._faces)
            self._live_points = pv.PolyData(lm)
            self._live_points["visible"] = vis
            self.plotter.add_mesh(
                self._live_mesh,
                color=(0.85, 0.75, 0.68),
                smooth_shading=False,
                name="live_face",
                render=False,
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
        else:
            self._live_mesh.points = verts - centre
            self._live_points.points = lm
            self._live_points["visible"] = vis
        self.plotter.render()

    def end_live(self) -> None:
        for name in ("live_face", "live_points"):
            self.plotter.remove_actor(name, render=False)
        self._live_mesh = None
        self._has_mesh = False
        self._fitted_for = None

    def _draw_landmarks(self, face: Face, visible: np.ndarray | None) -> None:
        """Landmarks as low-poly spheres, visible blue and invisible red."""
        pv = self.pv
        lm = face.landmarks.astype(np.float64) * np.array([1.0, -1.0, 1.0]) - self._centre
        vis = face.visible if visible is None else visible
        radius = 0.012 * float(np.ptp(lm[:, 0]) or 1.0) * 1.4
        sphere = pv.Sphere(radius=radius, theta_resolution=10, phi_resolution=10)
        for name, mask, colour in (
            ("visible", vis, (0.16, 0.35, 1.0)),
            ("hidden", ~vis, (0.92, 0.16, 0.16)),
        ):
            self.plotter.remove_actor(name, render=False)
            if mask.any():
                glyphs = pv.PolyData(lm[mask]).glyph(geom=sphere, scale=False, orient=False)
                self.plotter.add_mesh(glyphs, color=colour, name=name, render=False)

    def reset_view(self) -> None:
        self.fits += 1
        self.plotter.view_xy()
        self.plotter.reset_camera()
        self.plotter.render()

    def screenshot(self) -> np.ndarray:
        return np.asarray(self.plotter.screenshot(return_img=True))

    def close_plotter(self) -> None:
        self.plotter.close()
