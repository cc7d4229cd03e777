"""The ``mtface`` command line: the composition root that wires the Qt-free core (commands,
predictor, training, evaluation) to the studio (mtface.gui). ``mtface.core`` never imports it."""
