"""The language of a customer's message (threadline.language.detect) and of a new customer
(threadline.language.default). Bottom layer: it imports nothing of the project but the settings
and the catalogue reader (threadline.nlu.catalogue, standard library only) for product names."""
