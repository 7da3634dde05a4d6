"""The worker: the broker from settings, the generic actors, the reconciler, and the two
ways to run them (embedded in ``drumbeat serve``, or ``drumbeat worker`` processes)."""
