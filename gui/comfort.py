"""Display comfort and the settings kept between sessions: brightness / contrast of the shown
image (display levels only: the image, the model's input and the saved files never change),
marker size, point numbers always on, hiding the 3D panel, and QSettings for those plus the
review queue's sort and filter, autosave, the landmark definition and the window layout
(gui/settings.py). Brightness and contrast are kept from image to image (a folder of dark
photos is usually dark throughout) and across restarts; Reset puts them back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from mtface.gui import settings

if TYPE_CHECKING:
    from mtface.gui.main_window import MainWindow

MARKER_SIZES = (3, 24)  # screen pixels
DEFAULT_MARKER = 8


def contrast_of(slider: int) -> float:
    """Slider -100 .. 100 -> contrast factor 0.25 .. 4 (0 -> 1)."""
    return float(2.0 ** (slider / 50.0))


def slider_of(contrast: float) -> int:
    return round(50.0 * math.log2(max(contrast, 1e-3)))


class DisplayPanel(QtWidgets.QWidget):
    """Brightness, contrast, marker size and point numbers; ``changed`` on any change."""

    changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("display_panel")
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Maximum
        )
        form = QtWidgets.QFormLayout(self)
        self.brightness = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.brightness.setRange(-100, 100)
        self.brightness.setToolTip("Adds to every grey level for viewing dark photos")
        self.contrast = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.contrast.setRange(-100, 100)
        self.contrast.setToolTip("Stretches the grey levels about mid-grey (x0.25 .. x4)")
        reset = QtWidgets.QPushButton("Reset")
        reset.setToolTip("Brightness and contrast back to the image as it is")
        reset.clicked.connect(self.reset)
        self.marker = QtWidgets.QSpinBox()
        self.marker.setRange(*MARKER_SIZES)
        self.marker.setValue(DEFAULT_MARKER)
        self.marker.setSuffix(" px")
        self.numbers = QtWidgets.QCheckBox("point numbers always on")
        form.addRow("Brightness", self.brightness)
        form.addRow("Contrast", self.contrast)
        form.addRow("", reset)
        form.addRow("Markers", self.marker)
        form.addRow("", self.numbers)
        for signal in (
            self.brightness.valueChanged,
            self.contrast.valueChanged,
            self.marker.valueChanged,
            self.numbers.toggled,
        ):
            signal.connect(self.changed)

    def reset(self) -> None:
        self.brightness.setValue(0)
        self.contrast.setValue(0)


class Comfort(QtCore.QObject):
    """Owns the display panel (a dock), the View menu's comfort entries and the settings."""

    def __init__(self, window: MainWindow, view_menu: QtWidgets.QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.panel = DisplayPanel()
        self.dock = QtWidgets.QDockWidget("Display (view only, never saved)", window)
        self.dock.setObjectName("display_dock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        images = window.findChild(QtWidgets.QDockWidget, "images_dock")
        if images is not None:  # the image list gets the height, the panel what it needs
            window.resizeDocks(
                [images, self.dock],
                [600, self.panel.sizeHint().height()],
                QtCore.Qt.Orientation.Vertical,
            )
        view_menu.addSeparator()
        self.numbers_action = window.add_action(
            view_menu, "Point numbers always on", self._numbers_key, "P", checkable=True
        )
        self.panel_3d_action = window.add_action(
            view_menu, "3D panel", self._toggle_3d_panel, "F3", checkable=True, checked=True
        )
        view_menu.addAction(self.dock.toggleViewAction())
        self.panel.changed.connect(self._apply_display)
        window.installEventFilter(self)

    # --- display ----------------------------------------------------------------------------

    @property
    def right_panel(self) -> QtWidgets.QWidget:
        """The 3D view, pose panel and legend: the splitter's second widget."""
        return self.window.centralWidget().widget(1)

    def _numbers_key(self) -> None:
        self.panel.numbers.setChecked(self.numbers_action.isChecked())

    def _apply_display(self) -> None:
        panel, view = self.panel, self.window.image_view
        view.set_display(panel.brightness.value() * 1.28, contrast_of(panel.contrast.value()))
        view.set_marker_size(panel.marker.value())
        view.show_numbers(panel.numbers.isChecked())
        self.numbers_action.setChecked(panel.numbers.isChecked())
        self._redraw()
        settings.write("display/brightness", panel.brightness.value())
        settings.write("display/contrast", panel.contrast.value())
        settings.write("display/marker_size", panel.marker.value())
        settings.write("display/point_numbers", panel.numbers.isChecked())

    def _redraw(self) -> None:
        doc = self.window.doc
        face = doc.session.current() if doc is not None else None
        if face is not None:
            self.window.image_view.update_points(face, ())

    def _toggle_3d_panel(self) -> None:
        shown = self.panel_3d_action.isChecked()
        self.right_panel.setVisible(shown)
        settings.write("layout/panel_3d", shown)
        if shown and self.window.doc is not None:
            self.window._refresh()  # noqa: SLF001 - the mesh was not updated while hidden

    # --- settings ---------------------------------------------------------------------------

    def restore(self) -> None:
        """Apply the stored settings (call once the window's actions exist)."""
        w = self.window
        try:
            w.review_bar.set_choice(
                settings.read("review/sort", w.file_list.sort),
                settings.read("review/filter", w.file_list.filter),
            )
        except ValueError:  # a sort or filter this version does not know
            pass
        autosave = settings.read("autosave", False)
        w.autosave_action.setChecked(autosave)
        w.autosave = autosave
        self.panel_3d_action.setChecked(settings.read("layout/panel_3d", True))
        self.right_panel.setVisible(self.panel_3d_action.isChecked())
        geometry = settings.read_bytes("layout/geometry")
        if geometry is not None:
            w.restoreGeometry(geometry)
        state = settings.read_bytes("layout/state")
        if state is not None:
            w.restoreState(state)
        splitter = settings.read_bytes("layout/splitter")
        if splitter is not None:
            w.centralWidget().restoreState(splitter)
        p = self.panel
        p.blockSignals(True)
        p.brightness.setValue(settings.read("display/brightness", 0))
        p.contrast.setValue(settings.read("display/contrast", 0))
        p.marker.setValue(settings.read("display/marker_size", DEFAULT_MARKER))
        p.numbers.setChecked(settings.read("display/point_numbers", False))
        p.blockSignals(False)
        self._apply_display()
        w.review_bar.changed.connect(self._store_review)
        w.autosave_action.toggled.connect(lambda on: settings.write("autosave", on))
        landmarks_action = getattr(w, "landmarks_action", None)
        if landmarks_action is not None:
            landmarks_action.triggered.connect(lambda *_: settings.write("landmarks", w.landmarks))

    def _store_review(self, sort: str, filter_: str) -> None:
        settings.write("review/sort", sort)
        settings.write("review/filter", filter_)

    def store_layout(self) -> None:
        w = self.window
        settings.write("layout/geometry", w.saveGeometry())
        settings.write("layout/state", w.saveState())
        settings.write("layout/splitter", w.centralWidget().saveState())

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.store_layout()
        return False
