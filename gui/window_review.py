"""The studio window's review side: the Review menu (next unreviewed image, mark reviewed, flags,
note), the formats a folder saves, "reviewed N of M" in the status bar, and what J and Shift+R
do to faces that already hold points (core/annotation/record_edits.py). A mixin of MainWindow
(gui/main_window.py), split off to keep each module small; it only shows and forwards.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6 import QtWidgets

from mtface.core.annotation.folder import folder_formats, set_folder_formats
from mtface.core.annotation.record import REVIEW_FLAGS
from mtface.core.annotation.record_edits import reset_face_to, set_review
from mtface.core.annotation.review import next_unreviewed, review_counts, review_order
from mtface.core.formats.annotations import FORMATS
from mtface.core.formats.atomic import SaveError
from mtface.core.types import Prediction


class WindowReview:
    """Mixin: needs ``doc``, ``folder``, ``index``, ``file_list``, ``status``, ``landmarks``,
    ``worker``, ``add_action``, ``confirm_leave``, ``save``, ``_load`` from MainWindow."""

    model_identity: dict | None = None  # the proposing model (name, hash), set by create_window
    _adopt_definition: str | None = None  # J was pressed: the next prediction is adopted
    _last_reviewed: str = ""  # the image Ctrl+Enter marked last, beside the count

    # --- menus ------------------------------------------------------------------------------

    def build_save_formats(self, file_menu: QtWidgets.QMenu) -> None:
        """File > Save formats for this folder: labelme always, the others as chosen."""
        menu = file_menu.addMenu("Save formats for this folder")
        menu.setToolTipsVisible(True)
        self.format_actions = {}
        for fmt in FORMATS:
            action = self.add_action(
                menu,
                fmt,
                lambda checked=False, f=fmt: self.choose_format(f, checked),
                checkable=True,
                checked=fmt == "labelme",
            )
            action.setEnabled(fmt != "labelme")
            self.format_actions[fmt] = action
        menu.aboutToShow.connect(self._show_formats)

    def build_review_menu(self, bar: QtWidgets.QMenuBar) -> None:
        review = bar.addMenu("&Review")
        self.add_action(review, "Next unreviewed image", self.go_next_unreviewed, "N")
        self.mark_reviewed_action = self.add_action(
            review, "Mark reviewed, save, next unreviewed", self.mark_reviewed, "Ctrl+Return"
        )
        self.mark_reviewed_action.setShortcuts(["Ctrl+Return", "Ctrl+Enter"])
        self.add_action(review, "Mark unreviewed", self.mark_unreviewed, "Ctrl+Shift+Return")
        review.addSeparator()
        self.flag_actions = {
            flag: self.add_action(
                review,
                f"Flag: {flag}",
                lambda checked=False, f=flag: self.toggle_flag(f),
                f"Alt+{k + 1}",
                checkable=True,
            )
            for k, flag in enumerate(REVIEW_FLAGS)
        }
        self.add_action(review, "Note…", self.edit_note_dialog, "Ctrl+E")
        self.review_count = QtWidgets.QLabel()
        self.review_count.setObjectName("review_count")
        self.status.addPermanentWidget(self.review_count)
        self.file_list.changed.connect(self.show_review_count)

    # --- the review state -------------------------------------------------------------------

    def show_review_count(self) -> None:
        reviewed, total = review_counts(self.file_list.statuses)
        text = f"reviewed {reviewed} of {total}" if total else ""
        if text and self._last_reviewed:
            text += f" (last: {self._last_reviewed}, saved)"
        self.review_count.setText(text)

    def document_status(self) -> dict:
        """The open document's fields for the list's ImageStatus."""
        doc = self.doc
        known = doc.prediction is not None or doc.loaded_from is not None or doc.session.dirty
        return {
            "annotation": doc.annotation_state,
            "dirty": doc.session.dirty,
            "confidence": doc.min_confidence(),
            "reviewed": doc.review.reviewed,
            "flags": doc.review.flags,
            "faces": len(doc.session.faces) if known else None,
            "image_error": False,
        }

    def update_review_actions(self) -> None:
        flags = self.doc.review.flags if self.doc is not None else ()
        for flag, action in self.flag_actions.items():
            action.setChecked(flag in flags)

    def toggle_flag(self, flag: str) -> None:
        if self.doc is None:
            return
        review = self.doc.review
        set_review(self.doc.session, review.with_flag(flag, flag not in review.flags))
        self.status.showMessage(f"{self.doc.path.name}: {self.doc.review.summary()}", 6000)

    def set_note(self, note: str) -> None:
        if self.doc is not None:
            set_review(self.doc.session, replace(self.doc.review, note=note.strip()))

    def edit_note_dialog(self) -> None:
        if self.doc is None:
            return
        text, ok = QtWidgets.QInputDialog.getMultiLineText(
            self, "Note", f"Note on {self.doc.path.name}:", self.doc.review.note
        )
        if ok:
            self.set_note(text)

    def mark_reviewed(self) -> bool:
        """Ctrl+Enter: this image is reviewed (an image without faces also gets the flag "no
        face"), saved in every chosen format, then the next unreviewed image opens. False when
        nothing was marked (no image, the model still running, or the save failed)."""
        doc = self.doc
        if doc is None:
            return self.go_next_unreviewed()
        if self.worker is not None and doc.prediction is None and doc.loaded_from is None:
            self.status.showMessage("wait for the model's result before marking it", 6000)
            return False
        review = replace(doc.review, reviewed=True)
        if not doc.session.faces:
            review = review.with_flag("no face", True)
        set_review(doc.session, review, "mark reviewed")
        if not self.save():
            return False
        self._last_reviewed = doc.path.name
        self.show_review_count()
        self.go_next_unreviewed()
        return True

    def mark_unreviewed(self) -> None:
        if self.doc is not None:
            set_review(self.doc.session, replace(self.doc.review, reviewed=False))

    def go_next_unreviewed(self) -> bool:
        """N: open the next image nobody has reviewed, in the list's order (wrapping round)."""
        statuses = self.file_list.statuses
        order = review_order(statuses, self.file_list.sort, "all")
        target = next_unreviewed(statuses, order, self.index)
        if target < 0 or target == self.index:
            reviewed, total = review_counts(statuses)
            self.status.showMessage(f"no other unreviewed image ({reviewed} of {total})", 8000)
            return False
        return self.go_to(target)

    def go_to(self, index: int) -> bool:
        """Open image ``index`` of the folder, listed or not (asks about unsaved edits)."""
        if not self.confirm_leave():
            self.file_list.restore()
            return False
        self.file_list.current_index = index
        self.file_list.refresh()
        self._load(index)
        return True

    def on_filter_chosen(self, sort: str, filter_: str) -> None:
        """A new sort or filter: when the open image does not match it, the first image that
        does opens (the list then never shows an image the filter excludes as current)."""
        self.file_list.set_review(sort, filter_)
        matching = self.file_list.matching()
        if matching and self.index not in matching and self.doc is not None:
            if self.go_to(matching[0]):
                self.file_list.refresh()  # the image left behind leaves the list

    # --- formats ----------------------------------------------------------------------------

    def _folder(self):
        return self.doc.path.parent if self.doc is not None else None

    def _show_formats(self) -> None:
        chosen = folder_formats(self._folder()) if self._folder() is not None else ("labelme",)
        for fmt, action in self.format_actions.items():
            action.setChecked(fmt in chosen)

    def choose_format(self, fmt: str, on: bool) -> None:
        """Add or remove a format of the open image's folder (remembered in the folder)."""
        folder = self._folder()
        if folder is None:
            return
        chosen = [f for f in folder_formats(folder) if f != fmt] + ([fmt] if on else [])
        try:
            chosen = set_folder_formats(folder, chosen)
        except SaveError as exc:
            QtWidgets.QMessageBox.critical(self, "Formats not remembered", str(exc))
            return
        self._show_formats()
        self.status.showMessage(f"{folder.name}: saving writes {', '.join(chosen)}", 8000)

    # --- the landmark definition ------------------------------------------------------------

    def take_prediction(self, prediction: Prediction, scores: list[float] | None) -> str:
        """A prediction for the open image. After J, faces that hold points (loaded or edited)
        take the new definition except for the points a person edited; returns what the status
        bar should add."""
        doc = self.doc
        wanted, self._adopt_definition = self._adopt_definition, None
        if wanted and doc.session.faces and (doc.loaded_from is not None or doc.session.dirty):
            changes = doc.adopt_definition(prediction, wanted)
            parts = []
            for c in changes:
                text = f"face {c.face + 1}: {c.moved} points moved to {wanted}"
                if c.kept:
                    text += f", {c.kept} of yours kept: {c.definition}"
                parts.append(text)
            return " · " + ("; ".join(parts) if parts else f"no face matched the {wanted} result")
        doc.apply_prediction(prediction, scores, self.model_identity)
        return ""

    def reset_face(self) -> None:
        """Shift+R: the selected face back to the model's points in the current definition."""
        doc = self.doc
        face = doc.session.current() if doc is not None else None
        if face is None:
            return
        model = face.face
        if (
            model is None
            or model.convention != self.landmarks
            or len(model.landmarks) != len(face.landmarks)
        ):
            model = None
        reset_face_to(doc.session, None, model)
        self.status.showMessage(
            f"face {doc.session.selected + 1} reset to the model's "
            f"{face.definition or 'own'} landmarks (Ctrl+Z undoes)",
            8000,
        )
