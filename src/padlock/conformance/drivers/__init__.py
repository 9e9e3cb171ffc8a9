"""One module per client the kit drives; each gives a :class:`~..model.ClientRow`."""
