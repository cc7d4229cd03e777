"""Which model the studio uses: its name and short hash in the status bar, File > Load model…
to switch to another model file (core/model_file.py), and File > Find faces at any rotation
(``mtface predict --any-rotation``, ADR 35; remembered between sessions). A file that cannot
be used is reported in a dialog and the current model is kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from mtface.core.model_file import model_identity_of
from mtface.core.weights import WeightsError
from mtface.gui import settings

if TYPE_CHECKING:
    from mtface.gui.main_window import MainWindow

#: Builds a predictor from a model file; raises WeightsError when the file is unusable.
PredictorLoader = Callable[[Path], object]


def _load_predictor(path: Path) -> object:
    from mtface.core.predictor import Predictor

    return Predictor.from_weights(path)


class ModelSwitch:
    """The status-bar label of the loaded model and the "Load model…" action of ``window``."""

    def __init__(
        self,
        window: MainWindow,
        predictor: object | None,
        loader: PredictorLoader = _load_predictor,
    ) -> None:
        self.window = window
        self.loader = loader
        self.predictor = predictor
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("model_label")
        window.status.addPermanentWidget(self.label)
        menu = self._file_menu()
        self.action = window.add_action(menu, "Load model…", self.load_dialog)
        self.rotation_action = window.add_action(
            menu,
            "Find faces at any rotation",
            self.toggle_any_rotation,
            checkable=True,
            checked=bool(settings.read("any_rotation", False)),
        )
        self.rotation_action.setToolTip(
            "Also try faces the model trusts little turned a quarter either way (photos taken "
            "sideways, people lying down): slower on such faces"
        )
        actions = menu.actions()
        quit_at = next((i for i, a in enumerate(actions) if a.text() == "Quit"), None)
        if quit_at is not None:  # both go before the separator above Quit, in this order
            above = quit_at - 1 if quit_at and actions[quit_at - 1].isSeparator() else quit_at
            for action in (self.action, self.rotation_action):
                menu.removeAction(action)
                menu.insertAction(actions[above], action)
        self._apply_rotation(predictor)
        self.show_model(predictor)

    def _file_menu(self) -> QtWidgets.QMenu:
        """The File menu, "Load model…" going in before its last separator (before Quit)."""
        for action in self.window.menuBar().actions():
            if action.menu() is not None and action.text().replace("&", "") == "File":
                return action.menu()
        return self.window.menuBar().addMenu("&Model")

    def show_model(self, predictor: object | None) -> None:
        """Show ``predictor``'s model (name and short hash) and record it on the window for
        the annotation files (``window.model_identity``)."""
        identity = model_identity_of(predictor)
        self.window.model_identity = identity.to_dict() if identity is not None else None
        text = f"model: {identity.label()}" if identity is not None else "model: none"
        self.label.setText(text)
        self.label.setToolTip(
            f"{identity.name}\nSHA-256 {identity.sha256}\nparts: {', '.join(identity.parts)}"
            if identity is not None
            else "no model: annotation only"
        )

    def _apply_rotation(self, predictor: object | None) -> None:
        """Give ``predictor`` the turned retries when the action is on. Without a model the
        choice can still be made (a model loaded later takes it); a predictor without
        retries (e.g. a test double) greys the action out."""
        if predictor is None or not hasattr(predictor, "retry_turns"):
            self.rotation_action.setEnabled(predictor is None)
            return
        from mtface.core.crop_search import RETRY_TURNS

        predictor.retry_turns = RETRY_TURNS if self.rotation_action.isChecked() else ()  # type: ignore[attr-defined]
        self.rotation_action.setEnabled(True)

    def toggle_any_rotation(self) -> None:
        """Turn the retries on or off, remember it and predict the shown image again (edits and
        loaded annotations are kept; the prediction is then the reference beside them)."""
        settings.write("any_rotation", self.rotation_action.isChecked())
        self._apply_rotation(self.predictor)
        on = self.rotation_action.isChecked()
        self.window.status.showMessage(
            "faces the model trusts little are also tried turned a quarter either way"
            if on
            else "faces are predicted as the detector finds them (no turned retries)",
            8000,
        )
        self.window._run_model()  # noqa: SLF001

    def load_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Load model", "", "mtface model (*.pt);;All files (*)"
        )
        if path:
            self.load(Path(path))

    def load(self, path: Path) -> bool:
        """Switch to the model file ``path``; False (a dialog says why, the current model is
        kept) when it cannot be used or live mode is running."""
        window = self.window
        if window.live.controller is not None:
            self._refuse("Stop live mode before loading another model.")
            return False
        try:
            predictor = self.loader(path)
            if hasattr(predictor, "landmarks"):
                predictor.landmarks = window.landmarks  # type: ignore[attr-defined]
        except (WeightsError, RuntimeError, ValueError) as exc:
            self._refuse(f"{exc}\n\nThe current model is kept.")
            return False
        self.install(predictor)
        identity = model_identity_of(predictor)
        window.status.showMessage(
            f"loaded {identity.label() if identity else path.name}; it predicts from now on",
            10000,
        )
        return True

    def _refuse(self, message: str) -> None:
        self.window.status.showMessage(message.split("\n")[0], 10000)
        QtWidgets.QMessageBox.warning(self.window, "Load model", message)

    def install(self, predictor: object) -> None:
        """Make ``predictor`` the window's model: predictions, stage-2 re-runs, the landmark
        switch and live mode use it from now on."""
        switch = None
        if hasattr(predictor, "landmarks"):

            def switch(convention: str) -> None:
                predictor.landmarks = convention  # type: ignore[attr-defined]

        self.predictor = predictor
        self._apply_rotation(predictor)
        self.window.use_predictor(
            predictor.predict,  # type: ignore[attr-defined]
            getattr(predictor, "refine_from_landmarks", None),
            switch,
            predictor if hasattr(predictor, "crop_from_landmarks") else None,
        )
        self.show_model(predictor)
