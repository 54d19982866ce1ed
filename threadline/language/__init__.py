"""The language of a customer's message (threadline.language.detect) and of a new customer
(threadline.language.default). Bottom layer: it imports nothing of the project but the settings;
the names that belong to no language (the catalogue's products) are given to the detector by
its user (threadline.nlu.language.shared_detector)."""
